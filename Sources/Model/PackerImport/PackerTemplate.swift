import Foundation

/// A Packer template read from JSON or HCL2, before its values are evaluated: the sources
/// (builders), the builds with their provisioners, and what the importer cannot carry over.
///
/// Values stay unevaluated (`PackerField`) until the importer asks for them, so a variable
/// that only sets a credential is never needed, and never read, to import a template.
public struct PackerTemplate: Sendable {
    public enum Format: String, Sendable { case json, hcl }

    public var file: String
    public var format: Format
    public var sources: [PackerSource]
    public var builds: [PackerBuild]
    /// The variables that name secrets: declared sensitive, or used by a credential field.
    public var sensitiveVariables: Set<String>
    /// What the importer noticed but can carry on with (an unused `--var-file` value).
    public var warnings: [Diagnostic] = []

    public init(
        file: String, format: Format, sources: [PackerSource], builds: [PackerBuild],
        sensitiveVariables: Set<String> = []
    ) {
        self.file = file
        self.format = format
        self.sources = sources
        self.builds = builds
        self.sensitiveVariables = sensitiveVariables
    }
}

/// A located failure of reading or evaluating a template.
public struct PackerImportError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]
    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }
    public init(at location: SourceLocation, _ message: String, fix: String = "") {
        diagnostics = [Diagnostic(.error, at: location, message, fix: fix)]
    }
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// Where a value is evaluated: for which source (HCL's `source.name`), and which variables
/// carry secrets.
public struct PackerContext: Sendable {
    public var sourceType: String
    public var sourceName: String
    public var secretVariables: Set<String>
    public init(sourceType: String = "", sourceName: String = "", secretVariables: Set<String> = []) {
        self.sourceType = sourceType
        self.sourceName = sourceName
        self.secretVariables = secretVariables
    }
}

/// One unevaluated attribute value of a template.
public struct PackerField: Sendable {
    public let location: SourceLocation
    let evaluator: @Sendable (PackerContext) throws(PackerImportError) -> PackerValue
    /// The environment variable the value is read from when it is exactly one
    /// (`env("X")`, `{{env `X`}}`, or a variable whose default is that).
    public let environmentName: String?
    /// The variables the value refers to.
    public let variables: Set<String>

    public init(
        at location: SourceLocation, environmentName: String? = nil, variables: Set<String> = [],
        _ evaluator: @escaping @Sendable (PackerContext) throws(PackerImportError) -> PackerValue
    ) {
        self.location = location
        self.environmentName = environmentName
        self.variables = variables
        self.evaluator = evaluator
    }

    public func evaluate(_ context: PackerContext) throws(PackerImportError) -> PackerValue {
        try evaluator(context)
    }
}

/// A named attribute of a source or provisioner.
public struct PackerAttribute: Sendable {
    public var name: String
    public var field: PackerField
    public init(_ name: String, _ field: PackerField) {
        self.name = name
        self.field = field
    }
}

/// A `source "TYPE" "NAME"` block, or a JSON builder.
public struct PackerSource: Sendable {
    public var type: String
    public var name: String
    public var location: SourceLocation
    public var attributes: [PackerAttribute]

    public subscript(name: String) -> PackerField? { attributes.last { $0.name == name }?.field }
}

/// A `build` block (JSON: the template's one build).
public struct PackerBuild: Sendable {
    /// A reference to a source from a build (`source.azure-chroot.NAME`), with the build's
    /// own name for it (`source "…" { name = "…" }`).
    public struct SourceReference: Sendable {
        public var type: String
        public var name: String
        public var rename: String?
        public var location: SourceLocation
    }

    public var name: String?
    public var location: SourceLocation
    public var sources: [SourceReference]
    public var provisioners: [PackerProvisioner]
    /// Post-processors, error-cleanup provisioners and other parts Kiln has no place for.
    public var unsupported: [PackerUnsupported]
}

/// A `provisioner "TYPE"` block or a JSON provisioner.
public struct PackerProvisioner: Sendable {
    public var type: String
    public var location: SourceLocation
    public var attributes: [PackerAttribute]
    /// `only` and `except`: source names (`azure-chroot.NAME` or `NAME`) it is limited to or kept from.
    public var only: [String]
    public var except: [String]

    public subscript(name: String) -> PackerField? { attributes.last { $0.name == name }?.field }

    /// Whether it runs for the source `type.name`.
    public func applies(toType type: String, name: String) -> Bool {
        let names: Set<String> = [name, "\(type).\(name)", "source.\(type).\(name)"]
        if !only.isEmpty && names.isDisjoint(with: only) { return false }
        return names.isDisjoint(with: except)
    }
}

/// A part of a template that Kiln cannot import.
public struct PackerUnsupported: Sendable, Hashable {
    /// What it is, as the template spells it: `post-processor "manifest"`.
    public var what: String
    public var location: SourceLocation
}
