import Foundation
import Model
import Testing

/// `kiln schema`: valid JSON of draft 2020-12, every source kind, and the keys the decoder
/// knows in every section (read off its own "the keys allowed here are" errors).
@Suite struct ManifestSchemaTests {
    static func encoded() throws -> [String: Any] {
        let data = try JSONEncoder().encode(ManifestSchema.root)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func isJSONOfDraft202012() throws {
        let schema = try Self.encoded()
        #expect(schema["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
        #expect(schema["additionalProperties"] as? Bool == false)
        #expect((schema["required"] as? [String]) == ["builds"])
    }

    @Test func namesEverySourceKindAsOneBranchOfOneOf() throws {
        let source = try #require(ManifestSchema.root.node(at: "builds[0].source"))
        let kinds = SourceKind.allCases.map(\.rawValue)
        #expect(source.oneOf?.compactMap(\.title) == kinds)
        #expect(source.oneOf?.map { $0.required ?? [] } == kinds.map { [$0] })
        #expect(Set(source.properties?.keys.map { $0 } ?? []) == Set(kinds))
    }

    @Test func listsEveryValueOfTheModelsEnums() throws {
        let text = String(decoding: try JSONEncoder().encode(ManifestSchema.root), as: UTF8.self)
        let values =
            StorageAccountType.allCases.map(\.rawValue) + CacheType.allCases.map(\.rawValue)
            + SecurityType.allCases.map(\.rawValue) + ReplicaStorageType.allCases.map(\.rawValue)
            + CredentialSettings.Kind.allCases.map(\.rawValue) + AzureSettings.Cloud.allCases.map(\.rawValue)
            + DiskControllerType.allCases.map(\.rawValue) + ReplicationMode.allCases.map(\.rawValue)
        for value in values { #expect(text.contains("\"\(value)\""), "\(value) is not in the schema") }
    }

    /// A manifest with an unknown key in every section: the decoder lists the keys it knows
    /// there, which must be exactly the schema's properties of that section.
    @Test func eachSectionHasTheKeysTheDecoderKnows() throws {
        let probe = "zzqqxxkk: 1"
        let yaml = """
            \(probe)
            azure:
              \(probe)
              credential: {\(probe)}
            builds:
              - name: web
                \(probe)
                source:
                  \(probe)
                  scratch: {sizeGB: 8, \(probe)}
                disk:
                  \(probe)
                  dataDisks: [{lun: 1, sizeGB: 4, \(probe)}]
                mount:
                  \(probe)
                  chrootMounts: [{type: proc, source: proc, target: /proc, \(probe)}]
                provision:
                  - {shell: ["true"], \(probe)}
                  - upload: {source: ., destination: /x, \(probe)}
                outputs:
                  \(probe)
                  image: {id: /subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/images/i, \(probe)}
                  gallery:
                    \(probe)
                    targetRegions: [{name: eastus, \(probe)}]
                    definition:
                      \(probe)
                      features: {\(probe)}
                      recommended: {\(probe), vCPUs: {min: 1, \(probe)}, memory: {max: 4, \(probe)}}
                temporary: {\(probe)}
                timeouts: {\(probe)}
            """
        let result = ManifestLoader.parse(
            bytes: Array(yaml.utf8), file: "m.yaml", baseDirectory: FileManager.default.temporaryDirectory)
        var sections: [String: Set<String>] = [:]
        for error in result.errors {
            guard let range = error.message.range(of: "unknown key 'zzqqxxkk' in ") else { continue }
            let path = String(error.message[range.upperBound...])
            let allowed = try #require(error.fix.range(of: "the keys allowed here are: "), "\(error)")
            sections[path == "the document" ? "" : path] = Set(
                error.fix[allowed.upperBound...].components(separatedBy: ", "))
        }
        #expect(sections.count == 23, "\(sections.keys.sorted())")
        for (path, keys) in sections {
            let node = try #require(ManifestSchema.root.node(at: path), "no schema for \(path)")
            #expect(Set(node.properties?.keys.map { $0 } ?? []) == keys, "\(path)")
            #expect(node.closed, "\(path) does not refuse unknown keys")
        }
    }
}

extension JSONSchema {
    /// The schema of the mapping at a decoder path such as `builds[0].outputs.gallery` (a list's
    /// item is the branch that is a mapping).
    func node(at path: String) -> JSONSchema? {
        var current = self
        for part in path.split(separator: ".") {
            var name = Substring(part)
            var indexed = false
            if let bracket = name.firstIndex(of: "[") {
                indexed = true
                name = name[..<bracket]
            }
            guard let next = current.properties?[String(name)] else { return nil }
            current = next
            if indexed {
                guard let item = current.items?.schema else { return nil }
                current = item
            }
            if current.properties == nil, let mapping = current.anyOf?.first(where: { $0.properties != nil }) {
                current = mapping
            }
        }
        return current
    }
}
