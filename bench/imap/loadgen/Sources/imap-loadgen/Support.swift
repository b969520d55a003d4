// Options, threads, statistics, JSON output and the deterministic test messages.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

// MARK: - Options

/// `--key value` pairs after the subcommand.
struct Options {
    var values: [String: String] = [:]

    init(_ args: ArraySlice<String>) {
        var it = args.makeIterator()
        while let a = it.next() {
            guard a.hasPrefix("--") else { fail("unexpected argument \(a)") }
            guard let v = it.next() else { fail("missing value for \(a)") }
            values[String(a.dropFirst(2))] = v
        }
    }

    func str(_ k: String, _ d: String? = nil) -> String {
        if let v = values[k] { return v }
        if let d { return d }
        fail("--\(k) is required")
    }
    func int(_ k: String, _ d: Int? = nil) -> Int {
        if let v = values[k] { guard let i = Int(v) else { fail("bad integer for --\(k): \(v)") }; return i }
        if let d { return d }
        fail("--\(k) is required")
    }
    func dbl(_ k: String, _ d: Double) -> Double {
        if let v = values[k] { guard let x = Double(v) else { fail("bad number for --\(k): \(v)") }; return x }
        return d
    }
    func list(_ k: String, _ d: String? = nil) -> [String] {
        str(k, d).split(separator: ",").map(String.init)
    }
    var host: String { str("host", "127.0.0.1") }
    var port: UInt16 { UInt16(int("port")) }
    var pass: String { str("pass", "pass") }
    var timeout: Double { dbl("timeout", 60) }
}

func fail(_ s: String) -> Never {
    eprint("imap-loadgen: \(s)\n")
    exit(2)
}

// MARK: - Threads

final class ThreadBody: @unchecked Sendable {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

/// Runs `body(i)` for i in 0..<n on n OS threads (256 KiB stacks) and waits for all of them.
func parallel(_ n: Int, _ body: @escaping (Int) -> Void) {
    var threads: [pthread_t] = []
    for i in 0..<n {
        let box = Unmanaged.passRetained(ThreadBody { body(i) }).toOpaque()
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        pthread_attr_setstacksize(&attr, 256 * 1024)
        #if canImport(Glibc)
        var t = pthread_t()
        #else
        var t: pthread_t? = nil
        #endif
        let rc = pthread_create(&t, &attr, { p in
            let b = Unmanaged<ThreadBody>.fromOpaque(p!).takeRetainedValue()
            b.run()
            return nil
        }, box)
        pthread_attr_destroy(&attr)
        guard rc == 0 else { fail("pthread_create failed: \(rc)") }
        #if canImport(Glibc)
        threads.append(t)
        #else
        threads.append(t!)
        #endif
    }
    for t in threads { pthread_join(t, nil) }
}

/// Per-thread result slots, written by one thread each and read after `parallel` returns.
final class Slots<T>: @unchecked Sendable {
    var items: [T]
    init(_ n: Int, _ v: T) { items = Array(repeating: v, count: n) }
}

func sleepSeconds(_ s: Double) {
    var ts = timespec(tv_sec: Int(s), tv_nsec: Int((s - Double(Int(s))) * 1e9))
    var rem = timespec()
    while nanosleep(&ts, &rem) != 0 && errno == EINTR { ts = rem }
}

func cpuSeconds() -> Double {
    var ru = rusage()
    #if canImport(Glibc)
    getrusage(RUSAGE_SELF.rawValue, &ru)
    #else
    getrusage(RUSAGE_SELF, &ru)
    #endif
    return Double(ru.ru_utime.tv_sec) + Double(ru.ru_utime.tv_usec) / 1e6
        + Double(ru.ru_stime.tv_sec) + Double(ru.ru_stime.tv_usec) / 1e6
}

// MARK: - Statistics

func ms(_ ns: UInt64) -> Double { Double(ns) / 1e6 }

func percentile(_ sorted: [UInt64], _ q: Double) -> Double? {
    guard !sorted.isEmpty else { return nil }
    let i = min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.up)) - 1)
    return ms(sorted[max(0, i)])
}

