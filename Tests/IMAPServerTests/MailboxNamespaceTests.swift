import MailCore
import Testing

@testable import IMAPServer

@Suite struct MailboxNamespaceTests {
    let alice = try! UserName("alice")

    func alt() -> MailboxNamespace {
        MailboxNamespace(user: alice, isAdmin: false, altNamespace: true, unixHierarchySep: true)
    }

    @Test(arguments: [
        ("INBOX", "user.alice"), ("inbox", "user.alice"), ("Sent", "user.alice.Sent"),
        ("Archive/2026", "user.alice.Archive.2026"), ("a.b/c", "user.alice.a^b.c"),
        ("Other Users/bob", "user.bob"), ("Other Users/bob/Sent", "user.bob.Sent"),
        ("Other Users/j.doe", "user.j^doe"), ("Shared Folders/news", "news"),
        ("Shared Folders/news/tech", "news.tech"),
    ])
    func alternateNamespaceMapsBothWays(client: String, internalName: String) throws {
        let map = alt()
        #expect(map.internalName(for: client)?.internalName == internalName)
        let back = map.clientName(for: try MailboxName(internal: internalName))
        #expect(back == (client == "inbox" ? "INBOX" : client))
    }

    @Test(arguments: ["", "a//b", "/a", "a/", "INBOX/x", "Shared Folders/user/x", "Other Users/"])
    func invalidNamesAreRefused(client: String) {
        #expect(alt().internalName(for: client) == nil)
    }

    @Test func adminsSeeTheStandardNamespace() throws {
        let map = MailboxNamespace(
            user: try UserName("admin"),
            isAdmin: true,
            altNamespace: true,
            unixHierarchySep: true
        )
        #expect(map.internalName(for: "user/bob/Sent")?.internalName == "user.bob.Sent")
        #expect(map.clientName(for: try MailboxName(internal: "user.bob")) == "user/bob")
        #expect(map.clientName(for: try MailboxName(internal: "news")) == "news")
        #expect(map.personalPrefix == "INBOX/")
    }

    @Test func dotSeparatorWithoutAltNamespace() throws {
        let map = MailboxNamespace(user: alice, isAdmin: false, altNamespace: false, unixHierarchySep: false)
        #expect(map.internalName(for: "INBOX.Sent")?.internalName == "user.alice.Sent")
        #expect(map.internalName(for: "user.bob")?.internalName == "user.bob")
        #expect(map.clientName(for: try MailboxName(internal: "user.alice.Sent")) == "INBOX.Sent")
    }

    @Test(arguments: [
        ("*", "a/b/c", true), ("%", "a/b", false), ("a/%", "a/b", true), ("a/%", "a/b/c", false),
        ("inbox", "INBOX", true), ("INBOX*", "INBOX", true), ("*b", "a/b", true), ("a*c", "abc", true),
    ])
    func wildcardsMatchAsRFC9051Says(pattern: String, name: String, expected: Bool) {
        #expect(
            IMAPSessionRunner<IMAPTestClient.Transport>.matches(pattern: pattern, name: name, separator: "/")
                == expected
        )
    }

    @Test(arguments: [("Grüße", "Gr&APwA3w-e"), ("a&b", "a&-b"), ("日本", "&ZeVnLA-"), ("plain", "plain")])
    func modifiedUTF7RoundTrips(text: String, encoded: String) {
        #expect(ModifiedUTF7.encode(text) == encoded)
        #expect(ModifiedUTF7.decode(encoded) == text)
    }
}
