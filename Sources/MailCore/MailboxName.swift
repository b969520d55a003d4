/// A mailbox's internal name, as Cyrus keeps it: `user.alice.Sent`, hierarchy separator `.`.
///
/// Clients never see this form; the IMAP layer maps it to the namespace the config asks for.
/// With `unixhierarchysep: yes` a `.` inside a client's component is kept internally as `^`,
/// so `/` can be the client-side separator (Cyrus's convention).
///
/// Names are never used as file system paths (message files are addressed by GUID), so no
/// name can escape the data directory; validation still rejects empty components, control
/// characters and over-long names so every layer can rely on a clean name.
public struct MailboxName: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The internal form, e.g. `user.alice.Sent`.
    public let internalName: String

    /// Named limit: Cyrus's MAX_MAILBOX_NAME.
    public static let maxLength = 490
    /// The internal hierarchy separator.
    public static let separator: Character = "."

    /// Validates an internal name.
    public init(internal text: String) throws(MailboxNameError) {
        guard !text.isEmpty else { throw .empty }
        guard text.utf8.count <= MailboxName.maxLength else { throw .tooLong }
        guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            throw .controlCharacter
        }
        guard !text.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty) else {
            throw .emptyComponent
        }
        self.internalName = text
    }

    /// The INBOX of `user`.
    public static func inbox(of user: UserName) -> MailboxName {
        // A valid user name always yields a valid mailbox name.
        MailboxName(unchecked: "user." + user.internalComponent)
    }

    private init(unchecked: String) { self.internalName = unchecked }

    /// The components of the internal name.
    public var components: [Substring] { internalName.split(separator: ".") }

    /// The owner of a `user.NAME…` mailbox, or nil for shared mailboxes.
    public var owner: UserName? {
        let parts = components
        guard parts.count >= 2, parts[0] == "user" else { return nil }
        return try? UserName(internalComponent: String(parts[1]))
    }

    /// Whether this is a user's INBOX (`user.NAME`).
    public var isInbox: Bool { components.count == 2 && components[0] == "user" }

    /// The parent mailbox name, or nil at the top.
    public var parent: MailboxName? {
        guard let dot = internalName.lastIndex(of: ".") else { return nil }
        return MailboxName(unchecked: String(internalName[..<dot]))
    }

    /// The name of a child mailbox; `component` is in client form (a `.` becomes `^`).
    public func child(_ component: String) throws(MailboxNameError) -> MailboxName {
        guard !component.isEmpty else { throw .emptyComponent }
        return try MailboxName(internal: internalName + "." + component.replacing(".", with: "^"))
    }

    /// Whether `self` is `other` or lies below it in the hierarchy.
    public func isSelfOrDescendant(of other: MailboxName) -> Bool {
        internalName == other.internalName || internalName.hasPrefix(other.internalName + ".")
    }

    public var description: String { internalName }
    public static func < (lhs: MailboxName, rhs: MailboxName) -> Bool { lhs.internalName < rhs.internalName }
}

/// Why a mailbox name was refused.
public enum MailboxNameError: Error, Hashable, Sendable, CustomStringConvertible {
    case empty, tooLong, controlCharacter, emptyComponent

    public var description: String {
        switch self {
        case .empty: "mailbox name is empty"
        case .tooLong: "mailbox name is longer than \(MailboxName.maxLength) bytes"
        case .controlCharacter: "mailbox name contains a control character"
        case .emptyComponent: "mailbox name has an empty hierarchy component"
        }
    }
}

/// A user's login name.
///
/// Lower-case letters, digits and `. _ - @ +` are allowed, at most ``maxLength`` bytes.
/// Inside mailbox names a `.` is kept as `^`, as Cyrus does with `unixhierarchysep`.
public struct UserName: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The name as the user logs in with it.
    public let name: String

    /// Named limit on a user name's length in bytes.
    public static let maxLength = 64

    public init(_ name: String) throws(UserNameError) {
        guard !name.isEmpty else { throw .empty }
        guard name.utf8.count <= UserName.maxLength else { throw .tooLong }
        guard name.utf8.allSatisfy(UserName.isAllowed) else { throw .invalidCharacter }
        guard name.first != ".", name.last != ".", !name.contains("..") else { throw .invalidCharacter }
        self.name = name
    }

    init(internalComponent: String) throws(UserNameError) {
        try self.init(internalComponent.replacing("^", with: "."))
    }

    /// The form used as a mailbox-name component.
    public var internalComponent: String { name.replacing(".", with: "^") }

    public var description: String { name }
    public static func < (lhs: UserName, rhs: UserName) -> Bool { lhs.name < rhs.name }

    static func isAllowed(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "@"), UInt8(ascii: "+"):
            true
        default:
            false
        }
    }
}

/// Why a user name was refused.
public enum UserNameError: Error, Hashable, Sendable, CustomStringConvertible {
    case empty, tooLong, invalidCharacter

    public var description: String {
        switch self {
        case .empty: "user name is empty"
        case .tooLong: "user name is longer than \(UserName.maxLength) bytes"
        case .invalidCharacter: "user name may contain only a-z, 0-9 and . _ - @ + (no leading, trailing or double dot)"
        }
    }
}
