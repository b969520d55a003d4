import GRDB
import MailCore
import MailStore

/// Rolling replication's durable state: each channel's cursor into the change feed and the
/// items that failed on it (tables `sync_channels` and `sync_failures`), and pruning of the
/// feed that keeps what the channels still need.
extension SQLiteMailStore {
    /// Named limit: a lagging channel pins the change feed up to this many times
    /// `changeRetention` rows; beyond that the feed is pruned anyway, the channel finds the gap
    /// (its cursor below ``ChangeFeedPosition/prunedThrough``) and syncs everything instead.
    static var channelRetentionFactor: Int64 { 10 }

    public func changeFeedPosition(after sequence: Int64?) async throws(MailStoreError) -> ChangeFeedPosition {
        try await read { db in
            var position = ChangeFeedPosition(
                newest: try Self.newestChange(db),
                prunedThrough: try Self.prunedThrough(db)
            )
            if let sequence {
                position.oldestPendingTime = try Double.fetchOne(
                    db,
                    sql: "SELECT at FROM changes WHERE seq > ? ORDER BY seq LIMIT 1",
                    arguments: [sequence]
                )
            }
            return position
        }
    }

    public func replicationCursor(_ channel: String) async throws(MailStoreError) -> ReplicationCursor? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM sync_channels WHERE channel = ?", arguments: [channel])
                .map(Self.cursor(from:))
        }
    }

    public func replicationCursors() async throws(MailStoreError) -> [ReplicationCursor] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM sync_channels ORDER BY channel").map(Self.cursor(from:))
        }
    }

    public func recordReplicationProgress(_ progress: ReplicationProgress) async throws(MailStoreError) {
        try await write { db, _ in
            if let cursor = progress.cursor {
                try db.execute(
                    sql: """
                        INSERT INTO sync_channels(channel, seq, last_success) VALUES (?, ?, ?)
                        ON CONFLICT(channel) DO UPDATE SET seq = excluded.seq, last_success = excluded.last_success
                        """,
                    arguments: [progress.channel, cursor, progress.time]
                )
            }
            for failure in progress.failed {
                try db.execute(
                    sql: """
                        INSERT INTO sync_failures(channel, kind, name, reason, failures, quarantined, first_failure,
                          last_failure, next_retry) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT(channel, kind, name) DO UPDATE SET reason = excluded.reason,
                          failures = excluded.failures, quarantined = excluded.quarantined,
                          last_failure = excluded.last_failure, next_retry = excluded.next_retry
                        """,
                    arguments: [
                        failure.channel, failure.item.kind.rawValue, failure.item.name, failure.reason,
                        failure.failures, failure.quarantined, failure.firstFailure, failure.lastFailure,
                        failure.nextRetry,
                    ]
                )
            }
            for item in progress.succeeded {
                try db.execute(
                    sql: "DELETE FROM sync_failures WHERE channel = ? AND kind = ? AND name = ?",
                    arguments: [progress.channel, item.kind.rawValue, item.name]
                )
            }
        }
    }

    public func replicationFailures(channel: String?) async throws(MailStoreError) -> [ReplicationFailure] {
        try await read { db in
            let rows: [Row]
            if let channel {
                rows = try Row.fetchAll(
                    db,
                    sql: "SELECT * FROM sync_failures WHERE channel = ? ORDER BY channel, kind, name",
                    arguments: [channel]
                )
            } else {
                rows = try Row.fetchAll(db, sql: "SELECT * FROM sync_failures ORDER BY channel, kind, name")
            }
            return rows.compactMap(Self.failure(from:))
        }
    }

    public func retryReplicationItems(named name: String, channel: String?) async throws(MailStoreError) -> Int {
        try await write { db, _ in
            var sql = "UPDATE sync_failures SET failures = 0, quarantined = 0, next_retry = 0 WHERE name = ?"
            var arguments: StatementArguments = [name]
            if let channel {
                sql += " AND channel = ?"
                arguments += [channel]
            }
            try db.execute(sql: sql, arguments: arguments)
            return db.changesCount
        }
    }

    /// Deletes change rows older than `retention` rows before the newest, but none a channel
    /// still needs unless it lags by more than ``channelRetentionFactor`` × `retention`; records
    /// how far the feed is pruned, so a channel that lost changes notices.
    static func pruneChanges(_ db: Database, retention: Int) throws {
        let newest = try newestChange(db)
        var through = newest - Int64(retention)
        guard through > 0 else { return }
        if let slowest = try Int64.fetchOne(db, sql: "SELECT MIN(seq) FROM sync_channels"), slowest < through {
            through = max(slowest, newest - Int64(retention) * channelRetentionFactor)
        }
        guard through > (try prunedThrough(db)) else { return }
        try db.execute(sql: "DELETE FROM changes WHERE seq <= ?", arguments: [through])
        try db.execute(
            sql: """
                INSERT INTO counters(name, value) VALUES ('changes_pruned_through', ?)
                ON CONFLICT(name) DO UPDATE SET value = excluded.value
                """,
            arguments: [through]
        )
    }

    /// The newest sequence ever assigned (AUTOINCREMENT keeps it even when every row is pruned).
    static func newestChange(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'changes'") ?? 0
    }

    static func prunedThrough(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT value FROM counters WHERE name = 'changes_pruned_through'") ?? 0
    }

    private static func cursor(from row: Row) -> ReplicationCursor {
        ReplicationCursor(channel: row["channel"], sequence: row["seq"], lastSuccess: row["last_success"])
    }

    private static func failure(from row: Row) -> ReplicationFailure? {
        guard let kind = ReplicationItem.Kind(rawValue: row["kind"]) else { return nil }
        return ReplicationFailure(
            channel: row["channel"],
            item: ReplicationItem(kind, row["name"]),
            reason: row["reason"],
            failures: row["failures"],
            quarantined: row["quarantined"],
            firstFailure: row["first_failure"],
            lastFailure: row["last_failure"],
            nextRetry: row["next_retry"]
        )
    }
}

