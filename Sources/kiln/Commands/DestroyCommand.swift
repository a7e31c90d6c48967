import ArgumentParser
import Foundation
import Model
import Planner
import Providers
import Reconciler

struct DestroyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "destroy",
        abstract: "Remove what Kiln created for a manifest: temporary resources always, the outputs with --outputs.",
        discussion: """
            Takes the builds' journal locks (like apply), observes, and plans the removal of \
            every temporary disk and snapshot of these builds, of any run (found by name and by \
            Kiln's tags), unmounting and detaching them first when they are still mounted or \
            attached. With --outputs it also deletes the managed image and the gallery version, \
            but only those that carry Kiln's kiln:digest tag. Shows the plan and asks for \
            confirmation on a terminal unless --auto-approve; afterwards it clears the journals' \
            run state, so the next apply starts afresh.
            """
    )

    @Argument(help: "The manifest file.", completion: .file(extensions: ["yaml", "yml"]))
    var file: String

    @OptionGroup var target: TargetOptions

    @Flag(help: "Also delete the published outputs (managed image, gallery version) that Kiln made.")
    var outputs = false

    @OptionGroup var options: RunOptions

    func run() async throws {
        let manifest = try loadManifestOrExit(file)
        let outcome: DestroyOutcome
        do {
            let workflow = DestroyWorkflow(
                manifest: manifest,
                options: .init(parallelism: options.parallelism, outputs: outputs),
                site: CommandSite(target: target, manifest: manifest),
                prompt: TerminalPrompt(command: "destroy", options: options),
                events: ApplyRenderer.make(
                    options.json ? .jsonLines : .text,
                    output: FileDescriptorOutput.standardOutput,
                    environment: ProcessInfo.processInfo.environment))
            outcome = try await workflow.run()
        } catch let interrupted as WorkflowInterrupted {
            Stderr.write("kiln destroy: \(interrupted)")
            throw ExitCode(130)
        } catch {
            Stderr.write("kiln destroy: \(error)")
            throw ExitCode(1)
        }
        switch outcome {
        case .notApproved:
            throw ExitCode(1)
        case .ran(let summary):
            if summary.outcome != .complete { throw ExitCode(1) }
        }
    }
}

extension TargetOptions {
    /// The flags that point another kiln command at the same target, for the commands
    /// Kiln suggests (e.g. the `kiln destroy` of a leftover report).
    var commandLineFlags: [String] {
        var flags: [String] = []
        if emulator { flags.append("--emulator") }
        if let emulatorEndpoints { flags += ["--emulator-endpoints", shellQuote(emulatorEndpoints)] }
        if stateDirectory != ".kiln" { flags += ["--state-dir", shellQuote(stateDirectory)] }
        if let credential { flags += ["--credential", credential.rawValue] }
        return flags
    }
}
