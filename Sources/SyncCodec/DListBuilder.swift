/// Assembles one dlist value from the decoder's tokens, enforcing the nesting and item limits.
///
/// Open lists and kvlists are kept as a stack of frames, appended to in place, so a large
/// `RECORD ( … )` list is built in linear time as its bytes arrive.
struct DListBuilder: Sendable {
    /// A structural error or a limit exceeded; the decoder turns it into a ``SyncProtocolError``.
    struct Failure: Error {
        let code: SyncProtocolError.Code
        let detail: String
    }

    private struct Frame: Sendable {
        var isKeyValue: Bool
        var values: [DList] = []
        var items: [DList.Item] = []
        var pendingKey: String?
    }

    private var frames: [Frame] = []
    /// The finished top-level value.
    private(set) var root: DList?

    /// True once the top-level value is finished.
    var isComplete: Bool { root != nil }

    /// True when the next token must be the key of a kvlist entry.
    var expectingKey: Bool {
        guard let top = frames.last else { return false }
        return top.isKeyValue && top.pendingKey == nil
    }

    /// True while a list or kvlist is open.
    var isNested: Bool { !frames.isEmpty }

    /// Drops everything, for the next line.
    mutating func reset() {
        frames = []
        root = nil
    }

    /// Records the key of the next kvlist entry; only when ``expectingKey``.
    mutating func setKey(_ key: String) {
        frames[frames.count - 1].pendingKey = key
    }

    /// Opens a list or kvlist, within ``SyncLimits/maxNestingDepth``.
    mutating func open(keyValue: Bool, limits: SyncLimits) throws(Failure) {
        guard frames.count < limits.maxNestingDepth else {
            throw Failure(code: .nestingTooDeep, detail: "lists nested deeper than \(limits.maxNestingDepth)")
        }
        frames.append(Frame(isKeyValue: keyValue))
    }

    /// Closes the innermost list or kvlist and adds it to its parent.
    mutating func close(limits: SyncLimits) throws(Failure) {
        guard let frame = frames.popLast() else { throw Failure(code: .malformedDList, detail: "unbalanced )") }
        guard frame.pendingKey == nil else { throw Failure(code: .malformedDList, detail: "key without a value") }
        try add(frame.isKeyValue ? .kvlist(frame.items) : .list(frame.values), limits: limits)
    }

    /// Adds a finished value to the innermost open container (or makes it the root), within
    /// ``SyncLimits/maxListItems``.
    mutating func add(_ value: DList, limits: SyncLimits) throws(Failure) {
        guard !frames.isEmpty else {
            root = value
            return
        }
        let top = frames.count - 1
        if frames[top].isKeyValue {
            guard let key = frames[top].pendingKey else {
                throw Failure(code: .malformedDList, detail: "a key must be a string")
            }
            frames[top].items.append(DList.Item(key, value))
            frames[top].pendingKey = nil
            guard frames[top].items.count <= limits.maxListItems else {
                throw Failure(code: .tooManyItems, detail: "more than \(limits.maxListItems) entries in a kvlist")
            }
        } else {
            frames[top].values.append(value)
            guard frames[top].values.count <= limits.maxListItems else {
                throw Failure(code: .tooManyItems, detail: "more than \(limits.maxListItems) elements in a list")
            }
        }
    }
}
