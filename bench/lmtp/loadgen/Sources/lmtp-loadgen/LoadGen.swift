// lmtp-loadgen: closed-loop LMTP delivery load generator.
//
// N connections, one OS thread each, blocking POSIX sockets. Every connection sends
// LHLO once, then loops: MAIL FROM / RCPT TO / DATA (pipelined in one write when the
// server advertises PIPELINING, as RFC 2033 requires and as Postfix's LMTP client does;
// lock-step otherwise or with --pipeline off), waits for 354, sends the message and
// waits for the per-recipient reply. Latency = first byte of MAIL FROM written ->
// final per-recipient reply read. Results are printed and optionally written as JSON.
//
// No dependencies beyond the Swift standard library, Glibc and Synchronization.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

// MARK: - Options

struct Options: Sendable {
    var host = "127.0.0.1"
    var port: UInt16 = 0
    var conns = 1
    var duration = 10.0          // seconds of measured load (after warmup); ignored when messages > 0
    var messages = 0             // fixed total message count across all connections (0 = duration mode)
    var warmup = 1.0             // seconds delivered but not measured
    var users = 20
    var userPrefix = "testuser"
    var userStart = 1
    var singleUser: String? = nil
    var domain = "example.com"
    var size = 4096
    var label = ""
    var jsonPath: String? = nil
    var pipeline = "auto"        // auto | on | off
    var ioTimeout = 30.0
    var maxReconnects = 3
    var runID = ""
}

func usage() -> Never {
    let text = """
    usage: lmtp-loadgen --port PORT [options]
      --host H            server address (default 127.0.0.1; loopback only in this project)
      --port P            LMTP TCP port (required)
      --conns N           concurrent connections (default 1)
      --duration S        measured seconds after warmup (default 10)
      --messages N        fixed total message count instead of a duration
      --warmup S          seconds delivered but excluded from the statistics (default 1; 0 in --messages mode)
      --users N           recipients round-robin over PREFIX<START>..PREFIX<START+N-1> (default 20)
      --user-prefix P     (default testuser)
      --user-start K      (default 1)
      --single-user NAME  every message to NAME@DOMAIN instead of round-robin
      --domain D          recipient domain (default example.com)
      --size BYTES        exact message size incl. headers (default 4096)
      --pipeline MODE     auto|on|off: pipeline MAIL/RCPT/DATA (default auto = if advertised)
      --io-timeout S      per read/write timeout (default 30)
      --label TEXT        free text copied into the output
      --json PATH         write the result as a JSON object to PATH
    """
    eprint(text + "\n")
    exit(2)
}

func parseOptions() -> Options {
    var o = Options()
    var args = Array(CommandLine.arguments.dropFirst())
    var warmupGiven = false
    func next(_ name: String) -> String {
        guard !args.isEmpty else { eprint("missing value for \(name)\n"); usage() }
        return args.removeFirst()
    }
    func int(_ name: String) -> Int {
        let v = next(name)
        guard let i = Int(v) else { eprint("bad integer for \(name): \(v)\n"); usage() }
        return i
    }
    func dbl(_ name: String) -> Double {
        let v = next(name)
        guard let d = Double(v) else { eprint("bad number for \(name): \(v)\n"); usage() }
        return d
    }
    while !args.isEmpty {
        let a = args.removeFirst()
        switch a {
        case "--host": o.host = next(a)
        case "--port":
            let p = int(a)
            guard (1...65535).contains(p) else { usage() }
            o.port = UInt16(p)
        case "--conns": o.conns = max(1, int(a))
        case "--duration": o.duration = dbl(a)
        case "--messages": o.messages = max(0, int(a))
        case "--warmup": o.warmup = max(0, dbl(a)); warmupGiven = true
        case "--users": o.users = max(1, int(a))
        case "--user-prefix": o.userPrefix = next(a)
        case "--user-start": o.userStart = int(a)
        case "--single-user": o.singleUser = next(a)
        case "--domain": o.domain = next(a)
        case "--size": o.size = max(256, int(a))
        case "--pipeline": o.pipeline = next(a)
        case "--io-timeout": o.ioTimeout = max(1, dbl(a))
        case "--label": o.label = next(a)
        case "--json": o.jsonPath = next(a)
        case "-h", "--help": usage()
        default: eprint("unknown option \(a)\n"); usage()
        }
    }
    if o.port == 0 { usage() }
    if !["auto", "on", "off"].contains(o.pipeline) { usage() }
    if o.messages > 0 && !warmupGiven { o.warmup = 0 }
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    o.runID = "\(getpid())x\(ts.tv_sec)x\(ts.tv_nsec / 1000)"
    return o
}

