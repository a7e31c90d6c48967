import ArgumentParser

struct DriftCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drift",
        abstract: "Compare the published images and gallery versions with the manifest.",
        discussion: "Not available in this version yet: the planner and reconciler are being built. Use 'kiln validate' to check manifests."
    )

    @Argument(help: "The manifest file.", completion: .file(extensions: ["yaml", "yml"]))
    var file: String

    func run() throws {
        Stderr.write("kiln drift: not available in this version yet (the planner and reconciler are being built); 'kiln validate \(file)' checks the manifest")
        throw ExitCode(1)
    }
}
