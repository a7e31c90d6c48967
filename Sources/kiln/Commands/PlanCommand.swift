import ArgumentParser

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show what apply would do: the DAG of actions from the manifest, live Azure and the builder VM.",
        discussion: "Not available in this version yet: the planner and reconciler are being built. Use 'kiln validate' to check manifests."
    )

    @Argument(help: "The manifest file.", completion: .file(extensions: ["yaml", "yml"]))
    var file: String

    func run() throws {
        Stderr.write("kiln plan: not available in this version yet (the planner and reconciler are being built); 'kiln validate \(file)' checks the manifest")
        throw ExitCode(1)
    }
}
