#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Seconds since the Unix epoch, with sub-second precision.
///
/// Time enters state machines and store rules as a value of this type, never read inside them.
public typealias UnixTime = Double

/// Wall-clock time from the system: the clock every engine and the store default to.
@Sendable public func systemUnixTime() -> UnixTime {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return UnixTime(now.tv_sec) + UnixTime(now.tv_nsec) / 1e9
}
