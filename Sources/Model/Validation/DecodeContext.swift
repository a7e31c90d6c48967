import Foundation
import Yams

/// Collects diagnostics while a manifest is read, and bounds the work that aliases can cause.
///
/// Used on one thread for one file; never shared.
final class DecodeContext {
    let file: String
    /// The directory relative paths in the manifest are resolved against.
    let baseDirectory: URL
    private(set) var diagnostics: [Diagnostic] = []
    /// Stop collecting after this many errors: past it, more lines help nobody.
    static let maxDiagnostics = 200
    private var suppressed = 0

    init(file: String, baseDirectory: URL) {
        self.file = file
        self.baseDirectory = baseDirectory
    }

    func location(_ node: Node?) -> SourceLocation {
        let mark = node?.mark
        return SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    func location(line: Int, column: Int) -> SourceLocation {
        SourceLocation(file: file, line: line, column: column)
    }

    func error(_ node: Node?, _ message: String, fix: String = "") {
        add(Diagnostic(.error, at: location(node), message, fix: fix))
    }

    func warning(_ node: Node?, _ message: String, fix: String = "") {
        add(Diagnostic(.warning, at: location(node), message, fix: fix))
    }

    func add(_ diagnostic: Diagnostic) {
        guard diagnostics.count < Self.maxDiagnostics else {
            suppressed += 1
            return
        }
        if !diagnostics.contains(diagnostic) { diagnostics.append(diagnostic) }
    }

    var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }

    /// The diagnostics sorted by place, with a closing note when some were dropped.
    func finished() -> [Diagnostic] {
        var out = diagnostics.sorted {
            ($0.location, $0.severity == .error ? 0 : 1) < ($1.location, $1.severity == .error ? 0 : 1)
        }
        if suppressed > 0 {
            out.append(
                Diagnostic(
                    .error, at: location(line: 1, column: 1),
                    "\(suppressed) more problems were found and not listed",
                    fix: "fix the ones above and run validate again"))
        }
        return out
    }
}

/// The kinds of YAML value, named the way a user reads them in an error.
extension Node {
    var kindName: String {
        switch self {
        case .scalar(let s):
            if Node.isNull(s) { return "null" }
            if s.style == .plain {
                if Node.boolValue(s.string) != nil { return "a boolean" }
                if Int(s.string) != nil { return "a number" }
            }
            return "a string"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    static func isNull(_ s: Node.Scalar) -> Bool {
        s.style == .plain && ["", "~", "null", "Null", "NULL"].contains(s.string)
    }

    static func boolValue(_ text: String) -> Bool? {
        switch text {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default: return nil
        }
    }
}
