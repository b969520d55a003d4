/// The client message of SASL PLAIN (RFC 4616 §2): `[authzid] NUL authcid NUL passwd`.
public struct SASLPlainMessage: Sendable {
    public var authorizationID: String
    public var authenticationID: String
    public var password: String

    /// Nil unless the message has exactly the three NUL-separated parts.
    public init?(_ message: [UInt8]) {
        let parts = message.split(separator: 0, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        authorizationID = String(decoding: parts[0], as: UTF8.self)
        authenticationID = String(decoding: parts[1], as: UTF8.self)
        password = String(decoding: parts[2], as: UTF8.self)
    }

    /// Whether the client asks to act as someone other than who it authenticates as (proxy
    /// authorization), which Corvid does not permit.
    public var asksForProxyAuthorization: Bool {
        !authorizationID.isEmpty && authorizationID != authenticationID
    }
}
