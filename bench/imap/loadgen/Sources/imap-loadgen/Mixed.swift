// Row 5: a mixed multi-session workload with LMTP deliveries in the background, and
// row 6: many logged-in connections parked in IDLE.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Command kinds of the mixed workload, in report order.
let mixedKinds = ["LOGIN", "SELECT", "FETCH_FLAGS", "FETCH_HEADERS", "FETCH_BODY", "STORE", "SEARCH",
                  "APPEND", "EXPUNGE", "NOOP", "IDLE", "LOGOUT"]

/// Simple xorshift generator, seeded per session so every server sees the same choices.
struct Rand {
    var s: UInt64
    mutating func next(_ n: Int) -> Int {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17
        return Int(s % UInt64(max(1, n)))
    }
}

func runMixed(_ o: Options, jsonPath: String?) {
    let users = o.list("users")
    let conns = o.int("conns", 16)
    let duration = o.dbl("duration", 20)
    let warmup = o.dbl("warmup", 2)
    let visitsPerLogin = o.int("visits-per-login", 5)
    // delete only while INBOX holds more than this, so every server's mailboxes stay near
    // their initial size (deletions then track the LMTP deliveries, the same on every server)
    let floor = o.int("floor", 0)
    let lmtpRate = o.dbl("lmtp-rate", 20)
    let lmtpPort = UInt16(o.int("lmtp-port"))
    let sizes = o.list("lmtp-sizes", "2048,4096,8192,16384,65536").map { Int($0) ?? 4096 }
    let t0 = nowNs()
    let measureFrom = t0 + UInt64(warmup * 1e9)
    let deadline = measureFrom + UInt64(duration * 1e9)
    // highest UID each user's "client cache" has seen, shared by the sessions (as a client
    // with several devices would share nothing, this is the optimistic, cheapest case)
    let lastSeen = Mutex<[Int]>(Array(repeating: 0, count: users.count))

    struct R { var lat: [String: [UInt64]] = [:]; var notOK: [String: Int] = [:]; var firstNotOK: [String: String] = [:]; var err: String? = nil; var visits = 0 }
    let slots = Slots<R>(conns + 1, R())
    let cpu0 = cpuSeconds()
    parallel(conns + 1) { t in
        var r = R()
        if t == conns {
            // background LMTP deliveries at a fixed rate, round-robin over the users
            var delivered = 0
            do {
                let l = try LMTPClient(host: o.host, port: lmtpPort, timeout: o.timeout)
                var i = 0
                while nowNs() < deadline {
                    let due = t0 + UInt64(Double(i) / lmtpRate * 1e9)
                    let now = nowNs()
                    if due > now { sleepSeconds(Double(due - now) / 1e9); continue }
                    let u = users[i % users.count]
                    try l.deliver(to: "\(u)@example.com", message: makeMessage(index: 5_000_000 + i, size: sizes[i % sizes.count], to: "\(u)@example.com", tag: "live"))
                    i += 1
                    delivered += 1
                }
                l.quit()
            } catch { r.err = "lmtp: \(error)" }
            r.visits = delivered
            slots.items[t] = r
            return
        }
        var rng = Rand(s: 0x2545_F491_4F6C_DD1D &+ UInt64(t) &* 0x9E37_79B9)
        var userIndex = t % users.count
        func timed(_ kind: String, _ body: () throws -> IMAPResult) throws -> IMAPResult {
            let s = nowNs()
            let res = try body()
            let e = nowNs()
            if s >= measureFrom && e <= deadline {
                r.lat[kind, default: []].append(e - s)
                if !res.ok {
                    r.notOK[kind, default: 0] += 1
                    if r.firstNotOK[kind] == nil { r.firstNotOK[kind] = res.text }
                }
            }
            return res
        }
        do {
            while nowNs() < deadline {
                let user = users[userIndex]
                var c: IMAPClient! = nil
                _ = try timed("LOGIN") {
                    c = try IMAPClient(host: o.host, port: o.port, timeout: o.timeout)
                    return try c.command("LOGIN \(quoted(user)) \(quoted(o.pass))")
                }
                var known: [Int] = []
                for visit in 0..<visitsPerLogin {
                    if nowNs() >= deadline { break }
                    r.visits += 1
                    let sel = try timed("SELECT") { try c.command("SELECT INBOX", keep: true) }
                    let uidnext = intAfter("UIDNEXT", in: sel.untagged) ?? 1
                    let last = lastSeen.withLock { $0[userIndex] }
                    let from = max(1, last > 0 ? last + 1 : uidnext - 50)
                    let ff = try timed("FETCH_FLAGS") { try c.command("UID FETCH \(from):* (FLAGS)", keep: true) }
                    let seen = fetchedUIDs(ff.untagged)
                    let new = seen.filter { $0 >= from }.sorted()
                    known = Array((known + seen).suffix(200))
                    if let top = new.last { lastSeen.withLock { $0[userIndex] = max($0[userIndex], top) } }
                    if !new.isEmpty {
                        let set = new.suffix(20).map(String.init).joined(separator: ",")
                        _ = try timed("FETCH_HEADERS") {
                            try c.command("UID FETCH \(set) (UID RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (DATE FROM TO SUBJECT MESSAGE-ID)])", keep: true)
                        }
                    }
                    var toRead = Array(new.suffix(2))
                    if toRead.isEmpty, !known.isEmpty { toRead = [known[rng.next(known.count)]] }
                    for u in toRead {
                        _ = try timed("FETCH_BODY") { try c.command("UID FETCH \(u) (BODY.PEEK[])") }
                        _ = try timed("STORE") { try c.command("UID STORE \(u) +FLAGS.SILENT (\\Seen)") }
                    }
                    if !known.isEmpty {
                        let u = known[rng.next(known.count)]
                        let sign = rng.next(2) == 0 ? "+" : "-"
                        _ = try timed("STORE") { try c.command("UID STORE \(u) \(sign)FLAGS.SILENT (\\Flagged)") }
                    }
                    _ = try timed("SEARCH") { try c.command("UID SEARCH FROM \"sender\(rng.next(50))@\"", keep: true) }
                    if visit % 3 == 2 {
                        let msg = makeMessage(index: t * 1_000_000 + r.visits, size: 4096, to: "\(user)@example.com", tag: "sent")
                        _ = try timed("APPEND") { try c.append(mailbox: "Sent", flags: "\\Seen", message: msg) }
                    }
                    if visit % 2 == 1, let exists = existsCount(sel.untagged), exists > floor {
                        _ = try timed("STORE") { try c.command("STORE 1 +FLAGS.SILENT (\\Deleted)") }
                        _ = try timed("EXPUNGE") { try c.command("EXPUNGE") }
                    }
                    _ = try timed("NOOP") { try c.command("NOOP") }
                    _ = try timed("IDLE") {
                        let tag = try c.idle()
                        return try c.done(tag: tag)
                    }
                }
                _ = try timed("LOGOUT") { try c.command("LOGOUT") }
                c.close()
                userIndex = (userIndex + conns) % users.count
            }
        } catch { r.err = "session \(t): \(error)" }
        slots.items[t] = r
    }
    let sessions = Array(slots.items.prefix(conns))
    var kinds: [JSON] = []
    var total = 0
    var all: [UInt64] = []
    for k in mixedKinds {
        let lat = sessions.flatMap { $0.lat[k] ?? [] }.sorted()
        let bad = sessions.reduce(0) { $0 + ($1.notOK[k] ?? 0) }
        total += lat.count
        all += lat
        kinds.append(.obj([("command", .str(k)), ("count", .int(lat.count)), ("ops_per_s", .num(Double(lat.count) / duration)),
                           ("p50_ms", .num(percentile(lat, 0.5))), ("p99_ms", .num(percentile(lat, 0.99))),
                           ("not_ok", .int(bad)),
                           ("first_not_ok", .str(sessions.compactMap { $0.firstNotOK[k] }.first ?? ""))]))
    }
    all.sort()
    let errs = slots.items.compactMap(\.err)
    let lmtp = slots.items[conns]
    writeJSON(.obj([("conns", .int(conns)), ("users", .int(users.count)), ("measured_s", .num(duration)),
                    ("visits", .int(sessions.reduce(0) { $0 + $1.visits })),
                    ("ops", .int(total)), ("ops_per_s", .num(Double(total) / duration)),
                    ("p50_ms", .num(percentile(all, 0.5))), ("p99_ms", .num(percentile(all, 0.99))),
                    ("lmtp_delivered", .int(lmtp.visits)), ("lmtp_rate", .num(lmtpRate)),
                    ("commands", .arr(kinds)), ("loadgen_cpu_s", .num(cpuSeconds() - cpu0)),
                    ("errors", .arr(errs.map { .str($0) }))]), to: jsonPath)
    if !errs.isEmpty { eprint("mixed: \(errs[0])\n"); exit(1) }
}

