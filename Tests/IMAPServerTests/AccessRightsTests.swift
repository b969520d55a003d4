import IMAPServer
import MailCore
import Testing

/// Effective rights: the user's entry and `anyone`, minus the negative entries of either.
@Suite struct AccessRightsTests {
    @Test func negativeEntriesRemoveRightsGrantedByAnyEntry() throws {
        let acl = try #require(ACL(cyrusString: "bob\tlrsw\tanyone\tlrp\t-bob\tw\t-anyone\tp\t"))
        let bob = AccessRights(user: try UserName("bob"), isAdmin: false)
        #expect(bob.rights(in: acl).description == "lrs")
        let carol = AccessRights(user: try UserName("carol"), isAdmin: false)
        #expect(carol.rights(in: acl).description == "lr")
        let admin = AccessRights(user: try UserName("carol"), isAdmin: true)
        #expect(admin.rights(in: acl) == .all)
    }
}
