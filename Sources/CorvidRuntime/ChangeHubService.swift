import IMAPServer
import MailStoreSQLite
import ServiceLifecycle

/// Feeds the store's change notifications to the IMAP sessions' hub until shutdown.
struct ChangeHubService: Service {
    let hub: MailboxChangeHub
    let store: SQLiteMailStore

    func run() async throws {
        let notifications = store.changeNotifications()
        await cancelWhenGracefulShutdown { await hub.run(notifications) }
    }
}
