import Foundation
import Providers
import Synchronization
import Testing

/// Waits that go through an injected clock run on virtual time.
@Suite struct WaitsOnVirtualTime {
    @Test func aLockWaitOfTheInMemoryJournalGivesUpAfterItsTimeoutOnTheClock() async throws {
        let clock = VirtualClock()
        let store = InMemoryJournalStore(clock: clock)
        let held = try await store.tryLock(build: "web", purpose: "first")
        defer { held.release() }
        await #expect {
            _ = try await store.lock(build: "web", purpose: "second", timeout: .seconds(600))
        } throws: { error in
            guard case JournalError.locked(_, _, _, let waited) = error else { return false }
            return waited == .seconds(600)
        }
        #expect(clock.elapsed == .seconds(600))
        #expect(clock.sleeps.allSatisfy { $0 == .milliseconds(10) })
    }
}
