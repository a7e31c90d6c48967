import Foundation
import Planner
import Providers
import Synchronization
import Testing

@testable import Reconciler

/// The fault-injection hook `KILN_CRASH_AT` (the crash matrix in RobustnessTests uses it
/// with the real binary; here: that it parses, and fires at the right journal entry, with a
/// probe in place of SIGKILL).
@Suite struct CrashPointTests {
    @Test func parsesBeforeAndAfterAnActionID() throws {
        #expect(CrashPoint(parsing: "before:quickstart/attach[os]") == CrashPoint(.before, id("quickstart/attach[os]")))
        #expect(CrashPoint(parsing: "after:web/gallery-version") == CrashPoint(.after, id("web/gallery-version")))
        #expect(CrashPoint(parsing: " after:web/replicate[westus2] ")?.action.target == "westus2")
        #expect(CrashPoint(parsing: "after:web/replicate[westus2]")?.description == "after:web/replicate[westus2]")
        for bad in ["", "web/mount", "during:web/mount", "before:", "before:web/no-such-kind", "after:mount"] {
            #expect(CrashPoint(parsing: bad) == nil, "\(bad)")
        }
    }

    @Test func theEnvironmentUnsetOrEmptyMeansNoCrashAndAMalformedValueIsAnError() throws {
        #expect(try CrashPoint.fromEnvironment([:]) == nil)
        #expect(try CrashPoint.fromEnvironment(["KILN_CRASH_AT": ""]) == nil)
        #expect(
            try CrashPoint.fromEnvironment(["KILN_CRASH_AT": "before:a/mount"]) == CrashPoint(.before, id("a/mount")))
        let error = #expect(throws: CrashPointError.self) {
            try CrashPoint.fromEnvironment(["KILN_CRASH_AT": "a/mount"])
        }
        #expect(error?.description.contains("before:<action id> or after:<action id>") == true)
    }

    /// `before` fires once the intent is on disk and before the executor runs; `after` once
    /// `done` is on disk and before any dependent starts.
    @Test(arguments: CrashPoint.Moment.allCases)
    func theSchedulerCrashesRightAfterTheJournalEntry(moment: CrashPoint.Moment) async throws {
        let store = InMemoryJournalStore()
        let executor = FakeExecutor()
        let p = plan([act("web", .provision, "a"), act("web", .provision, "b", after: [id("web/provision[a]")])])
        let seen = Mutex<[String]?>(nil)
        let s = Scheduler(
            executor: executor, journals: store, events: CollectingEventSink(), clock: VirtualClock(),
            crashAt: CrashPoint(moment, id("web/provision[a]")),
            crash: { seen.withLock { $0 = executor.recorder.log } })
        let result = try await withDeadlockGuard("the run") { await s.run(p) }
        #expect(result.succeeded)
        switch moment {
        case .before: #expect(seen.withLock { $0 } == [])
        case .after: #expect(seen.withLock { $0 } == ["start web/provision[a]", "end web/provision[a]"])
        }
        #expect(await phases(store, "web/provision[a]") == ["intent", "done"])
    }

    @Test func unsetTheSchedulerNeverCrashes() async throws {
        let fired = Mutex(false)
        let s = Scheduler(
            executor: FakeExecutor(), journals: InMemoryJournalStore(), events: CollectingEventSink(),
            clock: VirtualClock(),
            crash: { fired.withLock { $0 = true } })
        let result = try await withDeadlockGuard("the run") { await s.run(plan([act("web", .provision, "a")])) }
        #expect(result.succeeded)
        #expect(!fired.withLock { $0 })
    }
}
