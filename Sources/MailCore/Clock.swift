/// Seconds since the Unix epoch, with sub-second precision.
///
/// Time enters state machines and store rules as a value of this type, never read inside them.
public typealias UnixTime = Double
