import Model
import Planner

/// The bookkeeping of one `Scheduler.run`: which actions finished how, which are
/// running, which may start. A value owned by the run's driver loop; no I/O.
struct SchedulerRun {
    /// What the driver loop waits for.
    enum Message: Sendable {
        case finished(ActionID, Outcome)
        case interrupt(InterruptController.Level)
    }

    /// How one execution of an action ended.
    enum Outcome: Sendable {
        case done(ActionOutcome)
        case failed(ActionFailure)
        case interrupted
    }

    let plan: Plan
    let parallelism: Int
    private let known: Set<ActionID>
    private let dag: DAG<ActionID>
    /// Every action each action depends on, directly or through others. An action starts
    /// only when all of them succeeded: a dependency already done may sit between two
    /// pending ones (after a reboot, `mount` is pending again while the step after it that
    /// `provision[b]` directly depends on is done), and that must still order them.
    private let ancestors: [ActionID: Set<ActionID>]
    /// Each action's typical duration plus the longest typical chain of its dependents
    /// (`TypicalDuration`): how far it is from the end of the apply.
    private let remaining: [ActionID: Double]
    private(set) var final: [ActionID: ActionFinalStatus] = [:]
    private var succeeded: Set<ActionID> = []
    private var resultsByAction: [ActionID: ActionOutcome] = [:]
    private(set) var running: [ActionID: Stopwatch] = [:]
    private var failures: [ActionFailure] = []
    private var interrupted = false

    init(plan: Plan, parallelism: Int) {
        self.plan = plan
        self.parallelism = parallelism
        known = Set(plan.actions.map(\.id))
        dag = plan.dag
        ancestors = dag.allAncestors()
        remaining = dag.longestChainAfter { TypicalDuration.seconds($0.kind) }
        for action in plan.actions {
            switch action.status {
            case .done:
                final[action.id] = .alreadyDone
                succeeded.insert(action.id)
            case .blocked:
                final[action.id] = .blocked(by: action.id)
            case .todo, .stale, .inFlight:
                break
            }
        }
    }

    /// Results of actions done before this run, from the journal.
    mutating func seed(results: [ActionID: ActionOutcome]) {
        resultsByAction.merge(results) { _, new in new }
    }

    /// The actions that may start now, up to the free capacity, in plan order. When more are
    /// ready than there are free slots, the ones with the longest typical chain still ahead
    /// of them (`remaining`) go first: with eight builds and ten slots, the gallery versions
    /// (minutes of replication, then the end) start before the managed images and the
    /// deletions that nothing waits for.
    func startable() -> [Action] {
        let free = parallelism - running.count
        guard free > 0 else { return [] }
        let ready = plan.actions.filter { action in
            final[action.id] == nil && running[action.id] == nil
                && (ancestors[action.id] ?? []).allSatisfy { succeeded.contains($0) }
        }
        guard ready.count > free else { return ready }
        let chosen = Set(
            ready.enumerated()
                .sorted { a, b in
                    let (ra, rb) = (remaining[a.element.id] ?? 0, remaining[b.element.id] ?? 0)
                    return ra != rb ? ra > rb : a.offset < b.offset
                }
                .prefix(free).map(\.element.id))
        return ready.filter { chosen.contains($0.id) }
    }

    mutating func markStarted(_ id: ActionID, at stopwatch: Stopwatch) {
        running[id] = stopwatch
    }

    var runningInPlanOrder: [ActionID] {
        plan.actions.map(\.id).filter { running[$0] != nil }
    }

    func elapsed(_ id: ActionID) -> Duration {
        running[id]?.elapsed() ?? .zero
    }

    /// Records how `id` ended; returns the events this causes (dependents skipped).
    mutating func finish(_ id: ActionID, _ outcome: Outcome) -> [ApplyEvent] {
        // A late message for an action already reported interrupted (second interrupt).
        guard running.removeValue(forKey: id) != nil else { return [] }
        switch outcome {
        case .done(let result):
            final[id] = .done
            succeeded.insert(id)
            resultsByAction[id] = result
            return []
        case .interrupted:
            final[id] = .interrupted
            interrupted = true
            return []
        case .failed(let failure):
            final[id] = .failed(message: failure.message)
            failures.append(failure)
            var events: [ApplyEvent] = []
            for dependent in dag.descendants(of: id) where final[dependent] == nil && running[dependent] == nil {
                final[dependent] = .skipped(upstream: id)
                events.append(.skipped(dependent, upstream: id))
            }
            return events
        }
    }

    /// A running action given up on by the second interrupt.
    mutating func interruptRunning(_ id: ActionID) {
        guard running.removeValue(forKey: id) != nil else { return }
        final[id] = .interrupted
        interrupted = true
    }

