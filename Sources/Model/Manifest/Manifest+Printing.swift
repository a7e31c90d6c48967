import Foundation
import Yams

extension Manifest {
    /// The fully defaulted manifest as YAML, with each build's content digest as a comment
    /// above it. Loading the YAML part again gives the same manifest.
    public func defaultedYAML(digests: [String: BuildDigest] = [:]) throws -> String {
        let encoder = YAMLEncoder()
        encoder.options.sortKeys = false
        var out = "# \(file): fully defaulted by kiln validate --print\n"
        out += "# Left out: values taken from the builder VM at plan time (azure.subscription, azure.tenant,\n"
        out += "# disk.zone, temporary.resourceGroup) and disk.hyperVGeneration, which follows the source.\n"
        for b in builds {
            if let d = digests[b.name] { out += "# build \(b.name) digest \(d.value)\n" }
        }
        out += try encoder.encode(self)
        return out
    }

    /// The digests of every build, keyed by build name. Relative paths resolve against the
    /// manifest's directory.
    public func digests(values: TemplateValues = TemplateValues()) throws(DigestError) -> [String: BuildDigest] {
        let base = URL(fileURLWithPath: file).deletingLastPathComponent()
        var out: [String: BuildDigest] = [:]
        for b in builds { out[b.name] = try BuildDigest.compute(for: b, baseDirectory: base, values: values) }
        return out
    }
}

/// The machine-readable result of `kiln validate --json`.
public struct ValidationReport: Sendable, Codable {
    public struct BuildSummary: Sendable, Codable {
        public var name: String
        public var source: String
        public var digest: String?
    }
    public var file: String
    public var valid: Bool
    public var diagnostics: [Diagnostic]
    public var builds: [BuildSummary]

    public init(_ result: ManifestLoader.Result, digests: [String: BuildDigest]) {
        file = result.file
        valid = result.errors.isEmpty
        diagnostics = result.diagnostics
        builds = (result.manifest?.builds ?? []).map {
            BuildSummary(name: $0.name, source: $0.source.kindName, digest: digests[$0.name]?.value)
        }
    }
}
