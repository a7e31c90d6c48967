import Foundation
import Planner
import Providers
import Synchronization
import Testing

@testable import Reconciler

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct InterruptTests {
    @Test func theFirstInterruptLetsRunningActionsFinishAndStartsNothingNew() async throws {
        let store = InMemoryJournalStore()
        let events = CollectingEventSink()
        let interrupts = InterruptController()
        let started = Latch()
        let release = Latch()
        let executor = FakeExecutor([
            "web/provision[a]": { _, _ in
                started.open()
                await release.wait()
                return .none
            }
        ])
        let p = plan([
            act("web", .provision, "a"),
            act("web", .provision, "b", after: [id("web/provision[a]")]),
            act("web", .image, change: .create)
        ])
        let s = scheduler(executor, store: store, events: events, interrupts: interrupts, parallelism: 1)
        let run = Task { await s.run(p) }
        try await withDeadlockGuard("the first action to start") { await started.wait() }
        #expect(interrupts.interrupt() == .graceful)
        release.open()
        let result = try await withDeadlockGuard("the run to end") { await run.value }

        #expect(executor.recorder.started == ["web/provision[a]"])
        #expect(result.status(id("web/provision[a]")) == .done)
        #expect(result.status(id("web/provision[b]")) == .notStarted)
        #expect(result.status(id("web/image")) == .notStarted)
        #expect(result.interrupted)
        #expect(result.summary.message.contains("run kiln apply again to resume"))
        #expect(await phases(store, "web/provision[a]") == ["intent", "done"])
        #expect(await phases(store, "web/provision[b]").isEmpty)
        #expect(events.events.contains(.interruptReceived(level: .graceful, running: [id("web/provision[a]")])))
        guard case .summary = events.events.last else {
            Issue.record("summary is not last")
            return
        }
    }

    @Test func theFirstInterruptStopsAPollingActionAtASafePoint() async throws {
        let store = InMemoryJournalStore()
        let interrupts = InterruptController()
        let polling = Latch()
        let url = "https://management.azure.com/operations/op3"
        let executor = FakeExecutor([
            "web/create-disk[os]": { _, context in
                try await context.recordOperation(url)
                polling.open()
                while true { try await context.sleep(for: .seconds(15)) }
            }
        ])
        // A real clock: the sleep must end because of the interrupt, not by itself.
        let s = scheduler(executor, store: store, interrupts: interrupts, clock: ContinuousClock())
        let run = Task { await s.run(plan([act("web", .createDisk, "os", change: .create)])) }
        try await withDeadlockGuard("polling to begin") { await polling.wait() }
        interrupts.interrupt()
        let result = try await withDeadlockGuard("the run to end") { await run.value }

        #expect(result.status(id("web/create-disk[os]")) == .interrupted)
        #expect(result.failures.isEmpty)
        // Not failed: the operation URL stays the latest entry, so the next run re-joins it.
        #expect(await phases(store, "web/create-disk[os]") == ["intent", "started \(url)"])
    }

    @Test func theSecondInterruptCancelsEverythingAtOnce() async throws {
        let store = InMemoryJournalStore()
        let events = CollectingEventSink()
        let interrupts = InterruptController()
        let aStarted = Latch()
        let bStarted = Latch()
        let never = Latch()
        let executor = FakeExecutor([
            // Ignores the first interrupt, honours cancellation.
            "web/provision[a]": { _, _ in
                aStarted.open()
                try await ContinuousClock().sleep(for: .seconds(3600))
                return .none
            },
            // Ignores cancellation altogether; the run must not wait for it.
            "api/provision[b]": { _, _ in
                bStarted.open()
                await never.wait()
                return .none
            }
        ])
        let p = plan([
            act("web", .provision, "a"), act("api", .provision, "b"),
            act("web", .image, after: [id("web/provision[a]")])
        ])
        let s = scheduler(executor, store: store, events: events, interrupts: interrupts)
        let run = Task { await s.run(p) }
        try await withDeadlockGuard("both actions to start") {
            await aStarted.wait()
            await bStarted.wait()
        }
        interrupts.interrupt()
        interrupts.interrupt()
        let result = try await withDeadlockGuard("the run to end") { await run.value }
        never.open()

        #expect(result.status(id("web/provision[a]")) == .interrupted)
        #expect(result.status(id("api/provision[b]")) == .interrupted)
        #expect(result.status(id("web/image")) == .notStarted)
        #expect(result.summary.outcome == .interrupted)
        #expect(result.failures.isEmpty)
        #expect(await phases(store, "web/provision[a]") == ["intent"])
        let kinds = events.events.map { "\($0)".prefix(while: { $0 != "(" }) }
        #expect(kinds.last == "summary")
        #expect(
            events.events.contains(
                .interruptReceived(level: .immediate, running: [id("web/provision[a]"), id("api/provision[b]")])))
    }

    @Test func cancellingTheCallerIsAnImmediateInterrupt() async throws {
        let started = Latch()
        let executor = FakeExecutor([
            "web/provision[a]": { _, _ in
                started.open()
                try await ContinuousClock().sleep(for: .seconds(3600))
                return .none
            }
        ])
        let s = scheduler(executor, store: InMemoryJournalStore())
        let run = Task { await s.run(plan([act("web", .provision, "a")])) }
        try await withDeadlockGuard("the action to start") { await started.wait() }
        run.cancel()
        let result = try await withDeadlockGuard("the run to end") { await run.value }
        #expect(result.status(id("web/provision[a]")) == .interrupted)
    }

    @Test func anInterruptBeforeTheRunStartsNothing() async throws {
        let interrupts = InterruptController()
        interrupts.interrupt()
        let executor = FakeExecutor()
        let result = await scheduler(executor, store: InMemoryJournalStore(), interrupts: interrupts).run(
            plan([act("web", .mount)]))
        #expect(executor.recorder.started.isEmpty)
        #expect(result.status(id("web/mount")) == .notStarted)
        #expect(result.interrupted)
    }

    @Test func aSignalDrivesTheController() async throws {
        // SIGUSR2 stands in for SIGINT: nothing else in the test process uses it.
        let interrupts = InterruptController()
        let levels = CollectingLevels()
        let handling = SignalHandling.install(controller: interrupts, signals: [SIGUSR2]) { levels.add($0) }
        defer { handling.cancel() }
        // The source registers asynchronously and an ignored signal that arrives before
        // is lost: send again until one is seen, waiting long enough between sends that
        // at most a second one lands (never a third, which would exit).
        try await withDeadlockGuard("the signal to arrive") {
            while handling.signalCount == 0 {
                kill(getpid(), SIGUSR2)
                for _ in 0..<50 where handling.signalCount == 0 { try await Task.sleep(for: .milliseconds(5)) }
            }
        }
        try await withDeadlockGuard("the controller") { await interrupts.waitUntilInterrupted() }
        #expect(interrupts.level >= .graceful)
        try await withDeadlockGuard("the callback") { while levels.values.isEmpty { await Task.yield() } }
        #expect(levels.values.first == .graceful)
    }

    /// As `kiln emulator serve` installs it: no number of signals ends the process while it stops.
    @Test func withoutTheExitOnTheThirdSignalEverySignalIsCountedAndNoneEndsTheProcess() async throws {
        // SIGURG is ignored by default, so a signal sent while no handler is installed is harmless.
        let interrupts = InterruptController()
        let handling = SignalHandling.install(controller: interrupts, signals: [SIGURG], exitsOnThirdSignal: false)
        defer { handling.cancel() }
        try await withDeadlockGuard("four signals to arrive") {
            while handling.signalCount < 4 {
                let seen = handling.signalCount
                kill(getpid(), SIGURG)
                for _ in 0..<50 where handling.signalCount == seen { try await Task.sleep(for: .milliseconds(5)) }
            }
        }
        #expect(interrupts.level == .immediate)
    }
}

final class CollectingLevels: Sendable {
    private let storage = Mutex<[InterruptController.Level]>([])
    func add(_ level: InterruptController.Level) { storage.withLock { $0.append(level) } }
    var values: [InterruptController.Level] { storage.withLock { $0 } }
}
