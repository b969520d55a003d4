import NIOCore
import Synchronization

/// The single queue a connection's driver waits on: input chunks from the client and wake-ups
/// from the mailbox it watches.
///
/// Input keeps its backpressure: ``send(_:)`` suspends the reader while a chunk is waiting, so a
/// client cannot make the server buffer more than one chunk ahead of what it has processed.
final class ConnectionEvents: Sendable {
    enum Event: Sendable {
        case input(ByteBuffer)
        case mailboxChanged
        case inputEnded
    }

    private struct State {
        var chunk: ByteBuffer?
        var changed = false
        var ended = false
        var closed = false
        /// Input bytes taken from the client so far.
        var received = 0
        /// Input up to this count is dropped (bytes from before a STARTTLS/COMPRESS layer).
        var dropThrough = 0
        var consumer: CheckedContinuation<Event, Never>?
        var producer: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    /// Hands one input chunk to the driver; returns once the driver has taken it.
    func send(_ chunk: ByteBuffer) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let (consumer, closed) = state.withLock { state -> (CheckedContinuation<Event, Never>?, Bool) in
                if state.closed { return (nil, true) }
                state.received += chunk.readableBytes
                // A chunk from before the layer change: whole chunks only, as the layer boundary
                // falls between reads.
                if state.received <= state.dropThrough { return (nil, true) }
                if let consumer = state.consumer {
                    state.consumer = nil
                    return (consumer, false)
                }
                state.chunk = chunk
                state.producer = continuation
                return (nil, false)
            }
            if closed {
                continuation.resume()
            } else if let consumer {
                consumer.resume(returning: .input(chunk))
                continuation.resume()
            }
        }
    }

    /// The driver is done: later input is dropped and a waiting reader released.
    func close() {
        let producer = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.closed = true
            state.chunk = nil
            defer { state.producer = nil }
            return state.producer
        }
        producer?.resume()
    }

    /// The client's input ended (or failed).
    func finish() {
        let consumer = state.withLock { state -> CheckedContinuation<Event, Never>? in
            state.ended = true
            defer { state.consumer = nil }
            return state.consumer
        }
        consumer?.resume(returning: .inputEnded)
    }

    /// Marks the watched mailbox changed (callable from any thread).
    func mailboxChanged() {
        let consumer = state.withLock { state -> CheckedContinuation<Event, Never>? in
            if let consumer = state.consumer {
                state.consumer = nil
                return consumer
            }
            state.changed = true
            return nil
        }
        consumer?.resume(returning: .mailboxChanged)
    }

    /// Clears a pending change mark, returning whether one was set.
    func takeChanged() -> Bool {
        state.withLock { state in
            defer { state.changed = false }
            return state.changed
        }
    }

    /// Drops every input byte up to `count` (the transport's tally at a layer change),
    /// including a chunk already waiting; returns how many bytes that dropped beyond the
    /// session's own buffer.
    func discardInput(through count: Int) -> Int {
        let (producer, dropped) = state.withLock { state -> (CheckedContinuation<Void, Never>?, Int) in
            state.dropThrough = count
            // Only one chunk waits, and it ends at `received`: it predates the layer change only
            // if that is within the count. A chunk from after it (the client's first bytes in
            // the new layer, read quickly) is kept.
            guard let chunk = state.chunk, state.received <= count else { return (nil, 0) }
            state.chunk = nil
            defer { state.producer = nil }
            return (state.producer, chunk.readableBytes)
        }
        producer?.resume()
        return dropped
    }

    /// Whether an input chunk is waiting to be taken.
    var hasQueuedInput: Bool { state.withLock { $0.chunk != nil } }

    /// The next event: a waiting input chunk first, then a change mark, then the end.
    func next() async -> Event {
        await withCheckedContinuation { (continuation: CheckedContinuation<Event, Never>) in
            let ready = state.withLock { state -> (Event, CheckedContinuation<Void, Never>?)? in
                if let chunk = state.chunk {
                    state.chunk = nil
                    defer { state.producer = nil }
                    return (.input(chunk), state.producer)
                }
                if state.changed {
                    state.changed = false
                    return (.mailboxChanged, nil)
                }
                if state.ended { return (.inputEnded, nil) }
                state.consumer = continuation
                return nil
            }
            if let (event, producer) = ready {
                producer?.resume()
                continuation.resume(returning: event)
            }
        }
    }
}
