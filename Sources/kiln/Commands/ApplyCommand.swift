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

    @Argument(
        help: "The manifest file, or a plan saved by 'kiln plan --out'.",
        completion: .file(extensions: ["yaml", "yml", "json"]))
    var file: String

    @OptionGroup var target: TargetOptions

    @OptionGroup var options: RunOptions

    @Option(help: "Write the published image and gallery version ids to this file (JSON).")
    var artifact: String?

    @Option(
        name: .customLong("on-error"),
        help:
            "After a failure: keep the failed builds' temporary resources for a resume (and list them), or clean them up."
    )
    var onError: OnErrorPolicy = .keep

    var parallelism: Int { options.parallelism }
    var json: Bool { options.json }

    func run() async throws {
        let saved = SavedPlan.read(file)
        let manifest = try loadManifestOrExit(saved?.manifest ?? file)
        let outcome: ApplyOutcome
        do {
            // Fault injection for the crash matrix (docs/reliability.md); nil when unset.
            let crashAt = try CrashPoint.fromEnvironment(ProcessInfo.processInfo.environment)
            let removeCommand = ([shellQuote(manifest.file)] + target.commandLineFlags).joined(separator: " ")
            let workflow = ApplyWorkflow(
                manifest: manifest,
                options: .init(
                    parallelism: parallelism, savedPlan: saved, crashAt: crashAt, artifact: artifact,
                    onError: onError, removeCommand: "kiln destroy " + removeCommand),
                site: CommandSite(target: target, manifest: manifest),
                prompt: TerminalPrompt(command: "apply", options: options),
                events: ApplyRenderer.make(
                    json ? .jsonLines : .text, output: FileDescriptorOutput.standardOutput,
                    environment: ProcessInfo.processInfo.environment))
            outcome = try await workflow.run()
        } catch let interrupted as WorkflowInterrupted {
            Stderr.write("kiln apply: \(interrupted)")
            throw ExitCode(130)
        } catch {
            Stderr.write("kiln apply: \(error)")
            throw ExitCode(1)
        }
        switch outcome {
        case .stalePlan(let why):
            Stderr.write(
                "kiln apply: the saved plan \(file) is stale: the world has changed since it was made "
                    + "(\(why)); run kiln plan again")
            throw ExitCode(1)
        case .conflicts:
            Stderr.write("kiln apply: the plan has conflicts (listed above) that Kiln will not resolve on its own")
            throw ExitCode(1)
        case .notApproved:
            throw ExitCode(1)
        case .ran(let result, let afterFailure):
            if case .unobserved(let error) = afterFailure {
                Stderr.write(
                    "kiln apply: --on-error \(onError.rawValue): cannot observe what the failed builds left: "
                        + "\(error); kiln destroy \(manifest.file) removes it later")
            }
            if !result.succeeded { throw ExitCode(1) }
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
}
