import ArgumentParser
import Foundation
import Model

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check manifests and report every problem with its file, line and column.",
        discussion: """
            Exits 0 when every manifest is valid (warnings allowed) and 1 otherwise. Each \
            problem is printed as FILE:LINE:COL: error: what is wrong — what to do.
            """
    )

    @Argument(help: "Manifest files to check.", completion: .file(extensions: ["yaml", "yml"]))
    var files: [String]

    @Flag(help: "Print each valid manifest fully defaulted, with its builds' content digests.")
    var print = false

    @Flag(help: "Print one JSON report per file instead of text.")
    var json = false

    func run() throws {
        var failed = false
        for file in files {
            let result = ManifestLoader.load(path: file)
            var digests: [String: BuildDigest] = [:]
            var digestError: String?
            if let manifest = result.manifest {
                do {
                    digests = try manifest.digests(
                        values: TemplateValues(environment: ProcessInfo.processInfo.environment))
                } catch {
                    digestError = error.description
                }
            }
            if !result.errors.isEmpty || digestError != nil { failed = true }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                Swift.print(
                    String(decoding: try encoder.encode(ValidationReport(result, digests: digests)), as: UTF8.self))
                continue
            }
            for d in result.diagnostics { Stderr.write(d.description) }
            if let digestError { Stderr.write("\(file): error: \(digestError)") }
            guard let manifest = result.manifest, digestError == nil else {
                Stderr.write(
                    "\(file): \(result.errors.count) error\(result.errors.count == 1 ? "" : "s"), \(result.warnings.count) warning\(result.warnings.count == 1 ? "" : "s")"
                )
                continue
            }
            if print {
                Swift.print(try manifest.defaultedYAML(digests: digests), terminator: "")
            } else {
                let names = manifest.builds.map(\.name).joined(separator: ", ")
                Swift.print(
                    "\(file): valid, \(manifest.builds.count) build\(manifest.builds.count == 1 ? "" : "s") (\(names))\(result.warnings.isEmpty ? "" : ", \(result.warnings.count) warning\(result.warnings.count == 1 ? "" : "s")")"
                )
            }
        }
        if failed { throw ExitCode(1) }
    }
}

enum Stderr {
    static func write(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
