import Foundation
import Model
import Planner
import Providers
import TestSupport
import Testing

@testable import Reconciler

@Suite struct SchedulerTests {
    @Test func dependenciesFinishBeforeTheirDependentsStart() async throws {
        let a = act("web", .createDisk, "os", change: .create)
        let b = act("web", .attach, "os", after: [a.id])
        let c = act("web", .createDisk, "lun1", change: .create)
        let d = act("web", .preMount, after: [b.id, c.id])
        let e = act("web", .mount, after: [d.id])
        let p = plan([a, b, c, d, e])
        let executor = FakeExecutor()
        let result = await scheduler(executor, store: InMemoryJournalStore()).run(p)

        #expect(result.succeeded)
        let log = executor.recorder.log
        for action in p.actions {
            let start = try #require(log.firstIndex(of: "start \(action.id)"))
            for dep in action.dependsOn {
                let end = try #require(log.firstIndex(of: "end \(dep)"))
                #expect(end < start, "\(dep) must end before \(action.id) starts: \(log)")
            }
        }
        #expect(result.summary.done == 5)
    }

    /// After a reboot the mount is pending again while the steps before the unfinished one are
    /// done: the unfinished step must still wait for the mount, through the done ones.
    @Test func aDoneActionBetweenTwoPendingOnesStillOrdersThem() async throws {
        let mount = act("web", .mount)
        let copy = act("web", .copyFiles, after: [mount.id], status: .done)
        let first = act("web", .provision, "a", after: [copy.id], status: .done)
        let second = act("web", .provision, "b", after: [first.id])
        let executor = FakeExecutor()
        let result = await scheduler(executor, store: InMemoryJournalStore()).run(plan([mount, copy, first, second]))

        #expect(result.succeeded)
        let log = executor.recorder.log
        let mounted = try #require(log.firstIndex(of: "end \(mount.id)"))
        let started = try #require(log.firstIndex(of: "start \(second.id)"))
        #expect(mounted < started, "\(log)")
    }

    @Test func concurrencyNeverExceedsTheParallelismAndFillsIt() async throws {
        let actions = (0..<12).map { act("web", .provision, "step\($0)") }
        let wave = Wave(target: 3, total: 12)
        var behaviors: [String: FakeExecutor.Behavior] = [:]
        for a in actions {
            behaviors[a.id.description] = { _, _ in
                await wave.arrive()
                await wave.leave()
                return .none
            }
        }
        let executor = FakeExecutor(behaviors)
        let s = scheduler(executor, store: InMemoryJournalStore(), parallelism: 3)
        let result = try await withDeadlockGuard("three actions at once") { await s.run(plan(actions)) }

        #expect(result.succeeded)
        #expect(executor.recorder.maximum == 3)
    }

