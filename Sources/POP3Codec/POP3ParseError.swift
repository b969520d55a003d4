/// Why a POP3 command line could not be parsed; `text` goes to the client after `-ERR`.
public struct POP3ParseError: Error, Hashable, Sendable {
    public let text: String

    public init(_ text: String) { self.text = text }

    public static let syntax = POP3ParseError("Syntax error")
    public static let unrecognized = POP3ParseError("Unrecognized command")
    public static let missingArgument = POP3ParseError("Missing argument")
    public static let extraArgument = POP3ParseError("Unexpected extra argument")
    public static let notANumber = POP3ParseError("Not a number")
}
