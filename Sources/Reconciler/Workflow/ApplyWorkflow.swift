import Foundation
import Model
import Planner
import Providers

/// How `kiln apply` ended, for the command to report and turn into an exit code.
public enum ApplyOutcome: Sendable {
    /// The saved plan differs from a fresh plan of the same manifest: what changed. Nothing ran.
    case stalePlan(String)
    /// The plan has conflicts (shown with the plan) that Kiln does not resolve. Nothing ran.
    case conflicts
    /// The plan was not approved (the prompt said why). Nothing ran.
    case notApproved
    /// The plan ran; `afterFailure` is what `--on-error` did when it failed.
    case ran(ApplyResult, afterFailure: AfterFailure?)
}

/// What `--on-error` did after a failed run.
public enum AfterFailure: Sendable {
    /// `keep`: the failed builds' temporary resources are left, as reported.
    case kept(LeftoverReport)
    /// `cleanup`: the teardown of the failed builds' temporary resources, and how it ended.
    case cleanedUp(TeardownSummary)
    /// What the failed builds left could not be observed: the error.
    case unobserved(any Error)
}

/// `kiln apply` as a workflow: takes every build's locks, observes and plans, refuses a stale
/// saved plan or a plan with conflicts, asks for approval, starts the builds' runs in their
/// journals, runs the DAG with the scheduler (SIGINT and SIGTERM interrupting it), records
/// what was published, writes the artifact, and after a failure keeps or cleans up what the
/// failed builds left (`--on-error`).
///
/// Events go to `events`; the plan, the question and warnings to `prompt`. Throws when the
/// locks cannot be taken, the world cannot be observed, a journal cannot be written or the
/// artifact cannot be written; the run's own failures are in the outcome.
public struct ApplyWorkflow: Sendable {
    public struct Options: Sendable {
        public var parallelism: Int
        /// A plan saved by `kiln plan --out`: applied only when a fresh plan is the same, and
        /// not asked about again (it was reviewed when it was made).
        public var savedPlan: SavedPlan?
        /// The fault-injection point (`KILN_CRASH_AT`).
        public var crashAt: CrashPoint?
        /// Where to write the published ids (JSON), if anywhere.
        public var artifact: String?
        public var onError: OnErrorPolicy
        /// The command that removes what failed builds left, for the `keep` report.
        public var removeCommand: String
        /// Whether SIGINT and SIGTERM interrupt the run (the command); tests interrupt
        /// through the workflow's `InterruptController`.
        public var handlesSignals: Bool

        public init(
            parallelism: Int = Scheduler.defaultParallelism, savedPlan: SavedPlan? = nil,
            crashAt: CrashPoint? = nil, artifact: String? = nil, onError: OnErrorPolicy = .keep,
            removeCommand: String, handlesSignals: Bool = true
        ) {
            self.parallelism = parallelism
            self.savedPlan = savedPlan
            self.crashAt = crashAt
            self.artifact = artifact
            self.onError = onError
            self.removeCommand = removeCommand
            self.handlesSignals = handlesSignals
        }
    }

    public var manifest: Manifest
    public var options: Options
    public var site: any WorkflowSite
    public var prompt: any WorkflowPrompt
    public var events: any ApplyEventSink
    public var interrupts: InterruptController
    /// What happens at `crashAt`: SIGKILL of this process, or a test's probe.
    var crash: @Sendable () -> Void = CrashPoint.killThisProcess

    public init(
        manifest: Manifest, options: Options, site: any WorkflowSite, prompt: any WorkflowPrompt,
        events: any ApplyEventSink, interrupts: InterruptController = InterruptController()
    ) {
        self.manifest = manifest
        self.options = options
        self.site = site
        self.prompt = prompt
        self.events = events
        self.interrupts = interrupts
    }

    public func run() async throws -> ApplyOutcome {
        try await withSignals(driving: interrupts, if: options.handlesSignals) {
            try await site.withLockedWorld(manifest, purpose: "kiln apply") { world in try await apply(in: world) }
        }
    }

    func apply(in world: any WorkflowWorld) async throws -> ApplyOutcome {
        let manifest = self.manifest
        let snapshot = try await interruptible("observing Azure and this VM and planning", interrupts: interrupts) {
            try await world.plan(manifest)
        }
        let plan = snapshot.plan
        if let saved = options.savedPlan, let why = saved.staleness(against: plan) { return .stalePlan(why) }
        prompt.show(PlanRenderer.text(plan) + (plan.isEmpty ? "" : "\n"))
        guard plan.conflicts.isEmpty else { return .conflicts }
        // An empty plan still runs (nothing starts) so that the artifact lists the outputs.
        // A saved plan was reviewed when it was made, as with terraform apply PLANFILE.
        let prompt = self.prompt
        if options.savedPlan == nil && !plan.isEmpty,
            !(try await interruptible("waiting for approval", interrupts: interrupts) {
                await prompt.approve("Do you want to perform these actions?")
            })
        {
            return .notApproved
        }
        if let crashAt = options.crashAt, plan.action(crashAt.action)?.isPending != true {
            prompt.warn(
                "warning: \(CrashPoint.environmentVariable)=\(crashAt) names an action this plan does not run; "
                    + "no crash will happen")
        }
        let runs = ApplyRun(journals: world.journals, parallelism: options.parallelism)
        try await runs.startRuns(snapshot.desired)
        let scheduler = Scheduler(
            executor: world.executor(for: snapshot, manifestDirectory: manifest.fileDirectory),
            journals: world.journals, events: events, interrupts: interrupts,
            parallelism: options.parallelism, crashAt: options.crashAt, crash: crash)
        let result = await scheduler.run(plan)
        try await runs.recordOutcome(snapshot.desired, result: result, vm: snapshot.vm.id.name)
        if let artifact = options.artifact { try result.writeArtifact(to: artifact) }
        guard result.summary.outcome == .failed else { return .ran(result, afterFailure: nil) }
        return .ran(result, afterFailure: await afterFailure(result, in: world))
    }

    /// `--on-error`: re-observes the builds that failed, then lists what they left (keep) or
    /// removes it with destroy's planner and apply's executors (cleanup).
    private func afterFailure(_ result: ApplyResult, in world: any WorkflowWorld) async -> AfterFailure {
        let failed = Set(result.failures.map(\.action.build))
        do {
            let after = try await world.plan(manifest)
            let builds = after.desired.filter { failed.contains($0.name) }
            switch options.onError {
            case .keep:
                let report = LeftoverReport.make(
                    builds: builds, observed: after.observed,
                    removeCommand: options.removeCommand)
                events.receive(.leftovers(report))
                return .kept(report)
            case .cleanup:
                let cleanup = DestroyPlanner.Options(
                    outputs: false, restoreFiles: true,
                    purpose: "cleanup after the failure")
                let destroy = DestroyPlanner.plan(builds, observed: after.observed, options: cleanup)
                let executor = world.executor(for: after, manifestDirectory: manifest.fileDirectory)
                let run = TeardownRun(
                    kind: .cleanup, executor: executor, journals: world.journals,
                    interrupts: interrupts, parallelism: options.parallelism)
                return .cleanedUp(await run.run(destroy, events: events, keepPublished: true))
            }
        } catch {
            return .unobserved(error)
        }
    }
}