    @Test func whenSlotsAreShortTheLongestChainAheadStartsFirst() async throws {
        // Two builds past their snapshots, one slot: each build's gallery version (then
        // replication) is further from the end than its managed image or its disk deletion,
        // so both versions start before any image, whatever the plan order.
        var actions: [Action] = []
        for build in ["a", "b"] {
            actions.append(act(build, .deleteDisk, "os", change: .delete))
            actions.append(act(build, .image, change: .create))
            actions.append(act(build, .galleryVersion, change: .create))
            actions.append(act(build, .replicate, "westus", after: [ActionID(build, .galleryVersion)], change: .wait))
        }
        let executor = FakeExecutor([:])
        let s = scheduler(executor, store: InMemoryJournalStore(), parallelism: 1)
        let p = plan(actions)
        let result = try await withDeadlockGuard("the run") { await s.run(p) }
        #expect(result.succeeded)
        let started = executor.recorder.started
        #expect(
            started == [
                "a/gallery-version", "b/gallery-version", "a/image", "b/image",
                "a/delete-disk[os]", "b/delete-disk[os]", "a/replicate[westus]", "b/replicate[westus]"
            ], "\(started)")
    }

    @Test func withSlotsToSpareReadyActionsAreChosenInPlanOrder() {
        // The choice itself (the executors then start concurrently, in no fixed order).
        let p = plan([
            act("a", .deleteDisk, "os", change: .delete), act("a", .image, change: .create),
            act("a", .galleryVersion, change: .create)
        ])
        #expect(
            SchedulerRun(plan: p, parallelism: 10).startable().map(\.id.description) == [
                "a/delete-disk[os]", "a/image", "a/gallery-version"
            ])
        #expect(SchedulerRun(plan: p, parallelism: 1).startable().map(\.id.description) == ["a/gallery-version"])
        #expect(
            SchedulerRun(plan: p, parallelism: 2).startable().map(\.id.description) == ["a/image", "a/gallery-version"])
    }

    @Test func independentBranchesAndBuildsRunSideBySide() async throws {
        // Each executor waits until the other one has started: only concurrent runs finish.
        let webStarted = Latch()
        let apiStarted = Latch()
        let executor = FakeExecutor([
            "web/provision[setup]": { _, _ in
                webStarted.open()
                await apiStarted.wait()
                return ActionOutcome(location: "web")
            },
            "api/provision[setup]": { _, _ in
                apiStarted.open()
                await webStarted.wait()
                return ActionOutcome(location: "api")
            }
        ])
        let store = InMemoryJournalStore()
        let p = plan([act("web", .provision, "setup"), act("api", .provision, "setup")])
        let s = scheduler(executor, store: store)
        let result = try await withDeadlockGuard("both builds running") { await s.run(p) }

        #expect(result.succeeded)
        #expect(await phases(store, "web/provision[setup]") == ["intent", "done"])
        #expect(await phases(store, "api/provision[setup]") == ["intent", "done"])
        // One journal per build.
        #expect(await store.stored(build: "web")?.entries.allSatisfy { $0.actionID.hasPrefix("web/") } == true)
        #expect(await store.stored(build: "api")?.entries.allSatisfy { $0.actionID.hasPrefix("api/") } == true)
    }

    /// root ─► bad ─► child ─► grandchild, and root ─► left ─► right.
    static let failingPlan = plan([
        act("web", .resolveSource, change: .wait),
        act("web", .provision, "bad", after: [id("web/resolve-source")]),
        act("web", .provision, "child", after: [id("web/provision[bad]")]),
        act("web", .preUnmount, after: [id("web/provision[child]")]),
        act("web", .createDisk, "lun1", after: [id("web/resolve-source")], change: .create),
        act("web", .attach, "lun1", after: [id("web/create-disk[lun1]")])
    ])

    @Test func aFailureStopsItsDependentsAndLetsIndependentBranchesFinish() async throws {
        let store = InMemoryJournalStore()
        let events = CollectingEventSink()
        let executor = FakeExecutor(["web/provision[bad]": { _, _ in throw Boom() }])
        let result = await scheduler(executor, store: store, events: events).run(Self.failingPlan)

        #expect(result.summary.outcome == .failed)
        #expect(result.status(id("web/provision[bad]")) == .failed(message: "disk quota exceeded in eastus"))
        #expect(result.status(id("web/provision[child]")) == .skipped(upstream: id("web/provision[bad]")))
        #expect(result.status(id("web/pre-unmount")) == .skipped(upstream: id("web/provision[bad]")))
        #expect(result.status(id("web/attach[lun1]")) == .done)
        #expect(result.failures.map(\.action) == [id("web/provision[bad]")])
        #expect(!executor.recorder.started.contains("web/provision[child]"))

        #expect(await phases(store, "web/provision[bad]") == ["intent", "failed"])
        for done in ["web/resolve-source", "web/create-disk[lun1]", "web/attach[lun1]"] {
            #expect(await phases(store, done) == ["intent", "done"])
        }
        #expect(await phases(store, "web/provision[child]").isEmpty)

        // Skipped dependents are reported once each, not as failures of their own.
        let failed = events.events.filter { if case .failed = $0 { true } else { false } }
        #expect(failed.count == 1)
        let skipped = events.events.compactMap { if case .skipped(let id, let up) = $0 { "\(id)<-\(up)" } else { nil } }
        #expect(skipped == ["web/provision[child]<-web/provision[bad]", "web/pre-unmount<-web/provision[bad]"])
        guard case .summary(let summary) = events.events.last else {
            Issue.record("summary is not last")
            return
        }
        #expect(summary.message.hasPrefix("Apply failed: 1 action failed, 2 not run because of it, 3 done."))
    }

    @Test func aRerunSkipsWhatTheJournalRecordsAsDoneAndResumesFromTheFailure() async throws {
        let store = InMemoryJournalStore()
        let first = FakeExecutor(["web/provision[bad]": { _, _ in throw Boom() }])
        _ = await scheduler(first, store: store).run(Self.failingPlan)

        // What the planner does with the journal's completed set: mark those done.
        let journal = await store.stored(build: "web")!
        let completed = Set(
            journal.latestByAction.compactMap { key, entry -> String? in
                if case .done = entry.phase { return key } else { return nil }
            })
        var second = Self.failingPlan
        for i in second.actions.indices where completed.contains(second.actions[i].id.description) {
            second.actions[i].status = .done
        }

        let executor = FakeExecutor()
        let result = await scheduler(executor, store: store).run(second)
        #expect(result.succeeded)
        #expect(Set(executor.recorder.started) == ["web/provision[bad]", "web/provision[child]", "web/pre-unmount"])
        #expect(result.summary.alreadyDone == 3)
        #expect(result.summary.done == 3)
        #expect(await phases(store, "web/provision[bad]") == ["intent", "failed", "intent", "done"])
        // Results of dependencies done in the earlier run come from the journal.
        let context = try #require(executor.recorder.context(id("web/provision[bad]")))
        #expect(context.dependencyResults == [id("web/resolve-source"): ActionOutcome(location: "web/resolve-source")])
        #expect(context.buildResults[id("web/attach[lun1]")] == ActionOutcome(location: "web/attach[lun1]"))
    }

    @Test func anOperationURLIsJournaledBetweenIntentAndDone() async throws {
        let store = InMemoryJournalStore()
        let clock = VirtualClock()
        let events = CollectingEventSink()
        let url =
            "https://management.azure.com/subscriptions/s/providers/Microsoft.Compute/locations/eastus/operations/op1?api-version=2024-03-02"
        let executor = FakeExecutor([
            "web/create-disk[os]": { action, context in
                try await context.recordOperation(url)
                // Poll twice, as a long-running operation would be (virtual time).
                try await context.sleep(for: .seconds(30))
                context.reportProgress(percent: 50, detail: "creating")
                try await context.sleep(for: .seconds(30))
                return ActionOutcome(resourceID: try ResourceID(parsing: action.resource!))
            }
        ])
        let disk = act(
            "web", .createDisk, "os", change: .create,
            resource: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/kiln-web-r1-os")
        let result = await scheduler(executor, store: store, events: events, clock: clock).run(plan([disk]))

        #expect(result.succeeded)
        #expect(await phases(store, "web/create-disk[os]") == ["intent", "started \(url)", "done"])
        let last = await store.stored(build: "web")!.entries.last!
        #expect(last.phase == .done(result: ["resourceId": disk.resource!]))
        #expect(last.resourceID == disk.resource)
        #expect(events.events.contains(.done(disk.id, elapsed: .seconds(60))))
        #expect(events.events.contains(.progress(disk.id, percent: 50, detail: "creating")))
    }

    @Test func anInFlightActionIsRejoinedWithItsOperationURL() async throws {
        let url = "https://management.azure.com/operations/op7"
        let gv = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/def/versions/1.0.0"
        let store = InMemoryJournalStore(journals: [
            BuildJournal(
                build: "web",
                entries: [
                    JournalEntry(actionID: "web/gallery-version", phase: .intent),
                    JournalEntry(actionID: "web/gallery-version", phase: .started(operationURL: url))
                ])
        ])
        let events = CollectingEventSink()
        let executor = FakeExecutor([
            "web/gallery-version": { _, context in
                guard context.operationToRejoin == url else { throw Boom() }
                return ActionOutcome(galleryImageVersionID: try ResourceID(parsing: gv))
            }
        ])
        let version = act("web", .galleryVersion, status: .inFlight, change: .create, resource: gv, operation: url)
        let result = await scheduler(executor, store: store, events: events).run(plan([version]))

        #expect(result.succeeded)
        // No second intent: the URL stays the latest entry until the result is known.
        #expect(await phases(store, "web/gallery-version") == ["intent", "started \(url)", "done"])
        #expect(await store.stored(build: "web")!.entries.last!.phase == .done(result: ["galleryImageVersionId": gv]))
        #expect(events.events.first == .started(version.id, change: .create, resource: gv, rejoining: true))
    }

    @Test func blockedActionsAndTheirDependentsNeverRun() async throws {
        let events = CollectingEventSink()
        let executor = FakeExecutor()
        let p = plan([
            act("web", .galleryVersion, status: .blocked, change: .create),
            act("web", .replicate, "eastus", after: [id("web/gallery-version")], change: .wait),
            act("web", .image, change: .create, resource: "img")
        ])
        let result = await scheduler(executor, store: InMemoryJournalStore(), events: events).run(p)

        #expect(executor.recorder.started == ["web/image"])
        #expect(result.status(id("web/gallery-version")) == .blocked(by: id("web/gallery-version")))
        #expect(result.status(id("web/replicate[eastus]")) == .blocked(by: id("web/gallery-version")))
        #expect(!result.succeeded)
        #expect(events.events.contains(.blocked(id("web/replicate[eastus]"), by: id("web/gallery-version"))))
    }

    @Test func anUnwritableJournalStopsAnActionBeforeItActs() async throws {
        let store = InMemoryJournalStore()
        await store.setFailWrites("No space left on device")
        let executor = FakeExecutor()
        let result = await scheduler(executor, store: store).run(plan([act("web", .createDisk, "os", change: .create)]))

        #expect(executor.recorder.started.isEmpty)
        #expect(result.summary.outcome == .failed)
        let message = try #require(result.failures.first?.message)
        #expect(message.contains("journal could not record its intent"))
        #expect(message.contains("No space left on device"))
    }

    @Test func aCommandFailureCarriesTheCommandAndItsLastOutput() async throws {
        let store = InMemoryJournalStore()
        let executor = FakeExecutor([
            "web/provision[setup]": { _, _ in
                throw CommandRunnerError.failed(
                    command: "/bin/sh -c 'apt-get install nginx'", termination: .exited(100),
                    tail: ["E: Unable to locate package nginx"])
            }
        ])
        let result = await scheduler(executor, store: store).run(plan([act("web", .provision, "setup")]))

        let failure = try #require(result.failures.first)
        #expect(failure.command == "/bin/sh -c 'apt-get install nginx'")
        #expect(failure.outputTail == ["E: Unable to locate package nginx"])
        #expect(failure.message.hasPrefix("command `/bin/sh -c 'apt-get install nginx'`"))
        let last = await store.stored(build: "web")!.entries.last!
        guard case .failed(let journaled) = last.phase else {
            Issue.record("not failed: \(last.phase)")
            return
        }
        #expect(journaled.contains("E: Unable to locate package nginx"))
    }

    @Test func buildLocksAreTakenForEveryBuildAndRefusedToASecondApply() async throws {
        let store = InMemoryJournalStore()
        let s = scheduler(FakeExecutor(), store: store)
        let p = plan([act("web", .mount), act("api", .mount)])
        let handles = try await s.lockBuilds(of: p)
        #expect(handles.count == 2)
        await #expect(throws: JournalError.self) { _ = try await s.lockBuilds(of: p) }
        for handle in handles { handle.release() }
        let again = try await s.lockBuilds(of: p)
        for handle in again { handle.release() }
    }
}

