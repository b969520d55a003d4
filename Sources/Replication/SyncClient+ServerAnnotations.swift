import MailCore
import MailStore
import SyncCodec

extension SyncClientRunner {
    /// Server-level annotations (`-A`, and Cyrus's `ANNOTATION ""` log entries): `GET
    /// ANNOTATION ""`, then `APPLY ANNOTATION` for each entry the replica lacks or holds with
    /// another value and `APPLY UNANNOTATION` for each only the replica has (§3.3.5, §3.4.10).
    func syncServerAnnotations() async throws {
        let reply = try await expectOK(.get(.init("ANNOTATION", .string(""))))
        var theirs: [AnnotationKey: [UInt8]] = [:]
        for item in reply.values("ANNOTATION") {
            guard item.text(for: "MBOXNAME") == "", let entry = item.text(for: "ENTRY"),
                let userID = item.text(for: "USERID"), let value = item["VALUE"]?.bytesValue
            else { continue }
            theirs[AnnotationKey(entry: entry, userID: userID)] = value
        }
        let ours = try await storeCall { () async throws(MailStoreError) in try await store.serverAnnotations() }
        var kept: Set<AnnotationKey> = []
        for annotation in ours {
            guard let value = annotation.value else { continue }
            let key = AnnotationKey(entry: annotation.entry, userID: annotation.userID)
            kept.insert(key)
            guard theirs[key] != value else { continue }
            try await expectOK(
                .apply(
                    .init(
                        "ANNOTATION",
                        .kvlist([
                            .init("MBOXNAME", .string("")), .init("ENTRY", .string(key.entry)),
                            .init("USERID", .string(key.userID)), .init("VALUE", .string(value)),
                        ])
                    )
                )
            )
        }
        for key in theirs.keys.sorted(by: { ($0.entry, $0.userID) < ($1.entry, $1.userID) }) where !kept.contains(key) {
            try await expectOK(
                .apply(
                    .init(
                        "UNANNOTATION",
                        .kvlist([
                            .init("MBOXNAME", .string("")), .init("ENTRY", .string(key.entry)),
                            .init("USERID", .string(key.userID)),
                        ])
                    )
                )
            )
        }
    }
}

/// An annotation's identity: entry and user ("" for shared).
struct AnnotationKey: Hashable {
    var entry: String
    var userID: String
}
