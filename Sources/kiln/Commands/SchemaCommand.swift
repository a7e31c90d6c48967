import ArgumentParser
import Foundation
import Model

struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the JSON Schema (draft 2020-12) of the manifest, for editors.",
        discussion: """
            Save it beside your manifests (kiln schema > kiln.schema.json) or use the one \
            'make install' puts in PREFIX/share/kiln/manifest.schema.json, and name it on the \
            manifest's first line: # yaml-language-server: $schema=./kiln.schema.json. \
            The schema accepts every manifest 'kiln validate' accepts; checks it cannot express \
            (files that exist, resource id shapes, unique names) are left to 'kiln validate'.
            """
    )

    func run() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(ManifestSchema.root), as: UTF8.self))
    }
}
