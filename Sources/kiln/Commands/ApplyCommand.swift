import ArgumentParser

struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Build and publish the images of a manifest, resuming where an earlier run stopped.",
        discussion: "Not available in this version yet: the executors that act on Azure and the builder VM are being built. 'kiln plan' shows what apply would do."
    )

    @Argument(help: "The manifest file.", completion: .file(extensions: ["yaml", "yml"]))
    var file: String

    func run() throws {
        Stderr.write("kiln apply: not available in this version yet (the executors that act on Azure and the builder VM are being built); 'kiln plan \(file)' shows what it would do")
        throw ExitCode(1)
    }
}
