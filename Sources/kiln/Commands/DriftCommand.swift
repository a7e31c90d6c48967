import ArgumentParser
import Planner
import Reconciler

struct DriftCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drift",
        abstract: "Compare the published images and gallery versions with the manifest.",
        discussion: "Exits 0 when they match, 2 when something drifted (printed per field), 1 on error."
    )

    @Argument(help: "The manifest file.", completion: .file(extensions: ["yaml", "yml"]))
    var file: String

    @OptionGroup var target: TargetOptions

    func run() async throws {
        let manifest = try loadManifestOrExit(file)
        let items: [DriftItem]
        do {
            items = try await withSession(target, manifest: manifest) { session in
                let snapshot = try await session.plan(manifest)
                return DriftDetector.drift(snapshot.desired, observed: snapshot.observed)
            }
        } catch {
            Stderr.write("kiln drift: \(error)")
            throw ExitCode(1)
        }
        if items.isEmpty {
            print("No drift. The published images match the manifest.")
            return
        }
        for item in items {
            print(
                "~ \(item.build): \(item.field): expected \(item.expected), found \(item.actual)\(item.repairableInPlace ? " (apply repairs it in place)" : " (apply rebuilds)")"
            )
        }
        print("\(items.count) drifted field\(items.count == 1 ? "" : "s").")
        throw ExitCode(2)
    }
}
