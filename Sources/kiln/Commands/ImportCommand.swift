import ArgumentParser
import Foundation
import Model

/// `kiln import`: turns another tool's templates into a Kiln manifest.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Write a Kiln manifest equivalent to another tool's template.",
        subcommands: [PackerImportCommand.self]
    )
}

struct PackerImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "packer",
        abstract: "Write a Kiln manifest equivalent to a Packer azure-chroot template (JSON or HCL2).",
        discussion: """
            One build per azure-chroot source; shell and file provisioners become steps. Comments in \
            the manifest mark where Kiln's meaning differs from Packer's. Secrets are never copied: \
            a secret option becomes the name of the environment variable Kiln reads it from. Relative \
            script and file paths are read from the current directory (as Packer reads them) and \
            written relative to the manifest. Problems are printed as FILE:LINE:COL: error: … — fix; \
            with any error nothing is written and the exit status is 1. -var and -var-file may also \
            be written --var and --var-file.
            """
    )

    @Argument(help: "The Packer template (.pkr.hcl, or .json).", completion: .file(extensions: ["hcl", "json"]))
    var file: String

    @Option(
        help: "Write the manifest to this file instead of standard output.", completion: .file(extensions: ["yaml"]))
    var out: String?

    @Option(
        name: [.customLong("var"), .customLong("var", withSingleDash: true)],
        help: ArgumentHelp("Set a template variable, as packer build -var does (repeatable).", valueName: "NAME=VALUE"))
    var variables: [String] = []

    @Option(
        name: [.customLong("var-file"), .customLong("var-file", withSingleDash: true)],
        help: ArgumentHelp("Read variable values from a .pkrvars.hcl or .json file (repeatable).", valueName: "FILE"),
        completion: .file())
    var variableFiles: [String] = []

    @Flag(
        help:
            "Leave out provisioners, post-processors and builders Kiln cannot carry out (each is warned about), instead of refusing."
    )
    var skipUnsupported = false

    func validate() throws {
        for v in variables where PackerInputs.Assignment(parsing: v) == nil {
            throw ValidationError("-var \(v): write NAME=VALUE")
        }
    }

    func run() throws {
        var files: [PackerInputs.VariableFile] = []
        for path in variableFiles {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
            else {
                Stderr.write("\(path):1:1: error: the variable file cannot be read — check the path")
                throw ExitCode(1)
            }
            files.append(.init(path: path, text: text))
        }
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let outputDirectory = out.map { URL(fileURLWithPath: $0, relativeTo: cwd).deletingLastPathComponent() } ?? cwd
        let result = PackerImporter.importTemplate(
            path: file,
            options: .init(
                inputs: PackerInputs(
                    variables: variables.compactMap(PackerInputs.Assignment.init(parsing:)), variableFiles: files),
                skipUnsupported: skipUnsupported, outputDirectory: outputDirectory, workingDirectory: cwd))
        for d in result.diagnostics { Stderr.write(d.description) }
        guard let manifest = result.manifest else {
            let errors = result.errors.count
            let warnings = result.diagnostics.count - errors
            Stderr.write(
                "\(file): \(errors) error\(errors == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s"); nothing written"
            )
            throw ExitCode(1)
        }
        if let out {
            do {
                try Data(manifest.utf8).write(to: URL(fileURLWithPath: out), options: .atomic)
            } catch {
                Stderr.write("\(out): error: cannot write the manifest: \(error.localizedDescription)")
                throw ExitCode(1)
            }
            Stderr.write("\(file): imported to \(out); check it with kiln validate \(out)")
        } else {
            print(manifest, terminator: "")
        }
    }
}