@Suite struct FileJournalTests {
    @Test func theJournalOnDiskRecordsEachPhaseWithMode0600() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = FileJournalStore(stateDirectory: dir.url.appendingPathComponent(".kiln").path)
        let url = "https://management.azure.com/operations/op9"
        let snapshot = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/disk"
        let executor = FakeExecutor([
            "web/create-disk[os]": { _, context in
                try await context.recordOperation(url)
                // What an executor that crashed now would leave: the URL, durably.
                let journal = try await context.journal.load()
                #expect(journal.latest(for: "web/create-disk[os]")?.phase == .started(operationURL: url))
                return ActionOutcome(resourceID: try ResourceID(parsing: snapshot))
            }
        ])
        let s = Scheduler(executor: executor, journals: store, events: CollectingEventSink(), clock: VirtualClock())
        let locks = try await s.lockBuilds(of: plan([act("web", .createDisk, "os")]))
        defer { for lock in locks { lock.release() } }
        let result = await s.run(plan([act("web", .createDisk, "os", change: .create)]))

        #expect(result.succeeded)
        let path = store.journalPath(build: "web")
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)
        let phases = try await store.load(build: "web").entries.map(\.phase)
        #expect(phases == [.intent, .started(operationURL: url), .done(result: ["resourceId": snapshot])])
    }
}

/// No silent waits: a wait inside an executor that lasts shows as the action's progress.
@Suite struct SchedulerWaitNotes {
    @Test func aLastingWaitInsideAnExecutorIsReportedAsTheActionsProgress() async throws {
        let attach = act("web", .attach, "os")
        let executor = FakeExecutor([
            attach.id.description: { _, _ in
                try await Waiting.for("the block device of LUN 0 to appear", firstAfter: .milliseconds(10)) { note in
                    note.seen("nothing yet at lun0")
                    try await Task.sleep(for: .milliseconds(300))
                }
                return .none
            }
        ])
        let events = CollectingEventSink()
        let result = await scheduler(executor, store: InMemoryJournalStore(), events: events).run(plan([attach]))
        #expect(result.succeeded)
        let notes = events.events.compactMap { event -> String? in
            if case .progress(let id, nil, let detail) = event, id == attach.id { return detail }
            return nil
        }
        #expect(
            notes.first?.hasPrefix("still waiting for the block device of LUN 0 to appear (since ") == true, "\(notes)")
        #expect(notes.first?.hasSuffix("): nothing yet at lun0") == true, "\(notes)")
    }
}