func median(_ xs: [Double]) -> Double? {
    guard !xs.isEmpty else { return nil }
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

// MARK: - JSON

/// A JSON value, enough for the result files.
indirect enum JSON {
    case num(Double?)
    case int(Int)
    case str(String)
    case bool(Bool)
    case arr([JSON])
    case obj([(String, JSON)])

    var text: String {
        switch self {
        case .num(let d):
            guard let d, d.isFinite else { return "null" }
            return String(Double(Int64((d * 1000).rounded())) / 1000)
        case .int(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        case .str(let s):
            var out = "\""
            for u in s.unicodeScalars {
                switch u {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                default:
                    if u.value < 0x20 { out += "\\u00" + (u.value < 16 ? "0" : "") + String(u.value, radix: 16) } else { out.unicodeScalars.append(u) }
                }
            }
            return out + "\""
        case .arr(let a): return "[" + a.map(\.text).joined(separator: ", ") + "]"
        case .obj(let o): return "{" + o.map { JSON.str($0.0).text + ": " + $0.1.text }.joined(separator: ", ") + "}"
        }
    }
}

func writeJSON(_ j: JSON, to path: String?) {
    let text = j.text + "\n"
    guard let path else { print(text, terminator: ""); return }
    guard let f = fopen(path, "w") else { fail("cannot write \(path)") }
    fputs(text, f)
    fclose(f)
}

// MARK: - Messages

/// Words for the message bodies; neither search word of row 3 is among them.
let vocabulary = ("the meeting notes attached below cover quarterly budget review project timeline "
    + "customer feedback release planning team schedule invoice shipment order status update please "
    + "confirm receipt tomorrow morning afternoon office remote travel expense report draft final "
    + "version comments welcome regards thanks again hello colleagues summary agenda minutes action "
    + "items owner deadline priority server network storage backup migration").split(separator: " ").map(String.init)

let runTag: String = {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return "\(getpid()).\(ts.tv_sec).\(ts.tv_nsec / 1000)"
}()

func rfc5322Date() -> String {
    var t = time(nil)
    var tmv = tm()
    gmtime_r(&t, &tmv)
    var buf = [Int8](repeating: 0, count: 64)
    let n = strftime(&buf, buf.count, "%a, %d %b %Y %H:%M:%S +0000", &tmv)
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// A deterministic 7-bit text message of exactly `size` bytes (CRLF lines, none starting
/// with "."), unique Message-ID. `marker` (if any) appears once in the body.
func makeMessage(index: Int, size: Int, to: String, marker: String? = nil, tag: String = "bench") -> [UInt8] {
    var head = "From: Sender \(index % 50) <sender\(index % 50)@example.org>\r\n"
    head += "To: <\(to)>\r\n"
    head += "Subject: \(tag) message \(index) \(vocabulary[index % vocabulary.count])\r\n"
    head += "Date: \(rfc5322Date())\r\n"
    head += "Message-ID: <\(tag).\(index).\(runTag)@bench.example.org>\r\n"
    head += "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
    var out = Array(head.utf8)
    if let marker { out += Array("Reference word: \(marker)\r\n".utf8) }
    var seed = UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15 &+ 1
    var line: [UInt8] = []
    while out.count + line.count + 2 < size {
        seed = seed &* 6364136223846793005 &+ 1442695040888963407
        let w = vocabulary[Int((seed >> 33) % UInt64(vocabulary.count))]
        if line.count + w.utf8.count + 1 > 72 {
            out += line + [13, 10]
            line = []
        } else {
            if !line.isEmpty { line.append(32) }
            line += Array(w.utf8)
        }
    }
    out += line
    // pad to the exact size with a last line of "x"
    let left = size - out.count - 2
    if left > 0 { out += [13, 10] + Array(repeating: 120, count: max(0, left - 2)) }
    out += [13, 10]
    if out.count > size && size > head.utf8.count + 64 { out = Array(out.prefix(size - 2)) + [13, 10] }
    return out
}
