import Logging
import MailStoreSQLite
import ServiceLifecycle

#if os(Linux)
/// glibc's `malloc_trim` (from <malloc.h>, which the Glibc module does not export).
@_silgen_name("malloc_trim")
private func releaseFreeHeap(_ pad: Int) -> Int32
#endif

/// Periodic store upkeep in the serving process: removes unreferenced message files and
/// prunes the change feed.
struct MaintenanceService: Service {
    let store: SQLiteMailStore
    let interval: Duration
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown { await self.loop() }
    }

    private func loop() async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            do {
                let removed = try await store.collectGarbage()
                if removed > 0 { logger.info("removed unreferenced message files", metadata: ["count": "\(removed)"]) }
            } catch {
                logger.error("garbage collection failed", metadata: ["error": "\(error)"])
            }
            #if os(Linux)
            // Give memory freed after bursts (large FETCHes, APPENDs) back to the system.
            _ = releaseFreeHeap(0)
            #endif
        }
    }
}
