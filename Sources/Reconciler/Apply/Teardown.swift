import Foundation
import Model
import Planner
import Providers

/// What `kiln apply` does with the temporary resources of builds that failed.
public enum OnErrorPolicy: String, Sendable, CaseIterable {
    /// Leave disks, snapshots, attachments and mounts as they are, so a resume is cheap,
    /// and report them.
    case keep
    /// Unmount, detach and delete the failed builds' temporary disks and snapshots.
    case cleanup
}

/// The temporary resources a failed apply leaves in place (`--on-error keep`), and the
/// command that removes them.
public struct LeftoverReport: Sendable, Equatable, Codable {
    /// One disk or snapshot that is kept.
    public struct Item: Sendable, Equatable, Codable {
        public var build: String
        /// `disk` or `snapshot`.
        public var kind: String
        public var name: String
        public var id: String
        /// The run (digest prefix) it belongs to.
        public var run: String
        /// Attached to the builder VM (at `lun` when known).
        public var attached: Bool
        public var lun: Int?
        public var device: String?
        public var mountedAt: String?

        enum CodingKeys: String, CodingKey {
            case build, kind, name, id, run, attached, lun, device
            case mountedAt = "mounted_at"
        }
    }

    public var items: [Item]
    /// The command that removes them (`kiln destroy FILE …`).
    public var removeCommand: String

    public init(items: [Item], removeCommand: String) {
        self.items = items
        self.removeCommand = removeCommand
    }

    enum CodingKeys: String, CodingKey {
        case items
        case removeCommand = "remove_command"
    }

    /// The report of `builds` from what was observed after the failure.
    public static func make(builds: [DesiredBuild], observed: [String: ObservedBuild], removeCommand: String)
        -> LeftoverReport
    {
        var items: [Item] = []
        for d in builds {
            let o = observed[d.name] ?? ObservedBuild()
            for role in d.roles {
                guard let disk = o.disks[role] else { continue }
                items.append(
                    Item(
                        build: d.name, kind: "disk", name: d.diskName(role), id: disk.resource.id, run: d.runID,
                        attached: disk.builderLUN != nil, lun: disk.builderLUN, device: o.devices[role],
                        mountedAt: role == .os && o.rootMounted ? d.mountPath : nil))
            }
            for role in d.roles {
                guard let snapshot = o.snapshots[role] else { continue }
                items.append(
                    Item(
                        build: d.name, kind: "snapshot", name: d.snapshotName(role), id: snapshot.id, run: d.runID,
                        attached: false))
            }
            for l in o.leftovers {
                items.append(
                    Item(
                        build: d.name, kind: l.kind.rawValue, name: l.name, id: l.id, run: l.runID,
                        attached: l.attached, mountedAt: l.mountedAt))
            }
        }
        return LeftoverReport(items: items, removeCommand: removeCommand)
    }

    /// The lines a person reads.
    public var lines: [String] {
        guard !items.isEmpty else { return ["No temporary resources were left by the failed builds."] }
        var out = ["Kept for a cheap resume (--on-error keep):"]
        for item in items {
            var state: [String] = []
            if item.attached {
                state.append(
                    "attached" + (item.lun.map { " at LUN \($0)" } ?? "") + (item.device.map { " as \($0)" } ?? ""))
            }
            if let m = item.mountedAt { state.append("mounted at \(m)") }
            let where_ = state.isEmpty ? "" : ", " + state.joined(separator: ", ")
            out.append("  \(item.build): \(item.kind) \(item.name) (run \(item.run)\(where_))")
            out.append("      \(item.id)")
        }
        out.append("Fix the cause and run kiln apply again to resume, or remove them with: \(removeCommand)")
        return out
    }
}

