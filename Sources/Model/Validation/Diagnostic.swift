/// A place in a manifest file: 1-based line and column (columns count Unicode scalars, as
/// the YAML parser does).
public struct SourceLocation: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }

    public static func < (a: SourceLocation, b: SourceLocation) -> Bool {
        (a.file, a.line, a.column) < (b.file, b.line, b.column)
    }
}

/// One finding about a manifest: what is wrong, where, and what to do about it.
///
/// The description is the line a user reads: `FILE:LINE:COL: error: what — fix`.
public struct Diagnostic: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable, Codable {
        case error, warning
    }

    public var severity: Severity
    public var location: SourceLocation
    /// What is wrong, naming the field by its path (e.g. `builds[0].outputs.gallery.version`).
    public var message: String
    /// What to do about it; empty when the message says it all.
    public var fix: String

    public init(_ severity: Severity, at location: SourceLocation, _ message: String, fix: String = "") {
        self.severity = severity
        self.location = location
        self.message = message
        self.fix = fix
    }

    public var description: String {
        fix.isEmpty
            ? "\(location): \(severity.rawValue): \(message)"
            : "\(location): \(severity.rawValue): \(message) — \(fix)"
    }
}

/// Thrown when a manifest has errors; carries every diagnostic found, warnings included.
public struct ManifestError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]
    public init(diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }
    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
