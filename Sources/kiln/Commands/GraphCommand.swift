import ArgumentParser

struct GraphCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph",
        abstract: "Print the action DAG of a manifest as Graphviz DOT.",
        discussion: "Not available in this version yet: the planner and reconciler are being built. Use 'kiln validate' to check manifests."
    )

    @Argument(help: "The manifest file.", completion: .file(extensions: ["yaml", "yml"]))
    var file: String

    func run() throws {
        Stderr.write("kiln graph: not available in this version yet (the planner and reconciler are being built); 'kiln validate \(file)' checks the manifest")
        throw ExitCode(1)
    }
}