/// MemAvailable from /proc/meminfo, in MB.
func memAvailableMB() -> Int? {
    guard let f = fopen("/proc/meminfo", "r") else { return nil }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, Int32(line.count), f) != nil {
        let s = String(decoding: line.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if s.hasPrefix("MemAvailable:") {
            let digits = s.dropFirst(13).drop(while: { $0 == " " }).prefix(while: { $0.isNumber })
            return Int(digits).map { $0 / 1024 }
        }
    }
    return nil
}

func fileExists(_ p: String) -> Bool { access(p, F_OK) == 0 }

func runIdle(_ o: Options, jsonPath: String?) {
    let users = o.list("users")
    let conns = o.int("conns", 10000)
    let threads = min(o.int("threads", 8), conns)
    let ready = o.str("ready"), stop = o.str("stop")
    let maxHold = o.dbl("max-hold", 600)
    let giveUpAfter = o.int("give-up-after", 3)
    // safety: process-per-connection servers can eat the machine's memory (no swap here, and
    // the OOM killer would pick someone else's process); stop opening connections below this
    let minAvailableMB = o.int("min-mem-available-mb", 3072)
    let memoryStop = Atomic<Bool>(false)
    struct R { var held: [IMAPClient] = []; var failures = 0; var firstError: String? = nil }
    let slots = Slots<R>(threads, R())
    let t0 = nowNs()
    let cpu0 = cpuSeconds()
    // connections are set up by `threads` threads; each then parks its fds (no thread per connection)
    parallel(threads) { t in
        var r = R()
        var consecutive = 0
        var i = t
        while i < conns {
            if memoryStop.load(ordering: .relaxed) { break }
            if (i / threads) % 25 == 0, let avail = memAvailableMB(), avail < minAvailableMB {
                memoryStop.store(true, ordering: .relaxed)
                if r.firstError == nil { r.firstError = "stopped at \(i): MemAvailable \(avail) MB < \(minAvailableMB) MB (memory guard)" }
                break
            }
            let u = users[i % users.count]
            do {
                let c = try IMAPClient(host: o.host, port: o.port, timeout: o.timeout)
                c.conn.rbuf = [UInt8](repeating: 0, count: 2048)
                try c.login(u, o.pass)
                try c.expectOK("SELECT INBOX")
                _ = try c.idle()
                r.held.append(c)
                consecutive = 0
            } catch {
                r.failures += 1
                consecutive += 1
                if r.firstError == nil { r.firstError = "connection \(i) (\(u)): \(error)" }
                if consecutive >= giveUpAfter { break }
            }
            i += threads
        }
        slots.items[t] = r
    }
    let setup = Double(nowNs() - t0) / 1e9
    let held = slots.items.reduce(0) { $0 + $1.held.count }
    let failures = slots.items.reduce(0) { $0 + $1.failures }
    let firstError = slots.items.compactMap(\.firstError).first ?? ""
    let result = JSON.obj([("attempted_target", .int(conns)), ("established", .int(held)), ("failures", .int(failures)),
                           ("memory_guard_stopped", .bool(memoryStop.load(ordering: .relaxed))),
                           ("first_error", .str(firstError)), ("setup_s", .num(setup)), ("loadgen_cpu_s", .num(cpuSeconds() - cpu0))])
    writeJSON(result, to: ready)
    let holdStart = nowNs()
    while !fileExists(stop) && Double(nowNs() - holdStart) / 1e9 < maxHold { sleepSeconds(0.2) }
    // still alive? count connections that are still open (a server may have dropped some)
    var alive = 0
    for s in slots.items {
        for c in s.held {
            var pfd = pollfd(fd: c.conn.fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 0) == 0 { alive += 1 } else {
                // readable: unsolicited data is fine, EOF/ERR means closed
                var b: UInt8 = 0
                if recv(c.conn.fd, &b, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) > 0 { alive += 1 }
            }
            c.close()
        }
    }
    writeJSON(.obj([("attempted_target", .int(conns)), ("established", .int(held)), ("still_open_at_end", .int(alive)),
                    ("failures", .int(failures)), ("first_error", .str(firstError)), ("setup_s", .num(setup))]), to: jsonPath)
}
