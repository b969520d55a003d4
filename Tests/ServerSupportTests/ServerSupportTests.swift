import MailCore
import ServerSupport
import Testing

@Suite struct PasswordHasherTests {
    @Test func verifierAcceptsOnlyItsPassword() throws {
        let verifier = try PasswordHasher().makeVerifier(password: "correct horse")
        #expect(verifier.hasPrefix("$pbkdf2-sha256$\(PasswordHasher.defaultRounds)$"))
        #expect(PasswordHasher.verify(password: "correct horse", against: verifier))
        #expect(!PasswordHasher.verify(password: "correct horse ", against: verifier))
        #expect(!PasswordHasher.verify(password: "", against: verifier))
    }

    @Test func saltsDiffer() throws {
        let hasher = PasswordHasher()
        #expect(try hasher.makeVerifier(password: "same") != hasher.makeVerifier(password: "same"))
    }

    @Test(arguments: [
        "", "plain", "$pbkdf2-sha256$0$00$00", "$pbkdf2-sha256$x$00$00", "$md5$1$00$00",
        "$pbkdf2-sha256$1000$zz$00", "$pbkdf2-sha256$1000$00$",
    ])
    func malformedVerifiersNeverMatch(_ verifier: String) {
        #expect(!PasswordHasher.verify(password: "anything", against: verifier))
    }

    @Test func verifierDoesNotContainThePassword() throws {
        let verifier = try PasswordHasher().makeVerifier(password: "hunter2hunter2")
        #expect(!verifier.contains("hunter2"))
        #expect(!verifier.contains(Hex.encode(Array("hunter2hunter2".utf8))))
    }
}

@Suite struct CredentialCacheTests {
    @Test func cachesSuccessAndExpires() throws {
        let verifier = try PasswordHasher().makeVerifier(password: "pw")
        let cache = CredentialCache(timeToLive: 60)
        #expect(cache.verify(user: "alice", password: "pw", verifier: verifier, now: 1000))
        // A cached success must still be bound to the password, user and verifier.
        #expect(!cache.verify(user: "alice", password: "wrong", verifier: verifier, now: 1001))
        #expect(!cache.verify(user: "bob", password: "pw", verifier: "$pbkdf2-sha256$1$00$00", now: 1001))
        #expect(cache.verify(user: "alice", password: "pw", verifier: verifier, now: 1059))
        #expect(cache.verify(user: "alice", password: "pw", verifier: verifier, now: 2000), "re-verified after expiry")
    }

    @Test func passwordChangeMissesTheCacheAtOnce() throws {
        let old = try PasswordHasher().makeVerifier(password: "old")
        let new = try PasswordHasher().makeVerifier(password: "new")
        let cache = CredentialCache()
        #expect(cache.verify(user: "alice", password: "old", verifier: old, now: 1))
        #expect(!cache.verify(user: "alice", password: "old", verifier: new, now: 2))
        #expect(cache.verify(user: "alice", password: "new", verifier: new, now: 3))
    }
}

@Suite struct RFC5322DateTests {
    @Test(arguments: [
        (0.0, "Thu, 1 Jan 1970 00:00:00 +0000"),
        (1_700_000_000.0, "Tue, 14 Nov 2023 22:13:20 +0000"),
        (951_782_400.0, "Tue, 29 Feb 2000 00:00:00 +0000"),
    ])
    func formatsUTC(_ time: Double, _ expected: String) {
        #expect(RFC5322Date.format(time) == expected)
    }
}

@Suite struct HexTests {
    @Test func roundTrips() {
        let bytes: [UInt8] = [0, 1, 0x7f, 0x80, 0xfe, 0xff]
        #expect(Hex.encode(bytes) == "00017f80feff")
        #expect(Hex.decode("00017F80FEFF") == bytes)
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
    }
}
