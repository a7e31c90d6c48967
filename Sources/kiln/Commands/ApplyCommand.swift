import ArgumentParser
import Foundation
import Model
import Planner
import Providers
import Reconciler

struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Build and publish the images of a manifest, resuming where an earlier run stopped.",
        discussion: """
            Observes, plans, asks for confirmation on a terminal (unless --auto-approve), then \
            runs the DAG: independent actions at the same time (--parallelism), the journal \
            written before and after every mutation. Interrupted (Ctrl-C once: finish what \
            runs and stop; twice: stop now) or killed, it resumes where it stopped when run again. \
            After a failure, --on-error keep (the default) leaves the failed builds' temporary \
            disks and snapshots (attached and mounted as they are) for a cheap resume and lists \
            them; --on-error cleanup unmounts, detaches and deletes them.
            """
    )

    @Argument(help: "The manifest file, or a plan saved by 'kiln plan --out'.", completion: .file(extensions: ["yaml", "yml", "json"]))
    var file: String

    @OptionGroup var target: TargetOptions

    @OptionGroup var options: RunOptions

    @Option(help: "Write the published image and gallery version ids to this file (JSON).")
    var artifact: String?

    @Option(name: .customLong("on-error"), help: "After a failure: keep the failed builds' temporary resources for a resume (and list them), or clean them up.")
    var onError: OnErrorPolicy = .keep

    var parallelism: Int { options.parallelism }
    var json: Bool { options.json }

    func run() async throws {
        let saved = SavedPlan.read(file)
        let manifest = try loadManifestOrExit(saved?.manifest ?? file)
        let manifestDirectory = URL(fileURLWithPath: manifest.file).deletingLastPathComponent()
        let outcome: Int32
        do {
            // Fault injection for the crash matrix (docs/reliability.md); nil when unset.
            let crashAt = try CrashPoint.fromEnvironment(ProcessInfo.processInfo.environment)
            let locks = try await ApplyRun.lock(manifest, journals: FileJournalStore(stateDirectory: target.stateDirectory),
                                               mountLocks: try hostPathsOrExit().mountLocks)
            defer { for lock in locks { lock.release() } }
            outcome = try await withSession(target, manifest: manifest) { session in
                let apply = ApplyRun(session: session, parallelism: parallelism)
                let snapshot = try await session.plan(manifest)
                let plan = snapshot.plan
                if let saved, let why = saved.staleness(against: plan) {
                    Stderr.write("kiln apply: the saved plan \(file) is stale: the world has changed since it was made (\(why)); run kiln plan again")
                    return 1
                }
                // Written straight to the descriptor, like the events that follow, so the order holds.
                if !json { FileDescriptorOutput.standardOutput.write(PlanRenderer.text(plan) + (plan.isEmpty ? "" : "\n")) }
                guard plan.conflicts.isEmpty else {
                    Stderr.write("kiln apply: the plan has conflicts (listed above) that Kiln will not resolve on its own")
                    return 1
                }
                // An empty plan still runs (nothing starts) so that --artifact lists the outputs.
                // A saved plan was reviewed when it was made, as with terraform apply PLANFILE.
                if saved == nil && !plan.isEmpty,
                   !options.approved("apply", question: "Do you want to perform these actions?") {
                    return 1
                }
                if let crashAt, plan.action(crashAt.action)?.isPending != true {
                    Stderr.write("kiln apply: warning: \(CrashPoint.environmentVariable)=\(crashAt) names an action this plan does not run; no crash will happen")
                }
                try await apply.startRuns(snapshot.desired)
                let environment = apply.environment(snapshot)
                let interrupts = InterruptController()
                let signals = SignalHandling.install(controller: interrupts)
                defer { signals.cancel() }
                let events = ApplyRenderer.make(json ? .jsonLines : .text, output: FileDescriptorOutput.standardOutput,
                                                environment: ProcessInfo.processInfo.environment)
                let scheduler = Scheduler(executor: Executors.table(environment, manifestDirectory: manifestDirectory),
                                          journals: session.local.journal, events: events, interrupts: interrupts, parallelism: parallelism,
                                          crashAt: crashAt)
                let result = await scheduler.run(plan)
                try await apply.recordPublished(snapshot.desired, result: result)
                if let artifact { try result.writeArtifact(to: artifact) }
                if result.summary.outcome == .failed {
                    await afterFailure(result, manifest: manifest, apply: apply, events: events, interrupts: interrupts,
                                       manifestDirectory: manifestDirectory)
                }
                return result.succeeded ? 0 : 1
            }
        } catch {
            Stderr.write("kiln apply: \(error)")
            throw ExitCode(1)
        }
        if outcome != 0 { throw ExitCode(outcome) }
    }

    /// `--on-error`: re-observes the builds that failed, then lists what they left
    /// (keep) or removes it with destroy's planner and apply's executors (cleanup).
    private func afterFailure(_ result: ApplyResult, manifest: Manifest, apply: ApplyRun, events: any ApplyEventSink,
                              interrupts: InterruptController, manifestDirectory: URL) async {
        let failed = Set(result.failures.map(\.action.build))
        do {
            let after = try await apply.session.plan(manifest)
            let builds = after.desired.filter { failed.contains($0.name) }
            switch onError {
            case .keep:
                let command = "kiln destroy " + ([shellQuote(manifest.file)] + target.commandLineFlags).joined(separator: " ")
                events.receive(.leftovers(LeftoverReport.make(builds: builds, observed: after.observed, removeCommand: command)))
            case .cleanup:
                let destroy = DestroyPlanner.plan(builds, observed: after.observed,
                                                  options: .init(outputs: false, restoreFiles: true, purpose: "cleanup after the failure"))
                let run = TeardownRun(kind: .cleanup, executor: Executors.table(apply.environment(after), manifestDirectory: manifestDirectory),
                                      journals: apply.session.local.journal, interrupts: interrupts, parallelism: parallelism)
                await run.run(destroy, events: events, keepPublished: true)
            }
        } catch {
            Stderr.write("kiln apply: --on-error \(onError.rawValue): cannot observe what the failed builds left: \(error); kiln destroy \(manifest.file) removes it later")
        }
    }
}

extension OnErrorPolicy: ExpressibleByArgument {}

/// The options `apply` and `destroy` share: confirmation, concurrency and output format.
struct RunOptions: ParsableArguments {
    @Flag(name: .customLong("auto-approve"), help: "Do not ask for confirmation.")
    var autoApprove = false

    @Option(help: "How many actions may run at the same time.")
    var parallelism = Scheduler.defaultParallelism

    @Flag(help: "Print one JSON event per line instead of text.")
    var json = false

    func validate() throws {
        if parallelism < 1 { throw ValidationError("--parallelism must be at least 1") }
    }

    /// True when approved: `--auto-approve`, or `yes` typed on a terminal. Otherwise says
    /// why on standard error (not a terminal, or cancelled) and returns false.
    func approved(_ command: String, question: String) -> Bool {
        if autoApprove { return true }
        guard isatty(STDIN_FILENO) == 1 else {
            Stderr.write("kiln \(command): not on a terminal; pass --auto-approve to \(command) without confirmation")
            return false
        }
        FileHandle.standardOutput.write(Data("\n\(question) Only 'yes' will be accepted: ".utf8))
        guard readLine()?.trimmingCharacters(in: .whitespaces) == "yes" else {
            Stderr.write("kiln \(command): cancelled; nothing was changed")
            return false
        }
        return true
    }
}
