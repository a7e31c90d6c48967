import Foundation
import Model
import TestSupport

/// Imports template text as `name` in a fresh directory holding `files`, with `--var` values.
func importPacker(
    _ text: String, name: String = "t.pkr.hcl", vars: [String] = [], varFiles: [String: String] = [:],
    skipUnsupported: Bool = false, files: [String: String] = [:]
) throws -> PackerImporter.Result {
    try importAndLoad(
        text, name: name, vars: vars, varFiles: varFiles, skipUnsupported: skipUnsupported, files: files
    ).result
}

/// Imports as `importPacker` does, and loads the manifest (in the same directory) as Kiln does.
func importAndLoad(
    _ text: String, name: String = "t.pkr.hcl", vars: [String] = [], varFiles: [String: String] = [:],
    skipUnsupported: Bool = false, files: [String: String] = [:]
) throws -> (result: PackerImporter.Result, manifest: Manifest?) {
    let dir = try TemporaryDirectory("kiln-import")
    defer { dir.remove() }
    for (path, content) in files { try dir.write(path, content) }
    let inputs = PackerInputs(
        variables: vars.compactMap(PackerInputs.Assignment.init(parsing:)),
        variableFiles: varFiles.map { PackerInputs.VariableFile(path: $0.key, text: $0.value) })
    let result = PackerImporter.convert(
        text, file: name, directory: dir.url,
        options: .init(
            inputs: inputs, skipUnsupported: skipUnsupported, outputDirectory: dir.url, workingDirectory: dir.url))
    guard let yaml = result.manifest else { return (result, nil) }
    let file = try dir.write("kiln.yaml", yaml)
    return (result, ManifestLoader.load(path: file.path).manifest)
}

extension String {
    /// The YAML comments' text, wrapped lines joined with a space.
    var yamlComments: String {
        split(separator: "\n").compactMap { line in
            let t = line.drop { $0 == " " }
            return t.hasPrefix("# ") ? String(t.dropFirst(2)) : nil
        }.joined(separator: " ")
    }
}

extension PackerImporter.Result {
    /// The first error as `FILE:LINE:COL: error: message — fix`.
    var firstError: String { errors.first?.description ?? "(no error)" }
    func hasError(_ line: Int, _ column: Int, containing text: String) -> Bool {
        errors.contains { $0.location.line == line && $0.location.column == column && $0.description.contains(text) }
    }
}

/// A minimal importable source and build around `body` (lines inside the source block).
func chrootTemplate(_ body: String = "", provisioners: String = "") -> String {
    """
    source "azure-chroot" "web" {
      source            = "Canonical:ubuntu-24_04-lts:server:latest"
      image_resource_id = "/subscriptions/{{vm `subscription_id`}}/resourceGroups/{{vm `resource_group`}}/providers/Microsoft.Compute/images/web"
    \(body)
    }

    build {
      sources = ["source.azure-chroot.web"]
    \(provisioners)
    }

    """
}
