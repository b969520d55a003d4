// imap-loadgen: the client side of bench/imap/run. One subcommand per benchmark row, plus
// `populate` (LMTP) and `prepare` (CREATE mailboxes). Every subcommand prints or writes one
// JSON object (--json PATH) and exits non-zero if the row could not be measured.
//
//   populate --lmtp-port P --users a,b --count N [--sizes 2048,4096] [--conns 4]
//            [--mark-every K --mark-word W] [--tag T]
//   prepare  --port P --users a,b --mailboxes Sent,AppendBench
//   select   --port P --user U [--repeat 5] [--expect N]
//   fetch    --port P --user U [--conns 4] [--duration 10] [--warmup 1] [--chunk 25]
//   search   --port P --user U [--repeat 5] --absent W --present W [--expect-present N]
//   append   --port P --users a,b [--conns 1] [--duration 10] [--size 4096] [--mailbox AppendBench]
//   mixed    --port P --users a,b,... --lmtp-port L [--conns 16] [--duration 20] [--warmup 2]
//            [--lmtp-rate 20] [--visits-per-login 5]
//   idle     --port P --users a,b [--conns 10000] [--threads 8] --ready FILE --stop FILE
//   pop3-retr / pop3-poll --port P --users a,b [--conns 4] [--duration 10] (see POP3.swift)
// Common: --host 127.0.0.1 --pass pass --timeout 60 --json PATH

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

signal(SIGPIPE, SIG_IGN)
let argv = CommandLine.arguments
guard argv.count >= 2 else { fail("usage: imap-loadgen SUBCOMMAND --port P ... (see the header of main.swift)") }
let o = Options(argv.dropFirst(2))
let jsonPath = o.values["json"]

func connectIMAP(_ user: String, bufSize: Int? = nil) throws -> IMAPClient {
    let c = try IMAPClient(host: o.host, port: o.port, timeout: o.timeout)
    if let bufSize { c.conn.rbuf = [UInt8](repeating: 0, count: bufSize) }
    try c.login(user, o.pass)
    return c
}

func intAfter(_ key: String, in lines: [String]) -> Int? {
    for l in lines {
        guard let r = l.firstRange(of: key) else { continue }
        let digits = l[r.upperBound...].drop(while: { $0 == " " }).prefix(while: { $0.isNumber })
        if let v = Int(digits) { return v }
    }
    return nil
}

/// "* n EXISTS"
func existsCount(_ lines: [String]) -> Int? {
    for l in lines where l.hasSuffix(" EXISTS") {
        if let v = Int(l.dropFirst(2).prefix(while: { $0.isNumber })) { return v }
    }
    return nil
}

/// Numbers of the "* SEARCH ..." line.
func searchResults(_ lines: [String]) -> [Int] {
    var out: [Int] = []
    for l in lines where l.uppercased().hasPrefix("* SEARCH") {
        out += l.dropFirst(8).split(separator: " ").compactMap { Int($0) }
    }
    return out
}

/// UIDs of "* n FETCH (... UID u ...)" lines.
func fetchedUIDs(_ lines: [String]) -> [Int] {
    var out: [Int] = []
    for l in lines {
        guard let r = l.firstRange(of: "UID ") else { continue }
        if let v = Int(l[r.upperBound...].prefix(while: { $0.isNumber })) { out.append(v) }
    }
    return out
}

func errorJSON(_ e: Error) -> JSON { .str(String(describing: e)) }