// MARK: - Helpers

/// Writes to standard error without touching the (non-Sendable) C `stderr` global.
func eprint(_ s: String) {
    var s = s.hasSuffix("\n") ? s : s + "\n"
    s.withUTF8 { p in _ = write(2, p.baseAddress, p.count) }
}

@inline(__always) func nowNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

func fmt(_ x: Double, _ decimals: Int = 2) -> String {
    guard x.isFinite else { return "nan" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let neg = x < 0
    let v = (abs(x) * scale).rounded()
    let whole = Int(v / scale)
    let frac = Int(v - Double(whole) * scale)
    var f = String(frac)
    while f.count < decimals { f = "0" + f }
    return (neg ? "-" : "") + String(whole) + (decimals > 0 ? "." + f : "")
}

func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 {
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(u)
            }
        }
    }
    return out + "\""
}

/// 1-minute load average from /proc/loadavg (nil where unavailable): tells a reader whether
/// something else was competing for the CPUs when a row ran.
func loadAverage1m() -> Double? {
    guard let f = fopen("/proc/loadavg", "r") else { return nil }
    defer { fclose(f) }
    var buf = [CChar](repeating: 0, count: 128)
    guard fgets(&buf, Int32(buf.count), f) != nil else { return nil }
    let text = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return text.split(separator: " ").first.flatMap { Double(String($0)) }
}

/// CPU seconds (user + system) this process has used so far.
func selfCPUSeconds() -> Double {
    var ru = rusage()
    #if canImport(Glibc)
    getrusage(RUSAGE_SELF.rawValue, &ru)
    #else
    getrusage(RUSAGE_SELF, &ru)
    #endif
    return Double(ru.ru_utime.tv_sec) + Double(ru.ru_utime.tv_usec) / 1e6
        + Double(ru.ru_stime.tv_sec) + Double(ru.ru_stime.tv_usec) / 1e6
}

/// Nearest-rank percentile of sorted nanosecond samples, in milliseconds.
func percentileMs(_ sorted: [UInt64], _ q: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    var k = Int((q * Double(sorted.count)).rounded(.up)) - 1
    k = min(max(k, 0), sorted.count - 1)
    return Double(sorted[k]) / 1e6
}

func jsonNumber(_ x: Double) -> String { x.isFinite ? fmt(x, 3) : "null" }

func rfc5322Date(_ t: time_t) -> String {
    var tt = t
    var tmv = tm()
    gmtime_r(&tt, &tmv)
    var buf = [Int8](repeating: 0, count: 64)
    let n = strftime(&buf, buf.count, "%a, %d %b %Y %H:%M:%S +0000", &tmv)
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Deterministic filler text: plain 7-bit prose, lines <= 72 chars, CRLF, no line starts with '.'.
let fillerText: [UInt8] = {
    let words = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
        + "incididunt ut labore et dolore magna aliqua enim ad minim veniam quis nostrud exercitation "
        + "ullamco laboris nisi aliquip ex ea commodo consequat duis aute irure in reprehenderit "
        + "voluptate velit esse cillum fugiat nulla pariatur excepteur sint occaecat cupidatat non "
        + "proident sunt culpa qui officia deserunt mollit anim id est laborum").split(separator: " ")
    var out: [UInt8] = []
    var line = ""
    var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
    var lines = 0
    while out.count < 16384 {
        seed = seed &* 6364136223846793005 &+ 1442695040888963407
        let w = words[Int((seed >> 33) % UInt64(words.count))]
        if line.count + w.count + 1 > 72 {
            out += Array(line.utf8) + [13, 10]
            line = ""
            lines += 1
            if lines % 9 == 0 { out += [13, 10] }  // paragraph break
        }
        line += line.isEmpty ? String(w).capitalized(first: true) : " " + w
    }
    return out
}()

extension String {
    func capitalized(first: Bool) -> String {
        guard first, let f = self.first else { return self }
        return f.uppercased() + self.dropFirst()
    }
}

enum IOFail: Error {
    case closed
    case timeout
    case sys(String, Int32)
    case proto(String)

