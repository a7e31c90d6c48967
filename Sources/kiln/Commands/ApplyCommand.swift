import ArgumentParser

struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Build and publish the images of a manifest, resuming where an earlier run stopped.",
        discussion: "Not available in this version yet: the planner and reconciler are being built. Use 'kiln validate' to check manifests."
    )

    @Argument(help: "The manifest file.", completion: .file(extensions: ["yaml", "yml"]))
    var file: String

    func run() throws {
        Stderr.write("kiln apply: not available in this version yet (the planner and reconciler are being built); 'kiln validate \(file)' checks the manifest")
        throw ExitCode(1)
    }
}
