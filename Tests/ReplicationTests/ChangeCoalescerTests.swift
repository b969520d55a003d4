import MailCore
import MailStore
import Replication
import Testing

/// ``ChangeCoalescer``: change-feed events to a batch's work (sync-protocol §6.2, §6.3 step 4).
@Suite struct ChangeCoalescerTests {
    static func event(
        _ kind: ChangeEvent.Kind,
        user: String? = nil,
        mailbox: String? = nil,
        uniqueID: String? = nil,
        previous: String? = nil
    ) -> ChangeEvent {
        ChangeEvent(
            sequence: 1,
            user: user,
            mailbox: mailbox,
            mailboxUniqueID: uniqueID,
            kind: kind,
            modSeq: nil,
            time: 0,
            previousMailbox: previous
        )
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var label: String
        var events: [ChangeEvent]
        var groups: [String: Set<String>] = [:]
        var users: Set<String> = []
        var deletedUsers: Set<String> = []
        var quotaRoots: Set<String> = []
        var seen: Set<ReplicationWork.SeenEntry> = []
        var subscriptions: Set<ReplicationWork.SubscriptionEntry> = []
        var serverAnnotations = false
        var testDescription: String { label }
    }

    static let cases: [Case] = [
        Case(
            label: "mailbox changes group per owner, duplicates collapse, shared ones under \"\"",
            events: [
                event(.append, user: "alice", mailbox: "user.alice"),
                event(.flags, user: "alice", mailbox: "user.alice"),
                event(.expunge, user: "alice", mailbox: "user.alice.Sent"),
                event(.mailboxCreate, user: "bob", mailbox: "user.bob.Lists"),
                event(.mailboxMeta, mailbox: "shared.news"),
                event(.annotation, mailbox: "shared"),
                event(.append, user: "alice", mailbox: "user.alice"),
            ],
            groups: [
                "alice": ["user.alice", "user.alice.Sent"], "bob": ["user.bob.Lists"], "": ["shared", "shared.news"],
            ]
        ),
        Case(
            label: "an annotation on mailbox \"\" is the server's (ANNOTATION \"\")",
            events: [event(.annotation, mailbox: ""), event(.annotation, user: "alice", mailbox: "")],
            serverAnnotations: true
        ),
        Case(
            label: "a deleted mailbox is in its group (UNMAILBOX is decided there)",
            events: [event(.mailboxDelete, user: "alice", mailbox: "user.alice.Trash")],
            groups: ["alice": ["user.alice.Trash"]]
        ),
        Case(
            label: "a rename keeps both names in the group",
            events: [
                event(.mailboxRename, user: "alice", mailbox: "user.alice.Y2020", previous: "user.alice.2020")
            ],
            groups: ["alice": ["user.alice.2020", "user.alice.Y2020"]]
        ),
        Case(
            label: "a rename between users puts both names in both users' groups",
            events: [event(.mailboxRename, user: "bob", mailbox: "user.bob.Shared", previous: "user.alice.Shared")],
            groups: [
                "alice": ["user.alice.Shared", "user.bob.Shared"], "bob": ["user.alice.Shared", "user.bob.Shared"],
            ]
        ),
        Case(
            label: "quota, seen and subscription entries",
            events: [
                event(.quota, user: "alice", mailbox: "user.alice"),
                event(.seen, user: "bob", uniqueID: "u1"),
                event(.seen, user: "bob", uniqueID: "u1"),
                event(.subscription, user: "bob", mailbox: "user.alice.Sent"),
            ],
            quotaRoots: ["user.alice"],
            seen: [.init(user: "bob", uniqueID: "u1")],
            subscriptions: [.init(user: "bob", mailbox: "user.alice.Sent")]
        ),
        Case(
            label: "a user sync absorbs that user's seen and subscription entries",
            events: [
                event(.seen, user: "carol", uniqueID: "u1"),
                event(.subscription, user: "carol", mailbox: "user.carol.X"),
                event(.userCreate, user: "carol"),
                event(.seen, user: "dave", uniqueID: "u2"),
            ],
            users: ["carol"],
            seen: [.init(user: "dave", uniqueID: "u2")]
        ),
        Case(
            label: "a deleted user: UNUSER, its entries dropped, its mailbox deletions kept",
            events: [
                event(.subscription, user: "erin", mailbox: "user.erin"),
                event(.mailboxDelete, user: "erin", mailbox: "user.erin"),
                event(.userDelete, user: "erin"),
            ],
            groups: ["erin": ["user.erin"]],
            deletedUsers: ["erin"]
        ),
        Case(label: "nothing", events: []),
    ]

    @Test(arguments: cases) func coalesces(_ example: Case) {
        let work = ChangeCoalescer.work(for: example.events)
        #expect(work.mailboxGroups == example.groups)
        #expect(work.users == example.users)
        #expect(work.deletedUsers == example.deletedUsers)
        #expect(work.quotaRoots == example.quotaRoots)
        #expect(work.seen == example.seen)
        #expect(work.subscriptions == example.subscriptions)
        #expect(work.serverAnnotations == example.serverAnnotations)
        #expect(work.isEmpty == example.events.isEmpty)
    }

    @Test func itemsAndRemovingQuarantinedOnes() {
        let work = ChangeCoalescer.work(for: [
            Self.event(.append, user: "alice", mailbox: "user.alice"),
            Self.event(.append, user: "alice", mailbox: "user.alice.Bad"),
            Self.event(.userCreate, user: "bob"),
        ])
        #expect(
            work.items == [
                ReplicationItem(.mailbox, "user.alice"), ReplicationItem(.mailbox, "user.alice.Bad"),
                ReplicationItem(.user, "bob"),
            ]
        )
        let kept = work.removing([ReplicationItem(.mailbox, "user.alice.Bad"), ReplicationItem(.user, "bob")])
        #expect(kept.mailboxGroups == ["alice": ["user.alice"]])
        #expect(kept.users.isEmpty)
        let none = work.removing([ReplicationItem(.mailbox, "user.alice"), ReplicationItem(.mailbox, "user.alice.Bad")])
        #expect(none.mailboxGroups.isEmpty)
        let retry = ReplicationWork(retrying: [ReplicationItem(.mailbox, "shared.x"), ReplicationItem(.user, "bob")])
        #expect(retry.mailboxGroups == ["": ["shared.x"]])
        #expect(retry.users == ["bob"])
    }
}
