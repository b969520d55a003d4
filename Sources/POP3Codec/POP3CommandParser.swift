import NIOCore

/// Parses one POP3 command line (without its CRLF).
///
/// Keywords are case-insensitive (RFC 1939 §3). Arguments are separated by single spaces;
/// like Cyrus, the parser tolerates runs of spaces between them, but never in PASS, whose
/// argument is the rest of the line.
public enum POP3CommandParser {
    /// Named limit: the longest argument (user name, mechanism, base64 response) accepted.
    public static let maxArgumentLength = 4096

    /// ```
    /// command   = keyword [SP arguments]
    /// keyword   = 3*4VCHAR                              ; RFC 2449 §3
    /// user      = "USER" SP name
    /// pass      = "PASS" SP string                      ; rest of line, may hold spaces
    /// auth      = "AUTH" [SP mechanism [SP initial-response]]   ; RFC 5034 §4
    /// list      = "LIST" [SP msg]          uidl = "UIDL" [SP msg]
    /// retr      = "RETR" SP msg            dele = "DELE" SP msg
    /// top       = "TOP" SP msg SP lines
    /// msg       = 1*DIGIT                  lines = 1*DIGIT
    /// others    = "STAT" / "NOOP" / "RSET" / "QUIT" / "CAPA" / "STLS"
    /// ```
    public static func parse(_ line: ByteBuffer) throws(POP3ParseError) -> POP3Command {
        let bytes = Array(line.readableBytesView)
        if bytes.contains(0) { throw POP3ParseError("NUL in command") }
        guard let space = bytes.firstIndex(of: UInt8(ascii: " ")) else {
            return try command(keyword(bytes[...]), rest: nil)
        }
        let rest = bytes[(space + 1)...]
        return try command(keyword(bytes[..<space]), rest: rest)
    }

    private static func keyword(_ bytes: ArraySlice<UInt8>) throws(POP3ParseError) -> String {
        guard (1...8).contains(bytes.count), bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw bytes.isEmpty ? POP3ParseError.syntax : POP3ParseError.unrecognized
        }
        return String(decoding: bytes, as: UTF8.self).uppercased()
    }

    private static func command(_ keyword: String, rest: ArraySlice<UInt8>?) throws(POP3ParseError) -> POP3Command {
        if keyword == "PASS" {
            // The password is everything after the first space, as RFC 1939 §7 notes.
            guard let rest, !rest.isEmpty else { throw .missingArgument }
            guard rest.count <= maxArgumentLength else { throw POP3ParseError("Argument too long") }
            return .pass(String(decoding: rest, as: UTF8.self))
        }
        let arguments = try Self.arguments(rest)
        switch keyword {
        case "USER":
            return .user(try exactlyOne(arguments))
        case "AUTH":
            guard arguments.count <= 2 else { throw .extraArgument }
            return .auth(
                mechanism: arguments.first?.uppercased(),
                initialResponse: arguments.count == 2 ? arguments[1] : nil
            )
        case "STLS": return try none(arguments, .stls)
        case "CAPA": return try none(arguments, .capa)
        case "STAT": return try none(arguments, .stat)
        case "NOOP": return try none(arguments, .noop)
        case "RSET": return try none(arguments, .rset)
        case "QUIT": return try none(arguments, .quit)
        case "LIST": return .list(try optionalNumber(arguments))
        case "UIDL": return .uidl(try optionalNumber(arguments))
        case "RETR": return .retr(try number(try exactlyOne(arguments)))
        case "DELE": return .dele(try number(try exactlyOne(arguments)))
        case "TOP":
            guard arguments.count >= 2 else { throw .missingArgument }
            guard arguments.count == 2 else { throw .extraArgument }
            let message = try number(arguments[0])
            guard let lines = Int(arguments[1]), lines >= 0, arguments[1].allSatisfy(\.isASCII) else {
                throw POP3ParseError("Invalid number of lines")
            }
            return .top(message, lines: lines)
        default:
            throw .unrecognized
        }
    }

    /// Space-separated arguments; a line ending in spaces only means "no argument" (the
    /// `AUTH ` that Outlook sends).
    private static func arguments(_ rest: ArraySlice<UInt8>?) throws(POP3ParseError) -> [String] {
        guard let rest else { return [] }
        guard rest.count <= maxArgumentLength else { throw POP3ParseError("Argument too long") }
        return rest.split(separator: UInt8(ascii: " ")).map { String(decoding: $0, as: UTF8.self) }
    }

    private static func none(_ arguments: [String], _ command: POP3Command) throws(POP3ParseError) -> POP3Command {
        guard arguments.isEmpty else { throw .extraArgument }
        return command
    }

    private static func exactlyOne(_ arguments: [String]) throws(POP3ParseError) -> String {
        guard let first = arguments.first else { throw .missingArgument }
        guard arguments.count == 1 else { throw .extraArgument }
        return first
    }

    private static func optionalNumber(_ arguments: [String]) throws(POP3ParseError) -> Int? {
        guard !arguments.isEmpty else { return nil }
        return try number(try exactlyOne(arguments))
    }

    /// msg = 1*DIGIT (at most 10 digits; a message number never exceeds UInt32)
    private static func number(_ text: String) throws(POP3ParseError) -> Int {
        guard (1...10).contains(text.utf8.count), text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let value = Int(text)
        else { throw .notANumber }
        return value
    }
}
