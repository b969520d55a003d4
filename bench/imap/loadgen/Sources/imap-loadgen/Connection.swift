// Blocking TCP connection with a line reader, and on top of it a minimal IMAP client
// (tagged commands, server literals `{N}` framed correctly, client literals synchronising or
// LITERAL+) and a minimal lock-step LMTP client.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum IOFail: Error, CustomStringConvertible {
    case closed
    case timeout
    case sys(String, Int32)
    case proto(String)

    var description: String {
        switch self {
        case .closed: return "connection closed"
        case .timeout: return "timeout"
        case .sys(let op, let e): return "\(op): \(String(cString: strerror(e)))"
        case .proto(let s): return s
        }
    }
}

@inline(__always) func nowNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func eprint(_ s: String) {
    var s = s
    s.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

/// A blocking TCP connection with read/write timeouts and a growable read buffer.
final class Conn {
    var fd: Int32 = -1
    var rbuf = [UInt8](repeating: 0, count: 1 << 16)
    var rstart = 0
    var rend = 0
    /// Bytes received so far (including framing), for throughput figures.
    var bytesIn = 0

    init(host: String, port: UInt16, timeout: Double) throws {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var res: UnsafeMutablePointer<addrinfo>? = nil
        let rc = getaddrinfo(host, String(port), &hints, &res)
        guard rc == 0, let first = res else { throw IOFail.proto("getaddrinfo \(host) failed") }
        defer { freeaddrinfo(res) }
        let s = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard s >= 0 else { throw IOFail.sys("socket", errno) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: .init((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        if connect(s, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 {
            let e = errno
            #if canImport(Glibc)
            _ = Glibc.close(s)
            #else
            _ = Darwin.close(s)
            #endif
            throw IOFail.sys("connect", e)
        }
        var one: Int32 = 1
        setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        fd = s
    }

    deinit { close() }

    func close() {
        if fd >= 0 {
            #if canImport(Glibc)
            _ = Glibc.close(fd)
            #else
            _ = Darwin.close(fd)
            #endif
        }
        fd = -1
    }

    func write(_ p: UnsafeRawBufferPointer) throws {
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

    func write(_ b: [UInt8]) throws { try b.withUnsafeBytes { try write($0) } }
    func write(_ s: String) throws {
        var s = s
        try s.withUTF8 { try write(UnsafeRawBufferPointer($0)) }
    }

    /// Reads more bytes into rbuf (at least one), compacting or growing it first.
    func fill() throws {
        if rstart == rend { rstart = 0; rend = 0 }
        if rend == rbuf.count {
            if rstart > 0 {
                let len = rend - rstart, from = rstart
                rbuf.withUnsafeMutableBytes { p in _ = memmove(p.baseAddress!, p.baseAddress! + from, len) }
                rstart = 0
                rend = len
            } else {
                rbuf.append(contentsOf: repeatElement(0, count: rbuf.count))
            }
        }
        while true {
            let n = rbuf.withUnsafeMutableBytes { p in recv(fd, p.baseAddress! + rend, p.count - rend, 0) }
            if n > 0 { rend += n; bytesIn += n; return }
            if n == 0 { throw IOFail.closed }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { throw IOFail.timeout }
            throw IOFail.sys("recv", errno)
        }
    }

    /// Reads one line; returns its range (without CRLF) inside rbuf, valid until the next read.
    func readLine() throws -> Range<Int> {
        var scan = rstart
        while true {
            let found: Int? = rbuf.withUnsafeBytes { p in
                guard scan < rend, let q = memchr(p.baseAddress! + scan, 10, rend - scan) else { return nil }
                return p.baseAddress!.distance(to: UnsafeRawPointer(q))
            }
            if let i = found {
                let start = rstart
                var end = i
                if end > start && rbuf[end - 1] == 13 { end -= 1 }
                rstart = i + 1
                return start..<end
            }
            let consumed = rend - rstart
            try fill()
            scan = rstart + consumed
        }
    }

    /// Consumes exactly n bytes (a literal's payload) without keeping them.
    func skip(_ n: Int) throws {
        var left = n
        while left > 0 {
            if rstart == rend { try fill() }
            let take = min(left, rend - rstart)
            rstart += take
            left -= take
        }
    }

    func string(_ r: Range<Int>) -> String { String(decoding: rbuf[r], as: UTF8.self) }
}

/// Result of one tagged IMAP command.
struct IMAPResult {
    var status = ""            // OK / NO / BAD
    var text = ""              // the tagged line
    var untagged: [String] = []   // untagged lines, literal payloads replaced by "{N}" (only if kept)
    var untaggedCount = 0
    var literalBytes = 0
    var literalCount = 0
    var ok: Bool { status == "OK" }
}

struct CommandFailed: Error, CustomStringConvertible {
    let command: String
    let response: String
    var description: String { "C: \(command)  S: \(response)" }
}

/// A minimal IMAP4rev1 client over a blocking connection.
final class IMAPClient {
    let conn: Conn
    var tagN = 0
    var capabilities: Set<String> = []

    init(host: String, port: UInt16, timeout: Double) throws {
        conn = try Conn(host: host, port: port, timeout: timeout)
        let g = conn.string(try conn.readLine())
        guard g.hasPrefix("* OK") || g.hasPrefix("* PREAUTH") else { throw IOFail.proto("greeting: \(g)") }
        noteCapabilities(g)
    }

    func close() { conn.close() }

    private func noteCapabilities(_ line: String) {
        // "* OK [CAPABILITY a b c] ..." or "* CAPABILITY a b c"
        var s = Substring(line)
        if let r = s.firstRange(of: "[CAPABILITY ") {
            s = s[r.upperBound...]
            if let e = s.firstIndex(of: "]") { s = s[..<e] }
        } else if s.hasPrefix("* CAPABILITY ") {
            s = s.dropFirst(13)
        } else {
            return
        }
        capabilities = Set(s.split(separator: " ").map { $0.uppercased() })
    }

    func nextTag() -> String {
        tagN += 1
        return "A\(tagN)"
    }

    /// Reads responses up to the tagged completion for `tag`; frames server literals.
    func readResponse(tag: String, keep: Bool) throws -> IMAPResult {
        var res = IMAPResult()
        let tagBytes = Array(tag.utf8) + [32]
        while true {
            var r = try conn.readLine()
            // a tagged completion?
            if r.count > tagBytes.count && conn.rbuf[r.lowerBound..<(r.lowerBound + tagBytes.count)].elementsEqual(tagBytes) {
                res.text = conn.string(r)
                let rest = res.text.dropFirst(tagBytes.count)
                res.status = String(rest.prefix(while: { $0 != " " })).uppercased()
                if res.text.contains("[CAPABILITY ") { noteCapabilities(res.text) }
                return res
            }
            let untagged = r.count >= 2 && conn.rbuf[r.lowerBound] == 42  // "*"
            var line = keep && untagged ? "" : nil as String?
            while true {
                // literal at the end of the line: "{N}"
                var n = -1
                if r.count >= 3 && conn.rbuf[r.upperBound - 1] == 125 {
                    var i = r.upperBound - 2
                    var v = 0, mul = 1, digits = 0
                    while i > r.lowerBound, conn.rbuf[i] >= 48, conn.rbuf[i] <= 57 {
                        v += Int(conn.rbuf[i] - 48) * mul
                        mul *= 10
                        digits += 1
                        i -= 1
                    }
                    if digits > 0 && conn.rbuf[i] == 123 { n = v }
                }
                if line != nil { line! += conn.string(r) }
                if n < 0 { break }
                res.literalBytes += n
                res.literalCount += 1
                if line != nil {
                    // keep small literals (SEARCH/FETCH headers in the mixed workload), skip big ones
                    if n <= 4096 {
                        while conn.rend - conn.rstart < n { try conn.fill() }
                        line! += String(decoding: conn.rbuf[conn.rstart..<(conn.rstart + n)], as: UTF8.self)
                        conn.rstart += n
                    } else {
                        try conn.skip(n)
                    }
                } else {
                    try conn.skip(n)
                }
                r = try conn.readLine()
            }
            if untagged {
                res.untaggedCount += 1
                if let l = line {
                    if l.hasPrefix("* CAPABILITY ") { noteCapabilities(l) }
                    res.untagged.append(l)
                }
            }
        }
    }

    /// Sends `tag command` and waits for its completion.
    @discardableResult
    func command(_ cmd: String, keep: Bool = false) throws -> IMAPResult {
        let tag = nextTag()
        try conn.write("\(tag) \(cmd)\r\n")
        return try readResponse(tag: tag, keep: keep)
    }

    /// Like `command`, but throws unless the server answered OK.
    @discardableResult
    func expectOK(_ cmd: String, keep: Bool = false) throws -> IMAPResult {
        let r = try command(cmd, keep: keep)
        guard r.ok else { throw CommandFailed(command: cmd, response: r.text) }
        return r
    }

    func login(_ user: String, _ pass: String) throws {
        try expectOK("LOGIN \(quoted(user)) \(quoted(pass))")
        if capabilities.isEmpty || !capabilities.contains("IMAP4REV1") && !capabilities.contains("IMAP4REV2") {
            try command("CAPABILITY", keep: true)
        }
    }

    var literalPlus: Bool { capabilities.contains("LITERAL+") }

    /// APPEND with a literal: LITERAL+ when the server advertises it, else synchronising.
    func append(mailbox: String, flags: String, message: [UInt8]) throws -> IMAPResult {
        let tag = nextTag()
        let flagPart = flags.isEmpty ? "" : " (\(flags))"
        if literalPlus {
            var out = Array("\(tag) APPEND \(quoted(mailbox))\(flagPart) {\(message.count)+}\r\n".utf8)
            out += message
            out += [13, 10]
            try conn.write(out)
        } else {
            try conn.write("\(tag) APPEND \(quoted(mailbox))\(flagPart) {\(message.count)}\r\n")
            let cont = conn.string(try conn.readLine())
            guard cont.hasPrefix("+") else {
                return IMAPResult(status: "NO", text: cont)
            }
            var out = message
            out += [13, 10]
            try conn.write(out)
        }
        return try readResponse(tag: tag, keep: false)
    }

    /// IDLE: returns after the continuation request; `done()` ends it.
    func idle() throws -> String {
        let tag = nextTag()
        try conn.write("\(tag) IDLE\r\n")
        while true {
            let l = conn.string(try conn.readLine())
            if l.hasPrefix("+") { return tag }
            if l.hasPrefix(tag + " ") { throw CommandFailed(command: "IDLE", response: l) }
        }
    }

    func done(tag: String) throws -> IMAPResult {
        try conn.write("DONE\r\n")
        return try readResponse(tag: tag, keep: false)
    }
}

func quoted(_ s: String) -> String {
    "\"" + s.replacingOccurrences("\\", "\\\\").replacingOccurrences("\"", "\\\"") + "\""
}

extension String {
    func replacingOccurrences(_ a: String, _ b: String) -> String {
        guard contains(a) else { return self }
        return split(separator: a, omittingEmptySubsequences: false).joined(separator: b)
    }
}

// MARK: - LMTP

/// Lock-step LMTP client (one message at a time); used to populate mailboxes and for the
/// background deliveries of the mixed workload.
final class LMTPClient {
    let conn: Conn

    init(host: String, port: UInt16, timeout: Double) throws {
        conn = try Conn(host: host, port: port, timeout: timeout)
        _ = try reply()
        try conn.write("LHLO bench.example.org\r\n")
        let (code, _) = try reply()
        guard code == 250 else { throw IOFail.proto("LHLO answered \(code)") }
    }

    /// Reads a possibly multi-line reply; returns the code and the last line.
    func reply() throws -> (Int, String) {
        while true {
            let r = try conn.readLine()
            let l = conn.string(r)
            guard l.count >= 3, let code = Int(l.prefix(3)) else { throw IOFail.proto("bad LMTP reply: \(l)") }
            if l.count == 3 || l[l.index(l.startIndex, offsetBy: 3)] == " " { return (code, l) }
        }
    }

    /// Delivers one message (already CRLF, no line starting with "."); throws on anything but 250.
    func deliver(to rcpt: String, message: [UInt8]) throws {
        try conn.write("MAIL FROM:<bench@example.org>\r\n")
        var (c, l) = try reply()
        guard c == 250 else { throw IOFail.proto("MAIL FROM: \(l)") }
        try conn.write("RCPT TO:<\(rcpt)>\r\n")
        (c, l) = try reply()
        guard c == 250 else { throw IOFail.proto("RCPT TO \(rcpt): \(l)") }
        try conn.write("DATA\r\n")
        (c, l) = try reply()
        guard c == 354 else { throw IOFail.proto("DATA: \(l)") }
        var out = message
        out += Array(".\r\n".utf8)
        try conn.write(out)
        (c, l) = try reply()
        guard c == 250 else { throw IOFail.proto("end of DATA for \(rcpt): \(l)") }
    }

    func quit() {
        try? conn.write("QUIT\r\n")
        conn.close()
    }
}
