import ArgumentParser
import Foundation
import Model
import Providers
import Reconciler

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show where each build of a manifest stands, from its journal and its lock.",
        discussion: """
            Per build: its state (running, succeeded, failed, stopped, pending), the VM or process \
            that holds it (or ran it last), its run, and its latest journal entry with its age. \
            Reads the remote state (state: azureBlob) or the local state directory; changes nothing.
            """
    )

    @Argument(help: "The manifest file.", completion: .file(extensions: ["yaml", "yml"]))
    var file: String

    @OptionGroup var target: TargetOptions

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() async throws {
        let manifest = try loadManifestOrExit(file)
        let statuses: [BuildStatus]
        do {
            statuses = try await withJournals(target, manifest: manifest) { journals in
                var out: [BuildStatus] = []
                for build in manifest.builds { out.append(try await BuildStatus.of(build: build.name, in: journals)) }
                return out
            }
        } catch {
            Stderr.write("kiln status: \(error)")
            throw ExitCode(1)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(statuses), as: UTF8.self))
        } else {
            print(BuildStatus.table(statuses), terminator: "")
        }
    }
}