/// How a cleanup or a destroy ended.
public struct TeardownSummary: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable { case cleanup, destroy }

    public var kind: Kind
    public var outcome: ApplySummary.Outcome
    /// What was removed (unmounted, detached, deleted), one line each.
    public var removed: [String]
    public var failures: [ActionFailure]
    /// What was found and left alone, with why.
    public var kept: [String]
    /// Things that went wrong outside the actions (a journal that could not be cleared).
    public var problems: [String] = []

    public init(kind: Kind, outcome: ApplySummary.Outcome, removed: [String], failures: [ActionFailure], kept: [String])
    {
        self.kind = kind
        self.outcome = outcome
        self.removed = removed
        self.failures = failures
        self.kept = kept
    }

    /// The line a person reads at the end.
    public var message: String {
        let what = kind == .cleanup ? "Cleanup" : "Destroy"
        switch outcome {
        case .complete:
            return removed.isEmpty
                ? "\(what) complete: nothing to remove." : "\(what) complete: \(removed.count) removed."
        case .failed:
            return
                "\(what) failed: \(failures.count) action\(failures.count == 1 ? "" : "s") failed, \(removed.count) removed. Fix the cause and run kiln destroy again; it removes what is left."
        case .interrupted:
            return "\(what) interrupted: \(removed.count) removed. Run kiln destroy again to remove what is left."
        }
    }

    /// The lines a person reads.
    public var lines: [String] {
        var out = ["", message]
        out += removed.map { "  - \($0)" }
        out += failures.map { "  ✗ \($0.action): \($0.message)" }
        out += kept.map { "  kept: \($0)" }
        out += problems.map { "  ! \($0)" }
        return out
    }
}

/// Runs a `DestroyPlan` with apply's scheduler and executors (for `kiln destroy` and
/// `kiln apply --on-error cleanup`), then clears the run state of each build's journal
/// that was removed completely, so the next apply starts afresh.
///
/// The caller holds the builds' journal locks.
public struct TeardownRun: Sendable {
    public var kind: TeardownSummary.Kind
    public var executor: any ActionExecutor
    public var journals: any JournalStore
    public var interrupts: InterruptController
    public var parallelism: Int

    public init(
        kind: TeardownSummary.Kind, executor: any ActionExecutor, journals: any JournalStore,
        interrupts: InterruptController = InterruptController(), parallelism: Int = Scheduler.defaultParallelism
    ) {
        self.kind = kind
        self.executor = executor
        self.journals = journals
        self.interrupts = interrupts
        self.parallelism = parallelism
    }

    /// Runs `destroy`, forwarding the actions' events to `events` and ending with one
    /// `.teardown` event (instead of the scheduler's apply summary). `keepPublished`: keep
    /// the journal's record of the published digest (the outputs stay).
    @discardableResult
    public func run(_ destroy: DestroyPlan, events: any ApplyEventSink, keepPublished: Bool) async -> TeardownSummary {
        let scheduler = Scheduler(
            executor: executor, journals: journals, events: WithoutSummary(inner: events),
            interrupts: interrupts, parallelism: parallelism)
        let result = await scheduler.run(destroy.plan)
        var removed: [String] = []
        var problems: [String] = []
        for (id, status) in result.actions where status == .done {
            guard let action = destroy.plan.action(id) else { continue }
            removed.append(Self.describe(action))
        }
        for build in destroy.plan.builds.map(\.name) {
            let failed = result.failures.contains { $0.action.build == build }
            guard !failed, !result.interrupted else { continue }
            do {
                let journal = try await journals.load(build: build)
                let header = JournalHeader(published: keepPublished ? journal.header.published : nil)
                try await journals.replace(BuildJournal(build: build, header: header))
            } catch {
                problems.append(
                    "\(build): the resources are removed, but its journal could not be cleared (\(error)); the next apply still plans from what exists"
                )
            }
        }
        var summary = TeardownSummary(
            kind: kind, outcome: result.summary.outcome, removed: removed, failures: result.failures, kept: destroy.kept
        )
        summary.problems = problems
        events.receive(.teardown(summary))
        return summary
    }

    static func describe(_ action: Action) -> String {
        let build = action.id.build
        let resource = action.resource ?? ""
        let name = resource.split(separator: "/").last.map(String.init) ?? resource
        switch action.id.kind {
        case .unmount: return "\(build): unmounted everything under \(resource)"
        case .detach: return "\(build): detached disk \(resource)"
        case .restoreFiles: return "\(build): restored the image's own copied files"
        case .deleteDisk: return "\(build): deleted disk \(name)"
        case .deleteSnapshot: return "\(build): deleted snapshot \(name)"
        case .releaseLeftover: return "\(build): released and deleted leftover \(name)"
        case .deleteImage: return "\(build): deleted image \(name)"
        case .deleteGalleryVersion: return "\(build): deleted gallery version \(resource)"
        default: return "\(build): \(action.id)"
        }
    }

    /// Forwards everything but the scheduler's summary, which speaks of an apply.
    struct WithoutSummary: ApplyEventSink {
        let inner: any ApplyEventSink
        func receive(_ event: ApplyEvent) {
            if case .summary = event { return }
            inner.receive(event)
        }
    }
}
