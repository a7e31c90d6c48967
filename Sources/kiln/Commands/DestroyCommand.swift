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
        let manifestDirectory = URL(fileURLWithPath: manifest.file).deletingLastPathComponent()
        let outcome: Int32
        do {
            let locks = try await ApplyRun.lock(manifest, journals: FileJournalStore(stateDirectory: target.stateDirectory), purpose: "kiln destroy",
                                               mountLocks: try hostPathsOrExit().mountLocks)
            defer { for lock in locks { lock.release() } }
            outcome = try await withSession(target, manifest: manifest) { session in
                let apply = ApplyRun(session: session, parallelism: options.parallelism)
                let snapshot = try await session.plan(manifest)
                let destroy = DestroyPlanner.plan(snapshot.desired, observed: snapshot.observed, options: .init(outputs: outputs))
                let out = FileDescriptorOutput.standardOutput
                if !options.json { out.write(DestroyPlanner.text(destroy)) }
                if !destroy.isEmpty, !options.approved("destroy", question: "Do you really want to remove these resources?") {
                    return 1
                }
                let interrupts = InterruptController()
                let signals = SignalHandling.install(controller: interrupts)
                defer { signals.cancel() }
                let events = ApplyRenderer.make(options.json ? .jsonLines : .text, output: out, environment: ProcessInfo.processInfo.environment)
                let run = TeardownRun(kind: .destroy, executor: Executors.table(apply.environment(snapshot), manifestDirectory: manifestDirectory),
                                      journals: session.local.journal, interrupts: interrupts, parallelism: options.parallelism)
                let summary = await run.run(destroy, events: events, keepPublished: !outputs)
                return summary.outcome == .complete ? 0 : 1
            }
        } catch {
            Stderr.write("kiln destroy: \(error)")
            throw ExitCode(1)
        }
        if outcome != 0 { throw ExitCode(outcome) }
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
