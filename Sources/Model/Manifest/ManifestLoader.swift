import Foundation
import Yams

/// Reads manifests: guards the input, parses the YAML with source locations, validates every
/// field, applies defaults. Never throws for bad input and never crashes or hangs on it:
/// the result carries the manifest (when it has no errors) and every diagnostic.
public enum ManifestLoader {
    /// The outcome of reading one file.
    public struct Result: Sendable {
        public var file: String
        /// Present when there are no errors (warnings allowed).
        public var manifest: Manifest?
        public var diagnostics: [Diagnostic]
        public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }
        public var warnings: [Diagnostic] { diagnostics.filter { $0.severity == .warning } }
    }

    /// Most YAML nodes one manifest may expand to, aliases included (a billion-laughs
    /// document expands exponentially; real manifests have a few hundred nodes).
    static let maxExpandedNodes = 100_000

    /// Reads `path`. `displayName` is what diagnostics call the file (default: `path` as given).
    public static func load(path: String, displayName: String? = nil) -> Result {
        let name = displayName ?? path
        let url = URL(fileURLWithPath: path)
        let fail = { (message: String, fix: String) in
            Result(
                file: name, manifest: nil,
                diagnostics: [Diagnostic(.error, at: SourceLocation(file: name, line: 1, column: 1), message, fix: fix)]
            )
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            return fail("no such file", "check the path")
        }
        if isDirectory.boolValue { return fail("this is a directory, not a manifest", "name a .yaml file") }
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int,
            size > InputGuard.maxBytes
        {
            return fail(
                "the file is \(size) bytes; Kiln reads manifests of at most \(InputGuard.maxBytes) bytes",
                "check that this is the manifest you meant (split very large manifests into several files)")
        }
        guard let handle = try? FileHandle(forReadingFrom: url) else {
            return fail("the file cannot be read", "check its permissions")
        }
        defer { try? handle.close() }
        // Read at most one byte past the cap, so a file that grows meanwhile is still bounded.
        let data = (try? handle.read(upToCount: InputGuard.maxBytes + 1)) ?? Data()
        return parse(bytes: [UInt8](data), file: name, baseDirectory: url.deletingLastPathComponent())
    }

    /// Parses manifest text already in memory; relative paths resolve against `baseDirectory`.
    public static func parse(bytes: [UInt8], file: String, baseDirectory: URL) -> Result {
        let ctx = DecodeContext(file: file, baseDirectory: baseDirectory)
        let text: String
        switch InputGuard.check(bytes) {
        case .rejected(let line, let column, let message, let fix):
            ctx.add(Diagnostic(.error, at: ctx.location(line: line, column: column), message, fix: fix))
            return Result(file: file, manifest: nil, diagnostics: ctx.finished())
        case .text(let t):
            text = t
        }
        if text.allSatisfy({ $0.isWhitespace }) {
            ctx.add(
                Diagnostic(
                    .error, at: ctx.location(line: 1, column: 1), "the manifest is empty",
                    fix: "add a `builds:` list; see manifests/quickstart.yaml"))
            return Result(file: file, manifest: nil, diagnostics: ctx.finished())
        }
        let root: Node?
        do {
            root = try Yams.Parser(yaml: text).singleRoot()
        } catch let error as YamlError {
            ctx.add(diagnostic(for: error, ctx: ctx, text: text))
            return Result(file: file, manifest: nil, diagnostics: ctx.finished())
        } catch {
            ctx.add(
                Diagnostic(
                    .error, at: ctx.location(line: 1, column: 1), "the YAML cannot be read: \(error)",
                    fix: "check the file's syntax"))
            return Result(file: file, manifest: nil, diagnostics: ctx.finished())
        }
        if let root, let overflow = firstNodeBeyondBudget(root) {
            ctx.add(
                Diagnostic(
                    .error, at: ctx.location(overflow),
                    "the document expands to more than \(maxExpandedNodes) values through aliases (a YAML bomb?)",
                    fix: "use anchors and aliases sparingly; a manifest needs far fewer values"))
            return Result(file: file, manifest: nil, diagnostics: ctx.finished())
        }
        let decoder = ManifestDecoder(ctx: ctx, lines: text.split(separator: "\n", omittingEmptySubsequences: false))
        let manifest = decoder.decodeManifest(root)
        return Result(file: file, manifest: ctx.hasErrors ? nil : manifest, diagnostics: ctx.finished())
    }

    /// Walks the tree without recursion, counting nodes as aliases expand them; returns the
    /// node at which the count passes the budget.
    static func firstNodeBeyondBudget(_ root: Node) -> Node? {
        var stack: [Node] = [root]
        var count = 0
        while let node = stack.popLast() {
            count += 1
            if count > maxExpandedNodes { return node }
            switch node {
            case .scalar, .alias: break
            case .sequence(let s): stack.append(contentsOf: Array(s))
            case .mapping(let m):
                for (k, v) in m {
                    stack.append(k)
                    stack.append(v)
                }
            }
        }
        return nil
    }

    static func diagnostic(for error: YamlError, ctx: DecodeContext, text: String) -> Diagnostic {
        func make(_ mark: Mark, _ problem: String, _ context: YamlError.Context?) -> Diagnostic {
            var message = "YAML syntax error: \(problem)"
            if let context { message += " (\(context.text) at line \(context.mark.line))" }
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            let line = mark.line - 1 < lines.count && mark.line >= 1 ? lines[mark.line - 1] : ""
            let atTab =
                line.unicodeScalars.dropFirst(max(0, mark.column - 1)).first == "\t"
                || line.prefix(while: { $0 == " " || $0 == "\t" }).contains("\t")
            let fix = atTab ? "indent with spaces; YAML does not allow tabs for indentation" : syntaxFix(problem)
            return Diagnostic(.error, at: ctx.location(line: mark.line, column: mark.column), message, fix: fix)
        }
        switch error {
        case .scanner(let context, let problem, let mark, _): return make(mark, problem, context)
        case .parser(let context, let problem, let mark, _): return make(mark, problem, context)
        case .composer(let context, let problem, let mark, _): return make(mark, problem, context)
        case .reader(let problem, let offset, _, _):
            var line = 1
            var column = 1
            if let offset {
                for b in text.utf8.prefix(offset) {
                    if b == 0x0A {
                        line += 1
                        column = 1
                    } else if b & 0xC0 != 0x80 {
                        column += 1
                    }
                }
            }
            return Diagnostic(
                .error, at: ctx.location(line: line, column: column), "the file cannot be read as YAML: \(problem)",
                fix: "save it as UTF-8 text")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return Diagnostic(
                .error, at: ctx.location(line: context.mark.line, column: context.mark.column),
                "duplicate key \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) in one mapping",
                fix: "keep one of them")
        default:
            return Diagnostic(
                .error, at: ctx.location(line: 1, column: 1), "the YAML cannot be read: \(error)",
                fix: "check the file's syntax")
        }
    }

    static func syntaxFix(_ problem: String) -> String {
        if problem.contains("tab") { return "indent with spaces; YAML does not allow tabs for indentation" }
        if problem.contains("mapping values are not allowed") {
            return "quote a value that contains ': ', or fix the indentation"
        }
        if problem.contains("did not find expected key") {
            return "check the indentation of this line against the one above"
        }
        if problem.contains("undefined alias") { return "define the anchor (&name) before using *name" }
        if problem.contains("found character that cannot start any token") {
            return "quote the value (characters such as @ and ` cannot start a plain value)"
        }
        return "check the indentation and quoting around this place"
    }
}