extension SQLiteMailStore {
    public func replicationRole() async throws(MailStoreError) -> ReplicationRole? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM replication_role WHERE id = 1").map { row in
                ReplicationRole(
                    state: ReplicationRole.State(rawValue: row["state"]) ?? .replica,
                    epoch: row["epoch"],
                    since: row["since"],
                    closedThrough: row["closed_through"],
                    note: row["note"],
                    servedState: (row["served_state"] as String?).flatMap(ReplicationRole.State.init(rawValue:))
                )
            }
        }
    }

    public func setReplicationRole(_ role: ReplicationRole) async throws(MailStoreError) {
        try await write { db, _ in
            try db.execute(
                sql: """
                    INSERT INTO replication_role(id, state, epoch, since, closed_through, note, served_state)
                    VALUES (1, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET state = excluded.state, epoch = excluded.epoch, since = excluded.since,
                      closed_through = excluded.closed_through, note = excluded.note, served_state = excluded.served_state
                    """,
                arguments: [
                    role.state.rawValue, role.epoch, role.since, role.closedThrough, role.note,
                    role.servedState?.rawValue,
                ]
            )
        }
    }

    public func markReplicationRoleServed(
        state: ReplicationRole.State,
        epoch: Int64,
        closedThrough: Int64?
    ) async throws(MailStoreError) {
        try await write { db, _ in
            try db.execute(
                sql: """
                    UPDATE replication_role SET served_state = ?, closed_through = COALESCE(?, closed_through)
                    WHERE id = 1 AND state = ? AND epoch = ?
                    """,
                arguments: [state.rawValue, closedThrough, state.rawValue, epoch]
            )
        }
    }
}

extension SQLiteMailStore {
    /// Named limit: conflicts kept per channel.
    static var conflictsKept: Int { 1000 }

    public func recordReplicationConflicts(_ conflicts: [ReplicationConflict]) async throws(MailStoreError) {
        guard !conflicts.isEmpty else { return }
        try await write { db, _ in
            for conflict in conflicts {
                try db.execute(
                    sql: "INSERT INTO sync_conflicts(channel, time, text) VALUES (?, ?, ?)",
                    arguments: [conflict.channel, conflict.time, conflict.text]
                )
            }
            for channel in Set(conflicts.map(\.channel)) {
                try db.execute(
                    sql: """
                        DELETE FROM sync_conflicts WHERE channel = ? AND id <= (
                          SELECT id FROM sync_conflicts WHERE channel = ? ORDER BY id DESC LIMIT 1 OFFSET ?)
                        """,
                    arguments: [channel, channel, Self.conflictsKept]
                )
            }
        }
    }

    public func replicationConflicts(channel: String?, limit: Int) async throws(MailStoreError) -> [ReplicationConflict]
    {
        try await read { db in
            let rows =
                if let channel {
                    try Row.fetchAll(
                        db,
                        sql: "SELECT * FROM sync_conflicts WHERE channel = ? ORDER BY id DESC LIMIT ?",
                        arguments: [channel, limit]
                    )
                } else {
                    try Row.fetchAll(
                        db,
                        sql: "SELECT * FROM sync_conflicts ORDER BY id DESC LIMIT ?",
                        arguments: [limit]
                    )
                }
            return rows.map { ReplicationConflict(channel: $0["channel"], time: $0["time"], text: $0["text"]) }
        }
    }
}
