import NIOCore
import Testing

@testable import IMAPServer

/// The input queue's layer-change rule: bytes from before STARTTLS/COMPRESS are dropped, the
/// client's first bytes in the new layer are not, however quickly they were read.
@Suite struct ConnectionEventsTests {
    @Test func aChunkFromAfterTheLayerChangeIsKept() async {
        let events = ConnectionEvents()
        // 10 bytes reached the session before the change; the next 5 came after it and are
        // already waiting in the queue when the driver discards.
        let first = Task { await events.send(ByteBuffer(string: "a STARTTLS")) }
        guard case .input(let chunk) = await events.next() else {
            Issue.record("expected input")
            return
        }
        #expect(chunk.readableBytes == 10)
        await first.value
        let second = Task { await events.send(ByteBuffer(string: "b OK!")) }
        // Wait until the second chunk is queued (the producer suspends on it).
        while !events.hasQueuedInput { await Task.yield() }
        #expect(events.discardInput(through: 10) == 0)
        events.finish()  // so a wrongly dropped chunk shows as the end of input, not a hang
        guard case .input(let kept) = await events.next() else {
            Issue.record("the post-layer chunk was dropped")
            return
        }
        #expect(String(buffer: kept) == "b OK!")
        await second.value
    }

    @Test func chunksFromBeforeTheLayerChangeAreDropped() async {
        let events = ConnectionEvents()
        let producer = Task {
            await events.send(ByteBuffer(string: "a STARTTLS\r\n"))
            await events.send(ByteBuffer(string: "x INJECTED\r\n"))
            await events.send(ByteBuffer(string: "c NOOP\r\n"))
        }
        _ = await events.next()
        while !events.hasQueuedInput { await Task.yield() }
        // The transport counted 24 bytes before TLS: both plaintext chunks.
        #expect(events.discardInput(through: 24) == 12)
        guard case .input(let kept) = await events.next() else {
            Issue.record("expected the post-TLS chunk")
            return
        }
        #expect(String(buffer: kept) == "c NOOP\r\n")
        await producer.value
    }
}
