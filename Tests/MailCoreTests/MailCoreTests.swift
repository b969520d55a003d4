import MailCore
import PropertyBased
import Testing

@Suite struct MessageGUIDTests {
    @Test func hexRoundTripsForAnyDigest() async {
        await propertyCheck(input: Gen.uint8().array(of: 20)) { bytes in
            let guid = MessageGUID(bytes: bytes)!
            #expect(MessageGUID(hex: guid.hex) == guid)
            #expect(guid.hex.utf8.count == 40)
        }
    }

    @Test(arguments: ["", "abc", String(repeating: "g", count: 40), String(repeating: "a", count: 41)])
    func rejectsMalformedHex(_ text: String) {
        #expect(MessageGUID(hex: text) == nil)
    }

    @Test func acceptsUpperCaseHex() {
        let guid = MessageGUID(hex: "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709")
        #expect(guid?.hex == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
    }
}

@Suite struct MailboxNameTests {
    @Test func inboxOfDottedUserUsesCaret() throws {
        let user = try UserName("john.doe")
        let inbox = MailboxName.inbox(of: user)
        #expect(inbox.internalName == "user.john^doe")
        #expect(inbox.owner == user)
        #expect(inbox.isInbox)
    }

    @Test func childAndParent() throws {
        let inbox = MailboxName.inbox(of: try UserName("alice"))
        let child = try inbox.child("Lists.swift")
        #expect(child.internalName == "user.alice.Lists^swift")
        #expect(child.parent == inbox)
        #expect(child.isSelfOrDescendant(of: inbox))
        #expect(!inbox.isSelfOrDescendant(of: child))
        #expect(child.owner?.name == "alice")
    }

    @Test(arguments: [
        ("", MailboxNameError.empty), ("user..alice", .emptyComponent), (".user", .emptyComponent),
        ("user.alice.", .emptyComponent), ("user.a\u{01}b", .controlCharacter),
        (String(repeating: "x", count: 491), .tooLong),
    ])
    func rejectsInvalidNames(_ text: String, _ expected: MailboxNameError) {
        #expect(throws: expected) { try MailboxName(internal: text) }
    }

    @Test func sharedMailboxHasNoOwner() throws {
        #expect(try MailboxName(internal: "shared.news").owner == nil)
    }
}

@Suite struct UserNameTests {
    @Test(arguments: ["Alice", "a b", "../etc", ".a", "a.", "a..b", "", String(repeating: "a", count: 65), "a/b"])
    func rejectsInvalid(_ text: String) {
        #expect(throws: UserNameError.self) { try UserName(text) }
    }

    @Test(arguments: ["alice", "john.doe", "a_b-c", "x+y", "u@example.com"])
    func acceptsValid(_ text: String) throws {
        #expect(try UserName(text).name == text)
    }
}

@Suite struct FlagTests {
    @Test func systemFlagsAreCaseInsensitiveAndCanonical() {
        #expect(Flag("\\SEEN") == .seen)
        #expect(Flag("\\seen")?.name == "\\Seen")
        #expect(Flag("\\Recent") == nil)
        #expect(Flag("\\Bogus") == nil)
    }

    @Test func keywordsRejectSpecials() {
        #expect(Flag("$Forwarded") != nil)
        #expect(Flag("a b") == nil)
        #expect(Flag("a]") == nil)
        #expect(Flag("") == nil)
    }

    @Test func flagSetStoredFormRoundTrips() {
        var set = FlagSet([.seen, .deleted, Flag("$Label1")!, Flag("custom")!])
        set.remove(.deleted)
        let restored = FlagSet(systemMask: set.systemMask, keywordString: set.keywordString)
        #expect(restored == set)
        #expect(restored.contains(.seen))
        #expect(!restored.contains(.deleted))
        #expect(restored.all.map(\.name) == ["\\Seen", "$Label1", "custom"])
    }
}