    /// Gives every action that never ran its reason, once nothing runs any more.
    mutating func finishRemaining(interrupted: Bool) {
        for action in plan.actions where final[action.id] == nil {
            if let blocker = blockingAncestor(of: action.id) {
                final[action.id] = .blocked(by: blocker)
            } else if interrupted {
                final[action.id] = .notStarted
                self.interrupted = true
            } else {
                // Neither blocked nor failed upstream, yet never ready: a dependency the
                // plan does not contain, or a cycle. The planner never makes either.
                let missing = action.dependsOn.filter { !known.contains($0) }
                let why =
                    missing.isEmpty
                    ? "its dependencies \(action.dependsOn.filter { !succeeded.contains($0) }.map(\.description).joined(separator: ", ")) never finished (a cycle in the plan)"
                    : "it depends on \(missing.map(\.description).joined(separator: ", ")), which the plan does not contain"
                let failure = ActionFailure(
                    action: action.id, message: "not run: \(why); this is a bug in kiln, please report it")
                final[action.id] = .failed(message: failure.message)
                failures.append(failure)
            }
        }
    }

    /// Events for actions that never ran because of a conflict.
    func notRunEvents() -> [ApplyEvent] {
        plan.actions.compactMap { action in
            if case .blocked(let by) = final[action.id] { return .blocked(action.id, by: by) }
            return nil
        }
    }

    /// The results of `ids` that have one.
    func results(of ids: [ActionID]) -> [ActionID: ActionOutcome] {
        var out: [ActionID: ActionOutcome] = [:]
        for id in ids { if let r = resultsByAction[id] { out[id] = r } }
        return out
    }

    /// The results of every finished action of `build`.
    func results(ofBuild build: String) -> [ActionID: ActionOutcome] {
        resultsByAction.filter { $0.key.build == build && succeeded.contains($0.key) }
    }

    /// What each build has published: the ids from done results, or else the resource
    /// of its done image and gallery-version actions.
    func publishedOutputs() -> [PublishedOutputs] {
        var out: [PublishedOutputs] = []
        for build in plan.buildNames {
            var outputs = PublishedOutputs(build: build)
            for action in plan.actions where action.id.build == build && succeeded.contains(action.id) {
                let result = resultsByAction[action.id] ?? ActionOutcome.none
                if let image = result.imageID {
                    outputs.imageID = image.description
                } else if action.id.kind == .image, outputs.imageID == nil {
                    outputs.imageID = action.resource
                }
                if let version = result.galleryImageVersionID {
                    outputs.galleryImageVersionID = version.description
                } else if action.id.kind == .galleryVersion, outputs.galleryImageVersionID == nil {
                    outputs.galleryImageVersionID = action.resource
                }
            }
            if outputs.imageID != nil || outputs.galleryImageVersionID != nil { out.append(outputs) }
        }
        return out
    }

    func result(outputs: [PublishedOutputs]) -> ApplyResult {
        var counts: [String: Int] = [:]
        for status in final.values { counts[status.name, default: 0] += 1 }
        let outcome: ApplySummary.Outcome = interrupted ? .interrupted : (failures.isEmpty ? .complete : .failed)
        let summary = ApplySummary(
            outcome: outcome, done: counts["done"] ?? 0, alreadyDone: counts["already-done"] ?? 0, failures: failures,
            skipped: counts["skipped"] ?? 0, blocked: counts["blocked"] ?? 0, interrupted: counts["interrupted"] ?? 0,
            notStarted: counts["not-started"] ?? 0, outputs: outputs)
        return ApplyResult(actions: plan.actions.map { ($0.id, final[$0.id] ?? .notStarted) }, summary: summary)
    }

    /// A blocked action that `id` depends on, directly or not.
    private func blockingAncestor(of id: ActionID) -> ActionID? {
        var seen: Set<ActionID> = []
        var stack = dag.dependencies(of: id)
        while let next = stack.popLast() {
            guard seen.insert(next).inserted else { continue }
            if case .blocked(let by) = final[next] { return by }
            if plan.action(next)?.status == .blocked { return next }
            stack += dag.dependencies(of: next)
        }
        return nil
    }
}

/// Rough seconds an action of each kind takes on Azure, for ordering the ready actions
/// when slots are short; only their relative sizes matter. Azure's from typical operation
/// times (as in `emulator/latency-realistic.json`); provisioning steps are the user's
/// commands, often the longest part of a build, so they count as long.
enum TypicalDuration {
    static func seconds(_ kind: ActionKind) -> Double {
        switch kind {
        case .galleryVersion, .updateGalleryVersion: 90
        case .replicate: 1
        case .provision: 60
        case .image: 25
        case .attach: 12
        case .detach: 10
        case .galleryDefinition: 10
        case .createDisk: 4
        case .deleteSnapshot, .deleteDisk, .releaseLeftover, .deleteImage, .deleteGalleryVersion: 5
        default: 1
        }
    }
}
