import ArgumentParser
import Planner
import Reconciler

struct GraphCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph",
        abstract: "Print the action DAG of a manifest as Graphviz DOT.",
        discussion:
            "Pipe it to 'dot -Tsvg'. Done actions are dashed and grey; edges go from an action to those that wait for it."
    )

    @Argument(help: "The manifest file.", completion: .file(extensions: ["yaml", "yml"]))
    var file: String

    @OptionGroup var target: TargetOptions

    func run() async throws {
        let manifest = try loadManifestOrExit(file)
        do {
            let plan = try await withSession(target, manifest: manifest) { session in
                try await session.plan(manifest).plan
            }
            print(PlanRenderer.dot(plan), terminator: "")
        } catch {
            Stderr.write("kiln graph: \(error)")
            throw ExitCode(1)
        }
    }
}