@Suite struct ACLTests {
    @Test func cyrusStringRoundTrips() {
        let acl = ACL(cyrusString: "alice\tlrswipkxtecdan\tanyone\tp\t")
        #expect(acl?.rights(for: "anyone")?.contains("p") == true)
        #expect(acl?.rights(for: "alice") == .all)
        #expect(acl?.cyrusString == "alice\tlrswipkxtecdan\tanyone\tp\t")
    }

    @Test func rejectsUnknownRights() {
        #expect(ACL(cyrusString: "alice\tlrzq\t") == nil)
        #expect(ACLRights("lrq") == nil)
        #expect(ACLRights("lr ") == nil)
    }

    @Test func rightsAreASetPrintedInCanonicalOrder() throws {
        let rights = try #require(ACLRights("nalrrl"))
        #expect(rights.description == "lran")
        #expect(rights == ACLRights("lran"))
        #expect(rights.contains("a") && !rights.contains("w") && !rights.contains("Z"))
        let write = try #require(ACLRights("wi"))
        #expect(rights.union(write).description == "lrwian")
        #expect(rights.union(write).subtracting(try #require(ACLRights("rn"))).description == "lwia")
        #expect(ACLRights.all.description == "lrswipkxtecdan" && ACLRights.none.description.isEmpty)
    }
}

@Suite struct RulesTests {
    @Test func uidValidityNeverRepeats() {
        let first = UIDValidity.generate(now: 1_700_000_000)
        let second = UIDValidity.generate(now: 1_700_000_000, previous: first)
        let earlierClock = UIDValidity.generate(now: 1_600_000_000, previous: second)
        #expect(second > first)
        #expect(earlierClock > second)
    }

    @Test func quotaCountsInKiBAndMessages() {
        let quota = QuotaRoot(
            root: "user.a",
            storageLimitKiB: 10,
            messageLimit: 3,
            storageUsedBytes: 9 * 1024,
            messagesUsed: 2
        )
        #expect(!quota.wouldExceed(addingBytes: 1024, messages: 1))
        #expect(quota.wouldExceed(addingBytes: 1025, messages: 1))
        #expect(quota.wouldExceed(addingBytes: 0, messages: 2))
        let unlimited = QuotaRoot(root: "user.b", storageLimitKiB: nil, messageLimit: nil, storageUsedBytes: 1 << 40)
        #expect(!unlimited.wouldExceed(addingBytes: 1 << 40, messages: 1_000_000))
    }
}

@Suite struct UIDSetTests {
    @Test func mergesOverlappingAndAdjacentRanges() {
        var set = UIDSet(ranges: [5...7, 1...2, 3...3, 10...12, 9...9])
        #expect(set.ranges == [1...3, 5...7, 9...12])
        #expect(set.description == "1:3,5:7,9:12")
        set.insert(4...8)
        #expect(set.ranges == [1...12])
        #expect(set.count == 12)
    }

    @Test func handlesTheTopOfTheRange() {
        let set = UIDSet(ranges: [UInt32.max - 1...UInt32.max, 1...1])
        #expect(set.ranges == [1...1, UInt32.max - 1...UInt32.max])
        #expect(set.contains(UID(UInt32.max)))
    }

    @Test func matchesANaiveSetForAnyInsertions() async {
        await propertyCheck(input: Gen.uint32(in: 1...60).array(of: 0...40)) { values in
            let set = UIDSet(values.map { UID($0) })
            let naive = Set(values)
            #expect(set.count == naive.count)
            #expect(set.uids.map(\.rawValue) == naive.sorted())
            for candidate in UInt32(0)...61 { #expect(set.contains(UID(candidate)) == naive.contains(candidate)) }
            // Canonical: no two ranges touch.
            for (a, b) in zip(set.ranges, set.ranges.dropFirst()) { #expect(a.upperBound + 1 < b.lowerBound) }
        }
    }
}