switch argv[1] {

// MARK: populate
case "populate":
    let users = o.list("users")
    let count = o.int("count")
    let sizes = o.list("sizes", "2048").map { Int($0) ?? 2048 }
    let conns = min(o.int("conns", 4), max(1, count))
    let markEvery = o.int("mark-every", 0)
    let markWord = o.str("mark-word", "periwinkle")
    let domain = o.str("domain", "example.com")
    let tag = o.str("tag", "bench")
    let next = Atomic<Int>(0)
    let errors = Slots<String?>(conns, nil)
    let t0 = nowNs()
    parallel(conns) { t in
        do {
            let l = try LMTPClient(host: o.host, port: UInt16(o.int("lmtp-port")), timeout: o.timeout)
            while true {
                let i = next.add(1, ordering: .relaxed).oldValue
                if i >= count { break }
                let u = users[i % users.count]
                let marker = markEvery > 0 && i % markEvery == 0 ? markWord : nil
                try l.deliver(to: "\(u)@\(domain)",
                              message: makeMessage(index: i, size: sizes[i % sizes.count], to: "\(u)@\(domain)", marker: marker, tag: tag))
            }
            l.quit()
        } catch {
            errors.items[t] = String(describing: error)
            _ = next.add(count, ordering: .relaxed)   // stop the others
        }
    }
    let errs = errors.items.compactMap { $0 }
    let secs = Double(nowNs() - t0) / 1e9
    writeJSON(.obj([("delivered_target", .int(count)), ("seconds", .num(secs)), ("errors", .arr(errs.map { .str($0) }))]), to: jsonPath)
    if !errs.isEmpty { eprint("populate failed: \(errs[0])\n"); exit(1) }

// MARK: prepare
case "prepare":
    do {
        for u in o.list("users") {
            let c = try connectIMAP(u)
            for m in o.list("mailboxes") {
                let r = try c.command("CREATE \(quoted(m))")
                if !r.ok && !r.text.uppercased().contains("ALREADYEXISTS") && !r.text.lowercased().contains("exist") {
                    throw CommandFailed(command: "CREATE \(m) as \(u)", response: r.text)
                }
            }
            _ = try? c.command("LOGOUT")
        }
    } catch {
        eprint("prepare failed: \(error)\n")
        exit(1)
    }

// MARK: select (row 1)
case "select":
    let user = o.str("user")
    let repeats = o.int("repeat", 5)
    do {
        let c = try connectIMAP(user)
        var selectMs: [Double] = [], fetchMs: [Double] = []
        var exists = -1, fetched = -1
        for _ in 0..<repeats {
            let t0 = nowNs()
            let s = try c.expectOK("SELECT INBOX", keep: true)
            let t1 = nowNs()
            let f = try c.expectOK("UID FETCH 1:* (FLAGS)")
            let t2 = nowNs()
            selectMs.append(ms(t1 - t0))
            fetchMs.append(ms(t2 - t1))
            exists = existsCount(s.untagged) ?? -1
            fetched = f.untaggedCount
            try c.expectOK(c.capabilities.contains("UNSELECT") ? "UNSELECT" : "CLOSE")
        }
        _ = try? c.command("LOGOUT")
        let expect = o.int("expect", -1)
        var problems: [JSON] = []
        if expect >= 0 && exists != expect { problems.append(.str("SELECT reported EXISTS \(exists), expected \(expect)")) }
        if fetched < exists { problems.append(.str("UID FETCH 1:* (FLAGS) returned \(fetched) FETCH responses for \(exists) messages")) }
        writeJSON(.obj([("exists", .int(exists)), ("fetch_responses", .int(fetched)),
                        ("select_ms", .arr(selectMs.map { .num($0) })), ("fetch_flags_ms", .arr(fetchMs.map { .num($0) })),
                        ("select_median_ms", .num(median(selectMs))), ("fetch_flags_median_ms", .num(median(fetchMs))),
                        ("problems", .arr(problems))]), to: jsonPath)
        if !problems.isEmpty { exit(1) }
    } catch {
        writeJSON(.obj([("error", errorJSON(error))]), to: jsonPath)
        eprint("select failed: \(error)\n")
        exit(1)
    }

// MARK: fetch (row 2)
case "fetch":
    let user = o.str("user")
    let conns = o.int("conns", 4)
    let chunk = o.int("chunk", 25)
    let duration = o.dbl("duration", 10)
    let warmup = o.dbl("warmup", 1)
    let start = nowNs()
    let measureFrom = start + UInt64(warmup * 1e9)
    let deadline = measureFrom + UInt64(duration * 1e9)
    struct R { var bytes = 0; var msgs = 0; var lat: [UInt64] = []; var err: String? = nil; var total = 0 }
    let slots = Slots<R>(conns, R())
    let cpu0 = cpuSeconds()
    parallel(conns) { t in
        var r = R()
        do {
            let c = try connectIMAP(user)
            try c.expectOK("EXAMINE INBOX")
            let uids = searchResults(try c.expectOK("UID SEARCH ALL", keep: true).untagged).sorted()
            r.total = uids.count
            guard !uids.isEmpty else { throw IOFail.proto("mailbox of \(user) is empty") }
            // no closures here: closures written in top-level code are main-actor isolated in
            // Swift 6 and trap when run on these threads
            var chunks: [(Int, Int, Int)] = []
            var at = 0
            while at < uids.count {
                let end = min(uids.count, at + chunk)
                chunks.append((uids[at], uids[end - 1], end - at))
                at = end
            }
            var k = t % chunks.count
            while true {
                let now = nowNs()
                if now >= deadline { break }
                let (a, b, n) = chunks[k]
                let res = try c.expectOK("UID FETCH \(a):\(b) (BODY.PEEK[])")
                let done = nowNs()
                guard res.literalCount == n else { throw IOFail.proto("UID FETCH \(a):\(b) returned \(res.literalCount) bodies, expected \(n)") }
                if now >= measureFrom && done <= deadline {
                    r.bytes += res.literalBytes
                    r.msgs += res.literalCount
                    r.lat.append(done - now)
                }
                k = (k + conns) % chunks.count
            }
            _ = try? c.command("LOGOUT")
        } catch { r.err = String(describing: error) }
        slots.items[t] = r
    }
    let bytes = slots.items.reduce(0) { $0 + $1.bytes }, msgs = slots.items.reduce(0) { $0 + $1.msgs }
    let lat = slots.items.flatMap(\.lat).sorted()
    let errs = slots.items.compactMap(\.err)
    writeJSON(.obj([("conns", .int(conns)), ("chunk", .int(chunk)), ("messages_in_mailbox", .int(slots.items.first?.total ?? 0)),
                    ("measured_s", .num(duration)), ("bytes", .int(bytes)), ("messages", .int(msgs)),
                    ("mb_per_s", .num(Double(bytes) / 1e6 / duration)), ("msgs_per_s", .num(Double(msgs) / duration)),
                    ("chunk_p50_ms", .num(percentile(lat, 0.5))), ("chunk_p99_ms", .num(percentile(lat, 0.99))),
                    ("loadgen_cpu_s", .num(cpuSeconds() - cpu0)), ("errors", .arr(errs.map { .str($0) }))]), to: jsonPath)
    if !errs.isEmpty { eprint("fetch: \(errs[0])\n"); exit(1) }

// MARK: search (row 3)
case "search":
    let user = o.str("user")
    let repeats = o.int("repeat", 5)
    let absent = o.str("absent"), present = o.str("present")
    do {
        let c = try connectIMAP(user)
        let s = try c.expectOK("SELECT INBOX", keep: true)
        var absentMs: [Double] = [], presentMs: [Double] = []
        var absentN = -1, presentN = -1
        for _ in 0..<repeats {
            var t0 = nowNs()
            let a = try c.expectOK("UID SEARCH TEXT \(absent)", keep: true)
            absentMs.append(ms(nowNs() - t0))
            absentN = searchResults(a.untagged).count
            t0 = nowNs()
            let p = try c.expectOK("UID SEARCH TEXT \(present)", keep: true)
            presentMs.append(ms(nowNs() - t0))
            presentN = searchResults(p.untagged).count
        }
        _ = try? c.command("LOGOUT")
        var problems: [JSON] = []
        let expectP = o.int("expect-present", -1)
        if absentN != 0 { problems.append(.str("SEARCH TEXT \(absent) matched \(absentN), expected 0")) }
        if expectP >= 0 && presentN != expectP { problems.append(.str("SEARCH TEXT \(present) matched \(presentN), expected \(expectP)")) }
        writeJSON(.obj([("exists", .int(existsCount(s.untagged) ?? -1)),
                        ("absent_word", .str(absent)), ("absent_matches", .int(absentN)), ("absent_ms", .arr(absentMs.map { .num($0) })),
                        ("absent_median_ms", .num(median(absentMs))),
                        ("present_word", .str(present)), ("present_matches", .int(presentN)), ("present_ms", .arr(presentMs.map { .num($0) })),
                        ("present_median_ms", .num(median(presentMs))), ("problems", .arr(problems))]), to: jsonPath)
        if !problems.isEmpty { exit(1) }
    } catch {
        writeJSON(.obj([("error", errorJSON(error))]), to: jsonPath)
        eprint("search failed: \(error)\n")
        exit(1)
    }

// MARK: append (row 4)
case "append":
    let users = o.list("users")
    let conns = o.int("conns", 1)
    let size = o.int("size", 4096)
    let mailbox = o.str("mailbox", "AppendBench")
    let duration = o.dbl("duration", 10)
    func status(_ u: String) throws -> Int {
        let c = try connectIMAP(u)
        defer { _ = try? c.command("LOGOUT") }
        let r = try c.expectOK("STATUS \(quoted(mailbox)) (MESSAGES)", keep: true)
        guard let n = intAfter("MESSAGES", in: r.untagged) else { throw CommandFailed(command: "STATUS", response: r.untagged.joined(separator: " | ")) }
        return n
    }
    let used = Array(Set((0..<conns).map { users[$0 % users.count] })).sorted()
    var before = 0
    do { for u in used { before += try status(u) } } catch { fail("append: STATUS before: \(error)") }
    struct R { var acked = 0; var no = 0; var lat: [UInt64] = []; var err: String? = nil; var firstNo: String? = nil; var literalPlus = false }
    let slots = Slots<R>(conns, R())
    let t0 = nowNs()
    let deadline = t0 + UInt64(duration * 1e9)
    let cpu0 = cpuSeconds()
    parallel(conns) { t in
        var r = R()
        let u = users[t % users.count]
        do {
            let c = try connectIMAP(u)
            r.literalPlus = c.literalPlus
            var i = 0
            while nowNs() < deadline {
                let msg = makeMessage(index: t * 1_000_000 + i, size: size, to: "\(u)@example.com", tag: "append")
                i += 1
                let s = nowNs()
                let res = try c.append(mailbox: mailbox, flags: "\\Seen", message: msg)
                if res.ok { r.acked += 1; r.lat.append(nowNs() - s) } else { r.no += 1; if r.firstNo == nil { r.firstNo = res.text } }
            }
            _ = try? c.command("LOGOUT")
        } catch { r.err = String(describing: error) }
        slots.items[t] = r
    }
    let wall = Double(nowNs() - t0) / 1e9
    var after = 0
    var statusErr: String? = nil
    do { for u in used { after += try status(u) } } catch { statusErr = String(describing: error) }
    let acked = slots.items.reduce(0) { $0 + $1.acked }
    let stored = after - before
    let lat = slots.items.flatMap(\.lat).sorted()
    let errs = slots.items.compactMap(\.err) + (statusErr.map { [$0] } ?? [])
    let nos = slots.items.reduce(0) { $0 + $1.no }
    writeJSON(.obj([("conns", .int(conns)), ("users", .int(used.count)), ("size", .int(size)), ("wall_s", .num(wall)),
                    ("acked", .int(acked)), ("stored", .int(stored)), ("not_ok", .int(nos)),
                    ("first_not_ok", slots.items.compactMap(\.firstNo).first.map { .str($0) } ?? .str("")),
                    ("literal_plus", .bool(slots.items.first?.literalPlus ?? false)),
                    ("msgs_per_s", .num(Double(acked) / wall)), ("p50_ms", .num(percentile(lat, 0.5))), ("p99_ms", .num(percentile(lat, 0.99))),
                    ("loadgen_cpu_s", .num(cpuSeconds() - cpu0)), ("errors", .arr(errs.map { .str($0) }))]), to: jsonPath)
    if !errs.isEmpty || stored != acked { eprint("append: acked \(acked) stored \(stored) \(errs.first ?? "")\n"); exit(1) }

// MARK: mixed (row 5)
case "mixed":
    runMixed(o, jsonPath: jsonPath)

// MARK: idle (row 6)
case "idle":
    runIdle(o, jsonPath: jsonPath)

// MARK: POP3 (bench/pop3)
case "pop3-retr", "pop3-poll":
    runPOP3(argv[1], o, jsonPath: jsonPath)

default:
    fail("unknown subcommand \(argv[1])")
}
