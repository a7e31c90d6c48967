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

    @Option(
        name: .customLong("builds-at-once"),
        help: "With remote state (a fleet of builder VMs): how many builds this VM runs at the same time.")
    var buildsAtOnce = 2

    var parallelism: Int { options.parallelism }
    var json: Bool { options.json }

    func validate() throws {
        if buildsAtOnce < 1 { throw ValidationError("--builds-at-once must be at least 1") }
    }

    func run() async throws {
        let saved = SavedPlan.read(file)
        let manifest = try loadManifestOrExit(saved?.manifest ?? file)
        let outcome: ApplyOutcome
        let fleet: FleetReport?
        do {
            // Fault injection for the crash matrix (docs/reliability.md); nil when unset.
            let crashAt = try CrashPoint.fromEnvironment(ProcessInfo.processInfo.environment)
            let removeCommand = ([shellQuote(manifest.file)] + target.commandLineFlags).joined(separator: " ")
            let applyOptions = ApplyWorkflow.Options(
                parallelism: parallelism, savedPlan: saved, crashAt: crashAt, artifact: artifact,
                onError: onError, removeCommand: "kiln destroy " + removeCommand)
            let site = CommandSite(target: target, manifest: manifest)
            let prompt = TerminalPrompt(command: "apply", options: options)
            let events = ApplyRenderer.make(
                json ? .jsonLines : .text, output: FileDescriptorOutput.standardOutput,
                environment: ProcessInfo.processInfo.environment)
            if manifest.state.azureBlob != nil, saved == nil {
                let workflow = FleetApplyWorkflow(
                    manifest: manifest, options: .init(apply: applyOptions, buildsAtOnce: buildsAtOnce),
                    site: site, prompt: prompt, events: events)
                (fleet, outcome) = (try await workflow.run(), .notApproved)
            } else {
                let workflow = ApplyWorkflow(
                    manifest: manifest, options: applyOptions, site: site, prompt: prompt, events: events)
                (fleet, outcome) = (nil, try await workflow.run())
            }
        } catch let interrupted as WorkflowInterrupted {
            Stderr.write("kiln apply: \(interrupted)")
            throw ExitCode(130)
        } catch {
            Stderr.write("kiln apply: \(error)")
            throw ExitCode(1)
        }
        if let fleet { try report(fleet) }
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

extension ApplyCommand {
    /// Prints the per-build report of this VM's part of a fleet apply; exits 0 when every
    /// build succeeded (by whichever VM), else 1.
    func report(_ report: FleetReport) throws {
        if json {
            FileDescriptorOutput.standardOutput.write(report.jsonLine)
        } else {
            FileDescriptorOutput.standardOutput.write(report.text)
        }
        throw report.succeeded ? ExitCode.success : ExitCode(1)
    }
}

extension FleetReport {
    /// `{"event": "fleet", "builds": [{"name", "result", "vm", "message"}]}` on one line.
    var jsonLine: String {
        struct Line: Encodable {
            struct Item: Encodable {
                var name: String
                var result: String
                var vm: String?
                var message: String?
            }
            var event = "fleet"
            var succeeded: Bool
            var builds: [Item]
        }
        let line = Line(
            succeeded: succeeded,
            builds: builds.map { Line.Item(name: $0.name, result: $0.result.rawValue, vm: $0.vm, message: $0.message) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return ((try? encoder.encode(line)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}") + "\n"
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