    var key: String {
        switch self {
        case .closed: return "io:closed"
        case .timeout: return "io:timeout"
        case .sys(let op, let e): return "io:\(op):\(String(cString: strerror(e)))"
        case .proto(let s): return "proto:\(s)"
        }
    }
}

// MARK: - Shared state

final class Shared: Sendable {
    let opts: Options
    let next = Atomic<Int>(0)
    let ready = Atomic<Int>(0)
    let go = Atomic<Bool>(false)
    let abort = Atomic<Bool>(false)
    let startNs = Atomic<UInt64>(0)
    let warmupEndNs = Atomic<UInt64>(0)
    let deadlineNs = Atomic<UInt64>(0)

    init(_ o: Options) { opts = o }
}

// MARK: - Worker (one connection, one thread)

final class Worker: @unchecked Sendable {
    let id: Int
    let shared: Shared
    let o: Options
    var fd: Int32 = -1
    var rbuf = [UInt8](repeating: 0, count: 65536)
    var rstart = 0
    var rend = 0
    var pipelining = false
    var capabilities: [String] = []

    // results (read by main after pthread_join)
    var latencies: [UInt64] = []
    var acked = 0              // final 250s including warmup
    var attempted = 0
    var measured = 0
    var lastDoneNs: UInt64 = 0
    var errors: [String: Int] = [:]
    var setupError: String? = nil
    var reconnects = 0

    // message building
    var seq = 0
    var cachedSecond: time_t = 0
    var cachedDate = ""
    var msg: [UInt8] = []

    init(id: Int, shared: Shared) {
        self.id = id
        self.shared = shared
        self.o = shared.opts
        latencies.reserveCapacity(o.messages > 0 ? o.messages / o.conns + 16 : 1 << 16)
        msg.reserveCapacity(o.size + 256)
    }

    func bump(_ k: String) { errors[k, default: 0] += 1 }

    // --- socket plumbing ---

