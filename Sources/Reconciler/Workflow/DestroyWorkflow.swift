import Foundation
import Model
import Planner
import Providers

/// How `kiln destroy` ended, for the command to turn into an exit code.
public enum DestroyOutcome: Sendable {
    /// The removal was not approved (the prompt said why). Nothing ran.
    case notApproved
    /// The removal ran, and how it ended.
    case ran(TeardownSummary)
}

/// `kiln destroy` as a workflow: takes the builds' locks (as apply does), observes, plans the
/// removal of the builds' temporary resources (and of the outputs with `outputs`), asks for
/// approval, and runs it with apply's scheduler and executors (SIGINT and SIGTERM
/// interrupting it); afterwards the journals of the builds removed completely forget their run.
///
/// Events go to `events`; the plan and the question to `prompt`. Throws when the locks cannot
/// be taken or the world cannot be observed; the actions' failures are in the outcome.
public struct DestroyWorkflow: Sendable {
    public struct Options: Sendable {
        public var parallelism: Int
        /// Remove the published outputs too.
        public var outputs: Bool
        /// Whether SIGINT and SIGTERM interrupt the run (the command); tests interrupt
        /// through the workflow's `InterruptController`.
        public var handlesSignals: Bool

        public init(
            parallelism: Int = Scheduler.defaultParallelism, outputs: Bool = false,
            handlesSignals: Bool = true
        ) {
            self.parallelism = parallelism
            self.outputs = outputs
            self.handlesSignals = handlesSignals
        }
    }

    public var manifest: Manifest
    public var options: Options
    public var site: any WorkflowSite
    public var prompt: any WorkflowPrompt
    public var events: any ApplyEventSink
    public var interrupts: InterruptController

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

    public func run() async throws -> DestroyOutcome {
        try await withSignals(driving: interrupts, if: options.handlesSignals) {
            try await site.withLockedWorld(manifest, purpose: "kiln destroy") { world in try await destroy(in: world) }
        }
    }

    private func destroy(in world: any WorkflowWorld) async throws -> DestroyOutcome {
        let manifest = self.manifest
        let snapshot = try await interruptible("observing Azure and this VM and planning", interrupts: interrupts) {
            try await world.plan(manifest)
        }
        let destroy = DestroyPlanner.plan(
            snapshot.desired, observed: snapshot.observed,
            options: .init(outputs: options.outputs))
        prompt.show(DestroyPlanner.text(destroy))
        let prompt = self.prompt
        if !destroy.isEmpty,
            !(try await interruptible("waiting for approval", interrupts: interrupts) {
                await prompt.approve("Do you really want to remove these resources?")
            })
        {
            return .notApproved
        }
        let executor = world.executor(for: snapshot, manifestDirectory: manifest.fileDirectory)
        let run = TeardownRun(
            kind: .destroy, executor: executor, journals: world.journals, interrupts: interrupts,
            parallelism: options.parallelism)
        return .ran(await run.run(destroy, events: events, keepPublished: !options.outputs))
    }
}
