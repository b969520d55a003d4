// POP3 rows for bench/pop3/run: a minimal lock-step POP3 client (USER/PASS, STAT, RETR and
// UIDL read to the terminating ".", QUIT) and the two workloads:
//
//   pop3-retr --port P --users a,b --conns N [--duration 10] [--warmup 1]
//       each connection logs in as its own user and RETRs every message of the maildrop, in
//       order, session after session (no DELE), until the time is up: MB/s and messages/s.
//   pop3-poll --port P --users a,b --conns N [--duration 10] [--warmup 1]
//       sessions of USER, PASS, STAT, UIDL, QUIT back to back (a client leaving mail on the
//       server and polling): sessions/s and latency.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class POP3Client {
    let conn: Conn

    init(host: String, port: UInt16, timeout: Double) throws {
        conn = try Conn(host: host, port: port, timeout: timeout)
        _ = try status("greeting")
    }

    /// Reads a status line; throws unless it is +OK.
    @discardableResult
    func status(_ what: String) throws -> String {
        let line = conn.string(try conn.readLine())
        guard line.hasPrefix("+OK") else { throw IOFail.proto("\(what): \(line)") }
        return line
    }

    func login(_ user: String, _ pass: String) throws {
        try conn.write("USER \(user)\r\n")
        try status("USER")
        try conn.write("PASS \(pass)\r\n")
        try status("PASS")
    }

    /// STAT: (messages, octets).
    func stat() throws -> (Int, Int) {
        try conn.write("STAT\r\n")
        let parts = try status("STAT").split(separator: " ")
        guard parts.count >= 3, let n = Int(parts[1]), let size = Int(parts[2]) else { throw IOFail.proto("STAT reply") }
        return (n, size)
    }

    /// Reads a multi-line body up to "."; returns (lines, bytes of the lines with their CRLFs).
    func multiline() throws -> (Int, Int) {
        var lines = 0, bytes = 0
        while true {
            let r = try conn.readLine()
            if r.count == 1 && conn.rbuf[r.lowerBound] == UInt8(ascii: ".") { return (lines, bytes) }
            lines += 1
            bytes += r.count + 2
        }
    }

    /// RETR n: the message's bytes as received (stuffed dots included, within a byte per line).
    func retr(_ n: Int) throws -> Int {
        try conn.write("RETR \(n)\r\n")
        try status("RETR \(n)")
        return try multiline().1
    }

    func uidl() throws -> Int {
        try conn.write("UIDL\r\n")
        try status("UIDL")
        return try multiline().0
    }

    func quit() throws {
        try conn.write("QUIT\r\n")
        try status("QUIT")
        conn.close()
    }
}

func runPOP3(_ mode: String, _ o: Options, jsonPath: String?) {
    let users = o.list("users")
    let conns = o.int("conns", 4)
    let duration = o.dbl("duration", 10)
    let warmup = o.dbl("warmup", 1)
    let expect = o.int("expect", 0)
    let start = nowNs()
    let measureFrom = start + UInt64(warmup * 1e9)
    let deadline = measureFrom + UInt64(duration * 1e9)
    struct R { var bytes = 0; var msgs = 0; var sessions = 0; var lat: [UInt64] = []; var err: String? = nil }
    let slots = Slots<R>(conns, R())
    let cpu0 = cpuSeconds()
    parallel(conns) { t in
        var r = R()
        let user = users[t % users.count]
        do {
            while nowNs() < deadline {
                let began = nowNs()
                let c = try POP3Client(host: o.host, port: o.port, timeout: o.timeout)
                try c.login(user, o.pass)
                let (count, _) = try c.stat()
                if expect > 0 && count != expect { throw IOFail.proto("\(user): STAT says \(count), expected \(expect)") }
                if mode == "pop3-poll" {
                    let listed = try c.uidl()
                    guard listed == count else { throw IOFail.proto("UIDL listed \(listed) of \(count)") }
                    try c.quit()
                    let done = nowNs()
                    if began >= measureFrom && done <= deadline {
                        r.sessions += 1
                        r.lat.append(done - began)
                    }
                    continue
                }
                var n = 1
                while n <= count {
                    let now = nowNs()
                    if now >= deadline { break }
                    let bytes = try c.retr(n)
                    let done = nowNs()
                    if now >= measureFrom && done <= deadline {
                        r.bytes += bytes
                        r.msgs += 1
                        r.lat.append(done - now)
                    }
                    n += 1
                }
                try c.quit()
                r.sessions += 1
            }
        } catch { r.err = String(describing: error) }
        slots.items[t] = r
    }
    let bytes = slots.items.reduce(0) { $0 + $1.bytes }, msgs = slots.items.reduce(0) { $0 + $1.msgs }
    let sessions = slots.items.reduce(0) { $0 + $1.sessions }
    let lat = slots.items.flatMap(\.lat).sorted()
    let errs = slots.items.compactMap(\.err)
    writeJSON(.obj([("mode", .str(mode)), ("conns", .int(conns)), ("measured_s", .num(duration)),
                    ("bytes", .int(bytes)), ("messages", .int(msgs)), ("sessions", .int(sessions)),
                    ("mb_per_s", .num(Double(bytes) / 1e6 / duration)), ("msgs_per_s", .num(Double(msgs) / duration)),
                    ("sessions_per_s", .num(Double(sessions) / duration)),
                    ("p50_ms", .num(percentile(lat, 0.5))), ("p99_ms", .num(percentile(lat, 0.99))),
                    ("loadgen_cpu_s", .num(cpuSeconds() - cpu0)), ("errors", .arr(errs.map { .str($0) }))]), to: jsonPath)
    if !errs.isEmpty { eprint("\(mode): \(errs[0])\n"); exit(1) }
}
