// Entry point of lmtp-sink; see Sink.swift.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let args = CommandLine.arguments
guard args.count == 2, let port = UInt16(args[1]) else {
    print("usage: lmtp-sink PORT")
    exit(2)
}
let ls = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
var one: Int32 = 1
setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
var addr = sockaddr_in()
addr.sin_family = sa_family_t(AF_INET)
addr.sin_port = port.bigEndian
addr.sin_addr.s_addr = inet_addr("127.0.0.1")
let brc = withUnsafePointer(to: &addr) { p in
    p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(ls, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
}
guard brc == 0, listen(ls, 256) == 0 else {
    print("lmtp-sink: cannot listen on 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
    exit(1)
}
while true {
    let c = accept(ls, nil, nil)
    if c < 0 { if errno == EINTR { continue }; break }
    setsockopt(c, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    startDetached(Conn(fd: c))
}
