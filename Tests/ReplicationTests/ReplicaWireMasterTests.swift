import MailCore
import MailStore
import NIOCore
import Replication
import SyncCodec
import Testing

/// The master's half of ReplicaWire against Cyrus 3.6's own captured lines (sync-protocol
/// §10.1, §10.2): what Corvid writes as a master is byte for byte what sync_client wrote.
@Suite struct ReplicaWireMasterTests {
    static func decodeCommand(_ line: String) throws -> DList.Item {
        var decoder = SyncDecoder(role: .replica)
        var buffer = ByteBuffer(string: line + "\r\n")
        let events = decoder.decode(&buffer)
        guard case .commandReceived(.apply(let item)) = events.last else {
            Issue.record("not an APPLY: \(events)")
            throw CancellationError()
        }
        return item
    }

    static func decodeResponse(_ line: String) throws -> DList.Item {
        var decoder = SyncDecoder(role: .master)
        var buffer = ByteBuffer(string: "* OK replica\r\n" + line + "\r\n")
        let events = decoder.decode(&buffer)
        guard case .responseReceived(.data(let item)) = events.last else {
            Issue.record("not a data line: \(events)")
            throw CancellationError()
        }
        return item
    }

    @Test func theFirstSyncAPPLYMAILBOXIsWrittenAsCyrusWroteIt() throws {
        let captured = CyrusTranscriptReplayTests.inbox
        let item = try Self.decodeCommand(captured)
        let apply = try ReplicaWire.mailboxApply(item.value.kvlistValue ?? [], force: false)
        var mailbox = apply.update.mailbox
        mailbox.quotaRoot = "user.alice"  // informational on the wire; the reader drops it
        let state = ReplicaMailboxState(
            mailbox: mailbox,
            annotations: apply.update.annotations,
            records: apply.update.records
        )
        let written = ReplicaWire.mailboxApplyItem(state, records: state.records, since: nil)
        var out = ByteBuffer()
        SyncCommand.apply(.init("MAILBOX", written)).write(into: &out)
        #expect(String(decoding: out.readableBytesView, as: UTF8.self) == captured + "\r\n")
    }

    @Test func aDeltaCarriesSinceBeforeRecords() throws {
        let item = try Self.decodeCommand(CyrusTranscriptReplayTests.inbox)
        let apply = try ReplicaWire.mailboxApply(item.value.kvlistValue ?? [], force: false)
        let state = ReplicaMailboxState(
            mailbox: apply.update.mailbox,
            annotations: apply.update.annotations,
            records: apply.update.records
        )
        let since = ReplicaWire.Since(modSeq: 7, crc: 1, crcAnnotations: 2)
        let delta = ReplicaWire.mailboxApplyItem(state, records: [state.records[2]], since: since)
        let keys = delta.kvlistValue?.map(\.key) ?? []
        #expect(keys.suffix(4) == ["SINCE_MODSEQ", "SINCE_CRC", "SINCE_CRC_ANNOT", "RECORD"])
        let reread = try ReplicaWire.mailboxApply(delta.kvlistValue ?? [], force: false)
        #expect(reread.sinceModSeq == 7 && reread.sinceCRC == 1 && reread.sinceCRCAnnotations == 2)
        #expect(reread.syncCRC == 2_501_713_581 && reread.syncCRCAnnotations == 2_636_566_164, "over all records")
        #expect(reread.update.records == [state.records[2]])
    }

    @Test func readsAGETMAILBOXESReplyLine() throws {
        let acl = CyrusTranscriptReplayTests.acl
        let line =
            "* MAILBOX %(UNIQUEID u5298fpmemrf8j6ekg2324b0 MBOXNAME user.alice SYNC_CRC 2501713581 "
            + "SYNC_CRC_ANNOT 2636566164 LAST_UID 3 HIGHESTMODSEQ 9 RECENTUID 3 RECENTTIME 1795435144 "
            + "LAST_APPENDDATE 1795435144 POP3_LAST_LOGIN 0 POP3_SHOW_AFTER 0 UIDVALIDITY 1795435144 "
            + "PARTITION default ACL \(acl) OPTIONS P QUOTAROOT user.alice CREATEDMODSEQ 1 FOLDERMODSEQ 7 "
            + "ANNOTATIONS (%(ENTRY /comment USERID \"\" MODSEQ 0 VALUE \"shared note\")))"
        let item = try Self.decodeResponse(line)
        let summary = try #require(ReplicaWire.replicaMailbox(from: item.value))
        #expect(summary.uniqueID == "u5298fpmemrf8j6ekg2324b0" && summary.name == "user.alice")
        #expect(summary.syncCRC == 2_501_713_581 && summary.syncCRCAnnotations == 2_636_566_164)
        #expect(summary.lastUID == 3 && summary.highestModSeq == 9 && summary.uidValidity == 1_795_435_144)
        #expect(summary.acl == "alice\tlrswipkxtecdan\t" && summary.options == "P" && summary.folderModSeq == 7)
        #expect(summary.annotations == [.init(entry: "/comment", userID: "", value: Array("shared note".utf8))])
        #expect(summary.records.isEmpty)
    }

    @Test func seenAndQuotaItemsRoundTrip() throws {
        let state = SeenState(lastRead: 1_795_435_154, lastUID: 1, lastChange: 1_795_435_154, seenUIDs: "1")
        let apply = ReplicaWire.seenApplyItem(user: try UserName("alice"), uniqueID: "m558wlrs339szh95vj1dose3", state)
        var out = ByteBuffer()
        SyncCommand.apply(.init("SEEN", apply)).write(into: &out)
        #expect(
            String(decoding: out.readableBytesView, as: UTF8.self)
                == "APPLY SEEN %(USERID alice UNIQUEID m558wlrs339szh95vj1dose3 LASTREAD 1795435154 LASTUID 1 "
                + "LASTCHANGE 1795435154 SEENUIDS 1)\r\n"
        )
        let quota = try Self.decodeResponse("* QUOTA %(ROOT user.alice LIMIT 100000 STORAGE 100000 MODSEQ 11)")
        #expect(
            ReplicaWire.quotaRoot(from: quota.value)
                == QuotaRoot(root: "user.alice", storageLimitKiB: 100_000, messageLimit: nil)
        )
    }
}
