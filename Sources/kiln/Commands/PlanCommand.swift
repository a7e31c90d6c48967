import ArgumentParser
import Foundation
import Planner
import Providers
import Reconciler

struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show what apply would do: the DAG of actions from the manifest, live Azure and the builder VM.",
        discussion: """
            Observes read-only (Azure, the VM's devices and mounts, the journal) and prints each \
            pending action with its symbol (+ create, ~ update, - delete, -/+ replace, * run on \
            the VM, <= read or wait) and the reason it is there, then a summary line. Conflicts \
            that need the user (an immutable gallery version with another digest, a missing \
            source) are listed with their fix and make the command exit 1.
            """
    )

    @Argument(help: "The manifest file.", completion: .file(extensions: ["yaml", "yml"]))
    var file: String

    @OptionGroup var target: TargetOptions

    @Flag(help: "Print the plan as JSON (every action, with its status).")
    var json = false

    @Flag(
        name: .customLong("detailed-exitcode"), help: "Exit 0 when there is nothing to do, 2 when there is, 1 on error."
    )
    var detailedExitcode = false

    @Option(help: "Save the plan to this file, for 'kiln apply FILE' (which refuses it once the world has moved on).")
    var out: String?

    func run() async throws {
        let manifest = try loadManifestOrExit(file)
        let plan: Plan
        do {
            plan = try await withSession(target, manifest: manifest) { session in try await session.plan(manifest).plan
            }
        } catch {
            Stderr.write("kiln plan: \(error)")
            throw ExitCode(1)
        }
        print(json ? try PlanRenderer.json(plan) : PlanRenderer.text(plan), terminator: "")
        if let out { try AtomicFile.write(try SavedPlan(manifest: file, plan: plan).encoded(), to: out, mode: 0o600) }
        // Conflicts need the user: apply would refuse this plan.
        if !plan.conflicts.isEmpty { throw ExitCode(1) }
        if detailedExitcode && !plan.isEmpty { throw ExitCode(2) }
    }
}
