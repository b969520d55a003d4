import NIOCore
import Synchronization
import Testing

@testable import IMAPServer

/// The layer-change rule for input, and the change signal's wake-ups.
@Suite struct ChangeSignalTests {
    @Test func aChunkFromAfterTheLayerChangeIsKept() {
        var filter = InputLayerFilter()
        // 10 bytes reached the session before the change; the next 5 came after it.
        let command = filter.admit(ByteBuffer(string: "a STARTTLS"))
        filter.dropThrough(10)
        let next = filter.admit(ByteBuffer(string: "b OK!"))
        #expect(command && next)
    }

    @Test func chunksFromBeforeTheLayerChangeAreDropped() {
        var filter = InputLayerFilter()
        let command = filter.admit(ByteBuffer(string: "a STARTTLS\r\n"))
        // The transport counted 24 bytes before TLS: the next plaintext chunk is dropped.
        filter.dropThrough(24)
        let injected = filter.admit(ByteBuffer(string: "x INJECTED\r\n"))
        let next = filter.admit(ByteBuffer(string: "c NOOP\r\n"))
        #expect(command && !injected && next)
        #expect(filter.received == 32)
    }

    @Test func oneWakeUpIsOutstandingAtATime() {
        let wakes = Atomic<Int>(0)
        let signal = ChangeSignal(wake: { wakes.add(1, ordering: .relaxed) })
        signal.mailboxChanged()
        signal.mailboxChanged()
        #expect(wakes.load(ordering: .relaxed) == 1)
        signal.wakeTaken()
        #expect(signal.takeChanged())
        #expect(!signal.takeChanged())
        // A change after the wake-up was taken asks for a new one.
        signal.mailboxChanged()
        #expect(wakes.load(ordering: .relaxed) == 2)
    }
}
