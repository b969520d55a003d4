import POP3Codec

/// Where each POP3 command may run (RFC 1939 §3: AUTHORIZATION, TRANSACTION; CAPA and QUIT in
/// both, RFC 2449 §5).
enum POP3CommandTable {
    static func states(for command: POP3Command) -> Set<POP3Session.State> {
        switch command {
        case .capa, .quit:
            return [.authorization, .transaction]
        case .user, .pass, .auth, .stls:
            return [.authorization]
        case .stat, .list, .retr, .dele, .noop, .rset, .top, .uidl:
            return [.transaction]
        }
    }
}