    func connectServer() throws {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var res: UnsafeMutablePointer<addrinfo>? = nil
        let rc = getaddrinfo(o.host, String(o.port), &hints, &res)
        guard rc == 0, let first = res else { throw IOFail.proto("getaddrinfo \(o.host): \(String(cString: gai_strerror(rc)))") }
        defer { freeaddrinfo(res) }
        var ai: UnsafeMutablePointer<addrinfo>? = first
        var lastErr: Int32 = 0
        while let a = ai {
            let s = socket(a.pointee.ai_family, a.pointee.ai_socktype, a.pointee.ai_protocol)
            if s >= 0 {
                if connect(s, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 {
                    var one: Int32 = 1
                    setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                    var tv = timeval(tv_sec: Int(o.ioTimeout), tv_usec: 0)
                    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                    fd = s
                    rstart = 0
                    rend = 0
                    return
                }
                lastErr = errno
                close(s)
            } else {
                lastErr = errno
            }
            ai = a.pointee.ai_next
        }
        throw IOFail.sys("connect", lastErr)
    }

    func closeConn() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    func writeAll(_ p: UnsafeRawBufferPointer) throws {
        var off = 0
        while off < p.count {
            #if canImport(Glibc)
            let n = send(fd, p.baseAddress! + off, p.count - off, Int32(MSG_NOSIGNAL))
            #else
            let n = send(fd, p.baseAddress! + off, p.count - off, 0)
            #endif
            if n > 0 { off += n; continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { throw IOFail.timeout }
            throw IOFail.sys("send", errno)
        }
    }

    func writeBytes(_ b: [UInt8]) throws { try b.withUnsafeBytes { try writeAll($0) } }
    func writeString(_ s: String) throws {
        var s = s
        try s.withUTF8 { try writeAll(UnsafeRawBufferPointer($0)) }
    }

    /// Reads one line; returns the index range of the line (without CRLF) inside rbuf.
    func readLine() throws -> Range<Int> {
        if rstart == rend { rstart = 0; rend = 0 }
        var scanFrom = rstart
        while true {
            var i = scanFrom
            while i < rend {
                if rbuf[i] == 10 {
                    let lineStart = rstart
                    var lineEnd = i
                    if lineEnd > lineStart && rbuf[lineEnd - 1] == 13 { lineEnd -= 1 }
                    rstart = i + 1
                    return lineStart..<lineEnd
                }
                i += 1
            }
            scanFrom = rend
            if rend == rbuf.count {
                guard rstart > 0 else { throw IOFail.proto("reply line longer than \(rbuf.count) bytes") }
                let len = rend - rstart
                let from = rstart
                rbuf.withUnsafeMutableBytes { p in
                    _ = memmove(p.baseAddress!, p.baseAddress! + from, len)
                }
                scanFrom -= rstart
                rstart = 0
                rend = len
            }
            let n = rbuf.withUnsafeMutableBytes { p in
                recv(fd, p.baseAddress! + rend, p.count - rend, 0)
            }
            if n > 0 { rend += n; continue }
            if n == 0 { throw IOFail.closed }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { throw IOFail.timeout }
            throw IOFail.sys("recv", errno)
        }
    }

    /// Reads a (possibly multi-line) reply; returns its code and, if asked, the text lines.
    func readReply(collect: Bool = false, into lines: inout [String]) throws -> Int {
        while true {
            let r = try readLine()
            guard r.count >= 3 else { throw IOFail.proto("short reply line") }
            var code = 0
            for k in 0..<3 {
                let c = rbuf[r.lowerBound + k]
                guard c >= 48 && c <= 57 else {
                    throw IOFail.proto("bad reply: " + String(decoding: rbuf[r], as: UTF8.self))
                }
                code = code * 10 + Int(c - 48)
            }
            if collect { lines.append(String(decoding: rbuf[(r.lowerBound + min(4, r.count))..<r.upperBound], as: UTF8.self)) }
            if r.count == 3 || rbuf[r.lowerBound + 3] != UInt8(ascii: "-") { return code }
        }
    }

    func readReply() throws -> Int {
        var dummy: [String] = []
        return try readReply(collect: false, into: &dummy)
    }

    func handshake() throws {
        try connectServer()
        var lines: [String] = []
        let g = try readReply(collect: true, into: &lines)
        guard g == 220 else { throw IOFail.proto("greeting \(g)") }
        try writeString("LHLO loadgen.example.org\r\n")
        lines = []
        let l = try readReply(collect: true, into: &lines)
        guard l == 250 else { throw IOFail.proto("LHLO \(l)") }
        capabilities = lines.dropFirst().map { $0.uppercased() }
        let advertised = capabilities.contains { $0 == "PIPELINING" || $0.hasPrefix("PIPELINING ") }
        switch o.pipeline {
        case "on": pipelining = true
        case "off": pipelining = false
        default: pipelining = advertised
        }
    }

    // --- message construction ---

    func buildMessage(rcpt: String, globalIndex: Int) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        if ts.tv_sec != cachedSecond {
            cachedSecond = ts.tv_sec
            cachedDate = rfc5322Date(ts.tv_sec)
        }
        seq += 1
        let mid = "\(o.runID).\(id).\(seq)"
        let headers =
            "Received: from mta1.example.org (mta1.example.org [127.0.0.1])\r\n"
            + "\tby mx.example.com (lmtp-loadgen) with LMTP id \(mid)\r\n"
            + "\tfor <\(rcpt)>; \(cachedDate)\r\n"
            + "From: \"Bench Sender \(id)\" <sender\(id)@example.org>\r\n"
            + "To: <\(rcpt)>\r\n"
            + "Subject: LMTP benchmark message \(globalIndex) (connection \(id), #\(seq))\r\n"
            + "Date: \(cachedDate)\r\n"
            + "Message-ID: <\(mid)@loadgen.example.org>\r\n"
            + "MIME-Version: 1.0\r\n"
            + "Content-Type: text/plain; charset=us-ascii\r\n"
            + "Content-Transfer-Encoding: 7bit\r\n"
            + "X-Bench-Run: \(o.runID)\r\n"
            + "\r\n"
        msg.removeAll(keepingCapacity: true)
        msg.append(contentsOf: headers.utf8)
        let want = max(o.size - msg.count, 16)
        // body = filler prefix of (want - 2) bytes + CRLF; never cut between CR and LF
        var bodyLen = want - 2
        var pos = 0
        while bodyLen > 0 {
            let take = min(bodyLen, fillerText.count - pos)
            msg.append(contentsOf: fillerText[pos..<(pos + take)])
            bodyLen -= take
            pos = (pos + take) % fillerText.count
        }
        if msg.last == 13 { msg[msg.count - 1] = UInt8(ascii: "x") }
        msg.append(contentsOf: [13, 10])
        // filler never starts a line with '.', so no dot-stuffing is needed; end of data:
        msg.append(contentsOf: [UInt8(ascii: "."), 13, 10])
    }

    // --- one delivery ---

    /// Returns true if the message got a final 250.
    func deliverOne(rcpt: String, globalIndex: Int, measuredWindow: Bool) throws -> Bool {
        buildMessage(rcpt: rcpt, globalIndex: globalIndex)
        let env = "MAIL FROM:<bounces+\(id)@example.org>\r\n"
        let rc = "RCPT TO:<\(rcpt)>\r\n"
        let t0 = nowNs()
        var mc = 0, rcc = 0, dc = 0
        if pipelining {
            try writeString(env + rc + "DATA\r\n")
            mc = try readReply()
            rcc = try readReply()
            dc = try readReply()
        } else {
            try writeString(env)
            mc = try readReply()
            if mc / 100 == 2 {
                try writeString(rc)
                rcc = try readReply()
                if rcc / 100 == 2 {
                    try writeString("DATA\r\n")
                    dc = try readReply()
                }
            }
        }
        if dc != 354 {
            if mc / 100 != 2 { bump("mail \(mc)") }
            else if rcc / 100 != 2 { bump("rcpt \(rcc)") }
            else { bump("data \(dc)") }
            if dc == 354 { throw IOFail.proto("354 without accepted recipient") }
            try writeString("RSET\r\n")
            _ = try readReply()
            return false
        }
        if rcc / 100 != 2 {
            bump("rcpt \(rcc)")
            throw IOFail.proto("354 after rejected RCPT")
        }
        try writeBytes(msg)
        let fc = try readReply()
        let t1 = nowNs()
        if fc == 250 {
            acked += 1
            if measuredWindow {
                latencies.append(t1 &- t0)
                measured += 1
                lastDoneNs = t1
            }
            return true
        }
        bump("final \(fc)")
        return false
    }

    func run() {
        do {
            try handshake()
        } catch let e as IOFail {
            setupError = e.key
        } catch {
            setupError = "\(error)"
        }
        _ = shared.ready.wrappingAdd(1, ordering: .acquiringAndReleasing)
        while !shared.go.load(ordering: .acquiring) {
            if shared.abort.load(ordering: .acquiring) { closeConn(); return }
            usleep(200)
        }
        if setupError != nil { closeConn(); return }
        let warmupEnd = shared.warmupEndNs.load(ordering: .relaxed)
        let deadline = shared.deadlineNs.load(ordering: .relaxed)
        let fixedCount = o.messages > 0
        while true {
            let now = nowNs()
            if !fixedCount && now >= deadline { break }
            let idx = shared.next.wrappingAdd(1, ordering: .relaxed).oldValue
            if fixedCount && idx >= o.messages { break }
            let rcpt: String
            if let single = o.singleUser {
                rcpt = "\(single)@\(o.domain)"
            } else {
                rcpt = "\(o.userPrefix)\(o.userStart + idx % o.users)@\(o.domain)"
            }
            attempted += 1
            do {
                _ = try deliverOne(rcpt: rcpt, globalIndex: idx, measuredWindow: now >= warmupEnd)
            } catch let e as IOFail {
                bump(e.key)
                closeConn()
                guard reconnects < o.maxReconnects, fixedCount || nowNs() < deadline else { return }
                reconnects += 1
                do { try handshake() } catch let e2 as IOFail { bump("reconnect " + e2.key); return } catch { return }
            } catch {
                bump("\(error)")
                closeConn()
                return
            }
        }
        if fd >= 0 {
            _ = try? writeString("QUIT\r\n")
            _ = try? readReply()
            closeConn()
        }
    }
}


// MARK: - threads

/// Starts `w.run()` on a new joinable POSIX thread. Lives outside main.swift so the C
/// callback is not inferred to be main-actor isolated.
func startThread(_ w: Worker) -> pthread_t {
    #if canImport(Glibc)
    var tid = pthread_t()
    #else
    var tid: pthread_t? = nil
    #endif
    let ctx = Unmanaged.passRetained(w).toOpaque()
    let rc = pthread_create(&tid, nil, { arg in
        let w = Unmanaged<Worker>.fromOpaque(arg!).takeRetainedValue()
        w.run()
        return nil
    }, ctx)
    if rc != 0 { eprint("pthread_create failed: \(rc)"); exit(1) }
    #if canImport(Glibc)
    return tid
    #else
    return tid!
    #endif
}
