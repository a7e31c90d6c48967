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
            runs and stop; twice: stop now) or killed, it resumes where it stopped when run again.
            """
    )

    @Argument(help: "The manifest file, or a plan saved by 'kiln plan --out'.", completion: .file(extensions: ["yaml", "yml", "json"]))
    var file: String

    @OptionGroup var target: TargetOptions

    @Flag(name: .customLong("auto-approve"), help: "Do not ask for confirmation.")
    var autoApprove = false

    @Option(help: "How many actions may run at the same time.")
    var parallelism = Scheduler.defaultParallelism

    @Flag(help: "Print one JSON event per line instead of text.")
    var json = false

    @Option(help: "Write the published image and gallery version ids to this file (JSON).")
    var artifact: String?

    func validate() throws {
        if parallelism < 1 { throw ValidationError("--parallelism must be at least 1") }
    }

    func run() async throws {
        let saved = SavedPlan.read(file)
        let manifest = try loadManifestOrExit(saved?.manifest ?? file)
        let manifestDirectory = URL(fileURLWithPath: manifest.file).deletingLastPathComponent()
        let outcome: Int32
        do {
            // Fault injection for the crash matrix (docs/reliability.md); nil when unset.
            let crashAt = try CrashPoint.fromEnvironment(ProcessInfo.processInfo.environment)
            let locks = try await ApplyRun.lock(manifest, journals: FileJournalStore(stateDirectory: target.stateDirectory))
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
                if !autoApprove && saved == nil && !plan.isEmpty {
                    guard isatty(STDIN_FILENO) == 1 else {
                        Stderr.write("kiln apply: not on a terminal; pass --auto-approve to apply without confirmation")
                        return 1
                    }
                    FileHandle.standardOutput.write(Data("\nDo you want to perform these actions? Only 'yes' will be accepted: ".utf8))
                    guard readLine()?.trimmingCharacters(in: .whitespaces) == "yes" else {
                        Stderr.write("kiln apply: cancelled; nothing was changed")
                        return 1
                    }
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
                return result.succeeded ? 0 : 1
            }
        } catch {
            Stderr.write("kiln apply: \(error)")
            throw ExitCode(1)
        }
        if outcome != 0 { throw ExitCode(outcome) }
    }
}
