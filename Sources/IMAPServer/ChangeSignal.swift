import NIOCore
import Synchronization

/// Tells a connection's driver that the mailbox it watches changed.
///
/// The driver waits on its input alone, so an idle session is one suspended task and nothing
/// else (no second task forwarding input, no queue). A change sets a mark and asks the transport
/// for a wake-up: an empty chunk on the session's input (``IMAPTransport/wake()``). At most one
/// wake-up is outstanding; the driver takes the mark when it next refreshes the view.
final class ChangeSignal: Sendable {
    private struct State {
        var changed = false
        var wakePending = false
    }

    private let state = Mutex(State())
    private let wake: @Sendable () -> Void

    init(wake: @escaping @Sendable () -> Void) { self.wake = wake }

    /// Marks the watched mailbox changed (callable from any thread).
    func mailboxChanged() {
        let mustWake = state.withLock { state in
            state.changed = true
            defer { state.wakePending = true }
            return !state.wakePending
        }
        if mustWake { wake() }
    }

    /// The driver took a wake-up: a later change asks for a new one. Call it before
    /// ``takeChanged()``, so a change in between is never left without a wake-up.
    func wakeTaken() { state.withLock { $0.wakePending = false } }

    /// Clears a pending change mark, returning whether one was set.
    func takeChanged() -> Bool {
        state.withLock { state in
            defer { state.changed = false }
            return state.changed
        }
    }
}

/// Which input chunks a session may take after a layer change (STARTTLS, COMPRESS).
///
/// The transport reports how many input bytes reached the session before the new layer was in
/// place; every chunk that ends at or before that count is plaintext sent before the layer and
/// is dropped, never executed (whole chunks only, as the layer boundary falls between reads).
/// The client's first bytes in the new layer are kept, however quickly they were read.
struct InputLayerFilter {
    /// Input bytes taken from the client so far.
    private(set) var received = 0
    /// Input up to this count is dropped.
    private var boundary = 0

    /// Counts `chunk`; true if the session takes it, false if it predates the layer change.
    mutating func admit(_ chunk: ByteBuffer) -> Bool {
        received += chunk.readableBytes
        return received > boundary
    }

    /// Drops every later chunk that ends at or before `count` (the transport's tally at a
    /// layer change).
    mutating func dropThrough(_ count: Int) { boundary = count }
}
