import GRDB

/// The metadata schema. Migrations are append-only: never edit a registered one.
///
/// One database holds the whole server's metadata (see docs/decisions/0001): writes from every
/// session share one group-commit transaction, so a batch costs one WAL fsync.
enum Schema {
    static func migrator() -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE users (
                        name TEXT PRIMARY KEY NOT NULL,
                        verifier TEXT NOT NULL,
                        created_at REAL NOT NULL
                    );
                    CREATE TABLE mailboxes (
                        id INTEGER PRIMARY KEY,
                        uniqueid TEXT NOT NULL UNIQUE,
                        name TEXT NOT NULL UNIQUE,
                        owner TEXT,
                        partition TEXT NOT NULL,
                        acl TEXT NOT NULL,
                        uidvalidity INTEGER NOT NULL,
                        last_uid INTEGER NOT NULL DEFAULT 0,
                        highestmodseq INTEGER NOT NULL,
                        createdmodseq INTEGER NOT NULL,
                        foldermodseq INTEGER NOT NULL,
                        recentuid INTEGER NOT NULL DEFAULT 0,
                        recenttime REAL NOT NULL DEFAULT 0,
                        last_appenddate REAL NOT NULL DEFAULT 0,
                        pop3_last_login REAL NOT NULL DEFAULT 0,
                        pop3_show_after REAL NOT NULL DEFAULT 0,
                        options INTEGER NOT NULL DEFAULT 0,
                        mbtype INTEGER NOT NULL DEFAULT 0,
                        quotaroot TEXT,
                        message_count INTEGER NOT NULL DEFAULT 0,
                        total_size INTEGER NOT NULL DEFAULT 0
                    );
                    CREATE INDEX mailboxes_owner ON mailboxes(owner);
                    CREATE TABLE records (
                        mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),
                        uid INTEGER NOT NULL,
                        modseq INTEGER NOT NULL,
                        last_updated REAL NOT NULL,
                        internaldate REAL NOT NULL,
                        savedate REAL NOT NULL,
                        size INTEGER NOT NULL,
                        guid TEXT NOT NULL,
                        system_flags INTEGER NOT NULL DEFAULT 0,
                        keywords TEXT NOT NULL DEFAULT '',
                        expunged INTEGER NOT NULL DEFAULT 0,
                        PRIMARY KEY (mailbox_id, uid)
                    ) WITHOUT ROWID;
                    CREATE INDEX records_modseq ON records(mailbox_id, modseq);
                    CREATE TABLE blobs (
                        guid TEXT PRIMARY KEY NOT NULL,
                        partition TEXT NOT NULL,
                        size INTEGER NOT NULL,
                        refcount INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    CREATE INDEX blobs_unreferenced ON blobs(refcount) WHERE refcount = 0;
                    CREATE TABLE quotaroots (
                        root TEXT PRIMARY KEY NOT NULL,
                        storage_limit INTEGER,
                        message_limit INTEGER,
                        storage_used INTEGER NOT NULL DEFAULT 0,
                        messages_used INTEGER NOT NULL DEFAULT 0
                    );
                    CREATE TABLE subscriptions (
                        user TEXT NOT NULL,
                        mailbox TEXT NOT NULL,
                        PRIMARY KEY (user, mailbox)
                    ) WITHOUT ROWID;
                    CREATE TABLE seen (
                        user TEXT NOT NULL,
                        uniqueid TEXT NOT NULL,
                        lastread REAL NOT NULL,
                        lastuid INTEGER NOT NULL,
                        lastchange REAL NOT NULL,
                        seenuids TEXT NOT NULL,
                        PRIMARY KEY (user, uniqueid)
                    ) WITHOUT ROWID;
                    CREATE TABLE annotations (
                        mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),
                        uid INTEGER NOT NULL DEFAULT 0,
                        entry TEXT NOT NULL,
                        userid TEXT NOT NULL DEFAULT '',
                        value BLOB NOT NULL,
                        modseq INTEGER NOT NULL,
                        PRIMARY KEY (mailbox_id, uid, entry, userid)
                    ) WITHOUT ROWID;
                    CREATE TABLE changes (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        user TEXT,
                        mailbox TEXT,
                        uniqueid TEXT,
                        kind TEXT NOT NULL,
                        modseq INTEGER,
                        at REAL NOT NULL
                    );
                    CREATE TABLE counters (
                        name TEXT PRIMARY KEY NOT NULL,
                        value INTEGER NOT NULL
                    );
                    """
            )
        }
        migrator.registerMigration("v2-inline-blobs") { db in
            // Messages up to `message_inline_max` bytes are kept in the row (decision 0003);
            // NULL means the bytes are in the content-addressed file.
            try db.execute(sql: "ALTER TABLE blobs ADD COLUMN data BLOB")
        }
        migrator.registerMigration("v3-header-cache") { db in
            // Each stored message's header, for SEARCH on header fields, ENVELOPE and
            // HEADER.FIELDS without reading whole messages (Cyrus's cache file, Dovecot's
            // index cache). Absent for headers over the cache limit.
            try db.execute(sql: "CREATE TABLE headers (guid TEXT PRIMARY KEY NOT NULL, data BLOB NOT NULL)")
        }
        migrator.registerMigration("v4-record-createdmodseq") { db in
            // Cyrus's per-record createdmodseq, which csync carries (sync-protocol.md §3.2.3) and a
            // replica must keep exactly. 0 means unknown (records written before this column).
            try db.execute(sql: "ALTER TABLE records ADD COLUMN createdmodseq INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v5-mailbox-tombstones") { db in
            // The uniqueids of mailboxes deleted here (Cyrus keeps tombstones in mailboxes.db):
            // the csync master deletes a replica's mailbox only when its uniqueid is here, and
            // keeps (and reports) one it has never known.
            try db.execute(
                sql: """
                    CREATE TABLE mailbox_tombstones (
                        uniqueid TEXT PRIMARY KEY NOT NULL,
                        name TEXT NOT NULL,
                        deleted_at REAL NOT NULL
                    ) WITHOUT ROWID
                    """
            )
        }
        migrator.registerMigration("v6-replication-channels") { db in
            // Rolling replication (docs/architecture.md §6): the change feed is the replication
            // log. Each channel keeps its cursor (the last sequence it replicated); items that
            // fail are retried, then quarantined, here, so nothing is forgotten across restarts.
            // A rename's change row also carries the old name, so a batch can rename on the
            // replica instead of recreating.
            try db.execute(
                sql: """
                    ALTER TABLE changes ADD COLUMN oldname TEXT;
                    CREATE TABLE sync_channels (
                        channel TEXT PRIMARY KEY NOT NULL,
                        seq INTEGER NOT NULL,
                        last_success REAL
                    ) WITHOUT ROWID;
                    CREATE TABLE sync_failures (
                        channel TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        name TEXT NOT NULL,
                        reason TEXT NOT NULL,
                        failures INTEGER NOT NULL,
                        quarantined INTEGER NOT NULL DEFAULT 0,
                        first_failure REAL NOT NULL,
                        last_failure REAL NOT NULL,
                        next_retry REAL NOT NULL,
                        PRIMARY KEY (channel, kind, name)
                    ) WITHOUT ROWID;
                    """
            )
        }
        migrator.registerMigration("v7-server-annotations") { db in
            // Server-level annotations (IMAP METADATA on "", csync `ANNOTATION ""`): shared
            // entries have userid '', private ones the user's name.
            try db.execute(
                sql: """
                    CREATE TABLE server_annotations (
                        entry TEXT NOT NULL,
                        userid TEXT NOT NULL DEFAULT '',
                        value BLOB NOT NULL,
                        PRIMARY KEY (entry, userid)
                    ) WITHOUT ROWID
                    """
            )
        }
        migrator.registerMigration("v8-replication-role") { db in
            // `corvid failover` / `corvid promote`: which side of a pair this store is (one row).
            try db.execute(
                sql: """
                    CREATE TABLE replication_role (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        state TEXT NOT NULL,
                        epoch INTEGER NOT NULL,
                        since REAL NOT NULL,
                        closed_through INTEGER,
                        note TEXT NOT NULL DEFAULT '',
                        served_state TEXT
                    );
                    CREATE TABLE sync_conflicts (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        channel TEXT NOT NULL,
                        time REAL NOT NULL,
                        text TEXT NOT NULL
                    );
                    CREATE INDEX sync_conflicts_by_channel ON sync_conflicts(channel, id)
                    """
            )
        }
        return migrator
    }
}
