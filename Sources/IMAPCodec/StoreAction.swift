import MailCore

/// The flag change of a STORE command: `[+|-]FLAGS[.SILENT] (flags)`.
public struct StoreAction: Hashable, Sendable {
    public enum Mode: Hashable, Sendable {
        case add, remove, replace
    }

    public var mode: Mode
    public var silent: Bool
    public var flags: [Flag]

    public init(mode: Mode, silent: Bool, flags: [Flag]) {
        self.mode = mode
        self.silent = silent
        self.flags = flags
    }
}

// MARK: - Encoding

extension StoreAction: CustomStringConvertible {
    /// `[+|-]FLAGS[.SILENT] (flags)`
    public var description: String {
        let sign =
            switch mode {
            case .add: "+"
            case .remove: "-"
            case .replace: ""
            }
        return sign + (silent ? "FLAGS.SILENT" : "FLAGS") + " (\(flags.map(\.name).joined(separator: " ")))"
    }
}
