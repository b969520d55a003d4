import MailStore
import Synchronization

/// Routes the store's change notifications to the sessions watching each mailbox.
///
/// One subscription to the store's feed per server; each session registers the mailbox it has
/// selected and is woken only by changes to that mailbox, so 10,000 idle sessions cost nothing
/// per delivery elsewhere.
public final class MailboxChangeHub: Sendable {
    private struct State {
        var watchers: [String: [Int: @Sendable () -> Void]] = [:]
        var nextID = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Forwards the store's notifications until the stream ends (run it in a service task).
    public func run(_ notifications: AsyncStream<ChangeEvent>) async {
        for await event in notifications {
            guard let mailbox = event.mailbox else { continue }
            notify(mailbox: mailbox)
        }
    }

    /// Wakes the watchers of `mailbox` (an internal name).
    public func notify(mailbox: String) {
        let wake = state.withLock { Array(($0.watchers[mailbox] ?? [:]).values) }
        for callback in wake { callback() }
    }

    /// Registers `callback` for changes to `mailbox`; returns a token for ``unwatch(_:)``.
    public func watch(mailbox: String, _ callback: @escaping @Sendable () -> Void) -> WatchToken {
        state.withLock { state in
            state.nextID += 1
            state.watchers[mailbox, default: [:]][state.nextID] = callback
            return WatchToken(mailbox: mailbox, id: state.nextID)
        }
    }

    public func unwatch(_ token: WatchToken) {
        state.withLock { state in
            state.watchers[token.mailbox]?[token.id] = nil
            if state.watchers[token.mailbox]?.isEmpty == true { state.watchers[token.mailbox] = nil }
        }
    }

    public struct WatchToken: Sendable {
        let mailbox: String
        let id: Int
    }
}
