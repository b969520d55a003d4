// lmtp-sink: a do-nothing LMTP server (accepts everything, stores nothing) used only to
// measure the load generator's own ceiling: `bench/lmtp/run` with BENCH_SERVERS=sink.
// One blocking thread per connection; replies are buffered and flushed when the
// input buffer runs dry, so pipelined MAIL/RCPT/DATA cost one write.
//
// usage: lmtp-sink PORT   (binds 127.0.0.1 only)

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class Conn: @unchecked Sendable {
    let fd: Int32
    var inbuf = [UInt8](repeating: 0, count: 1 << 16)
    var start = 0
    var end = 0
    var out: [UInt8] = []
    var inData = false
    var rcpts = 0

    init(fd: Int32) { self.fd = fd }

    func flush() -> Bool {
        var off = 0
        while off < out.count {
            let n = out.withUnsafeBytes { p in send(fd, p.baseAddress! + off, p.count - off, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { if n < 0 && errno == EINTR { continue }; return false }
            off += n
        }
        out.removeAll(keepingCapacity: true)
        return true
    }

    func reply(_ s: StaticString) { out.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount)) }

    func handle(line: Range<Int>) -> Bool {
        if inData {
            if line.count == 1 && inbuf[line.lowerBound] == UInt8(ascii: ".") {
                inData = false
                for _ in 0..<max(rcpts, 1) { reply("250 2.0.0 stored nowhere\r\n") }
                rcpts = 0
            }
            return true
        }
        guard line.count >= 4 else { reply("500 5.5.2 what\r\n"); return true }
        let verb = inbuf[line.lowerBound..<(line.lowerBound + 4)].map { $0 & 0xDF }
        switch String(decoding: verb, as: UTF8.self) {
        case "LHLO": reply("250-sink.example.com\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n")
        case "MAIL": rcpts = 0; reply("250 2.1.0 ok\r\n")
        case "RCPT": rcpts += 1; reply("250 2.1.5 ok\r\n")
        case "DATA":
            if rcpts == 0 { reply("503 5.5.1 no recipients\r\n") } else { inData = true; reply("354 go ahead\r\n") }
        case "RSET": rcpts = 0; reply("250 2.0.0 ok\r\n")
        case "NOOP": reply("250 2.0.0 ok\r\n")
        case "QUIT": reply("221 2.0.0 bye\r\n"); return false
        default: reply("500 5.5.2 unknown command\r\n")
        }
        return true
    }

    func run() {
        reply("220 sink.example.com LMTP sink ready\r\n")
        guard flush() else { close(fd); return }
        outer: while true {
            if start == end { start = 0; end = 0 }
            if end == inbuf.count {
                let len = end - start
                let from = start
                inbuf.withUnsafeMutableBytes { p in _ = memmove(p.baseAddress!, p.baseAddress! + from, len) }
                start = 0; end = len
                if end == inbuf.count { break }
            }
            let n = inbuf.withUnsafeMutableBytes { p in recv(fd, p.baseAddress! + end, p.count - end, 0) }
            if n <= 0 { if n < 0 && errno == EINTR { continue }; break }
            let scanFrom = end
            end += n
            var i = scanFrom
            while i < end {
                if inbuf[i] == 10 {
                    var le = i
                    if le > start && inbuf[le - 1] == 13 { le -= 1 }
                    let keep = handle(line: start..<le)
                    start = i + 1
                    if !keep { _ = flush(); break outer }
                }
                i += 1
            }
            if !out.isEmpty && !flush() { break }
        }
        close(fd)
    }
}

func startDetached(_ conn: Conn) {
    var tid = pthread_t()
    var attr = pthread_attr_t()
    pthread_attr_init(&attr)
    pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
    let ctx = Unmanaged.passRetained(conn).toOpaque()
    _ = pthread_create(&tid, &attr, { arg in
        Unmanaged<Conn>.fromOpaque(arg!).takeRetainedValue().run()
        return nil
    }, ctx)
    pthread_attr_destroy(&attr)
}
