import Foundation

/// Kiln's small template language, a subset of Go's text/template that Packer users know:
///
/// * `{{.Device}}`, `{{.MountPath}}`, `{{.Command}}`, `{{.BuildName}}` — values Kiln supplies;
/// * `{{vm "location"}}` — the builder VM's instance metadata (keys in `Template.vmKeys`);
/// * `{{env "NAME"}}` — an environment variable of the Kiln process;
/// * `{{quote .Command}}` (or any value) — the value as one single-quoted shell word.
///
/// A template is parsed once; each field of the manifest says which variables it allows.
/// In fields that become shell commands every substituted value is shell-quoted (so a value
/// can never inject a command), except `.Command` itself, which is Kiln's own command line.
public struct Template: Sendable, Hashable {
    public enum Expression: Sendable, Hashable {
        case variable(String)
        case vm(String)
        case env(String)
        indirect case quote(Expression)
    }

    public enum Part: Sendable, Hashable {
        case text(String)
        case action(Expression)
    }

    public let source: String
    public let parts: [Part]

    /// The instance-metadata keys `{{vm "…"}}` accepts.
    public static let vmKeys = [
        "name", "subscription_id", "resource_group", "location", "zone", "resource_id", "vm_size"
    ]

    /// Variables every field may use (none yet besides those a context adds).
    public var variables: Set<String> {
        var out: Set<String> = []
        func visit(_ e: Expression) {
            switch e {
            case .variable(let v): out.insert(v)
            case .quote(let inner): visit(inner)
            case .vm, .env: break
            }
        }
        for case .action(let e) in parts { visit(e) }
        return out
    }

    /// True when the template has no actions at all.
    public var isLiteral: Bool { parts.allSatisfy { if case .text = $0 { true } else { false } } }
}

/// A template syntax error; `offset` counts Unicode scalars from the template's start.
public struct TemplateError: Error, Sendable, Hashable, CustomStringConvertible {
    public var offset: Int
    public var message: String
    public var fix: String
    public var description: String { "\(message) — \(fix)" }
}

extension Template {
    /// Parses `text`; `allowed` lists the `.Variables` this field may use. Throws the first
    /// error; `problems(in:allowed:)` lists them all.
    public init(parsing text: String, allowed: Set<String>) throws(TemplateError) {
        let (parts, errors) = Self.scan(text, allowed: allowed)
        if let first = errors.first { throw first }
        self.source = text
        self.parts = parts
    }

    /// Every syntax error in `text`, in order (empty when it parses).
    public static func problems(in text: String, allowed: Set<String>) -> [TemplateError] {
        scan(text, allowed: allowed).errors
    }

    private static func scan(_ text: String, allowed: Set<String>) -> (parts: [Part], errors: [TemplateError]) {
        var parts: [Part] = []
        var errors: [TemplateError] = []
        let scalars = Array(text.unicodeScalars)
        var literal = String.UnicodeScalarView()
        var i = 0
        while i < scalars.count {
            if scalars[i] == "{", i + 1 < scalars.count, scalars[i + 1] == "{" {
                guard let close = Self.findClose(scalars, from: i + 2) else {
                    errors.append(
                        TemplateError(offset: i, message: "'{{' is never closed", fix: "add the matching '}}'"))
                    break
                }
                if !literal.isEmpty {
                    parts.append(.text(String(literal)))
                    literal = .init()
                }
                let body = String(String.UnicodeScalarView(scalars[(i + 2)..<close]))
                do throws(TemplateError) {
                    parts.append(.action(try Self.parseAction(body, offset: i, allowed: allowed)))
                } catch {
                    errors.append(error)
                }
                i = close + 2
            } else {
                literal.append(scalars[i])
                i += 1
            }
        }
        if !literal.isEmpty { parts.append(.text(String(literal))) }
        return (parts, errors)
    }

    private static func findClose(_ s: [Unicode.Scalar], from start: Int) -> Int? {
        var i = start
        var inString = false
        while i + 1 < s.count {
            if inString {
                if s[i] == "\\" {
                    i += 2
                    continue
                }
                if s[i] == "\"" { inString = false }
            } else if s[i] == "\"" {
                inString = true
            } else if s[i] == "}" && s[i + 1] == "}" {
                return i
            }
            i += 1
        }
        return nil
    }

    private enum Token: Equatable {
        case word(String)
        case string(String)
    }

    private static func tokenize(_ body: String, offset: Int) throws(TemplateError) -> [Token] {
        var tokens: [Token] = []
        let s = Array(body.unicodeScalars)
        var i = 0
        while i < s.count {
            let c = s[i]
            if c == " " || c == "\t" {
                i += 1
                continue
            }
            if c == "\"" {
                var value = String.UnicodeScalarView()
                i += 1
                var closed = false
                while i < s.count {
                    if s[i] == "\\", i + 1 < s.count {
                        value.append(s[i + 1])
                        i += 2
                        continue
                    }
                    if s[i] == "\"" {
                        closed = true
                        i += 1
                        break
                    }
                    value.append(s[i])
                    i += 1
                }
                guard closed else {
                    throw TemplateError(
                        offset: offset, message: "a string in '{{\(body)}}' is not closed", fix: "close it with \"")
                }
                tokens.append(.string(String(value)))
                continue
            }
            if c == "`" {
                var value = String.UnicodeScalarView()
                i += 1
                var closed = false
                while i < s.count {
                    if s[i] == "`" {
                        closed = true
                        i += 1
                        break
                    }
                    value.append(s[i])
                    i += 1
                }
                guard closed else {
                    throw TemplateError(
                        offset: offset, message: "a string in '{{\(body)}}' is not closed", fix: "close it with `")
                }
                tokens.append(.string(String(value)))
                continue
            }
            var word = String.UnicodeScalarView()
            while i < s.count, s[i] != " ", s[i] != "\t", s[i] != "\"" {
                word.append(s[i])
                i += 1
            }
            tokens.append(.word(String(word)))
        }
        return tokens
    }

    private static func parseAction(_ body: String, offset: Int, allowed: Set<String>) throws(TemplateError)
        -> Expression
    {
        let tokens = try tokenize(body, offset: offset)
        guard !tokens.isEmpty else {
            throw TemplateError(
                offset: offset, message: "'{{}}' is empty",
                fix: "write a value such as {{.Device}}, or remove the braces")
        }
        var rest = tokens[...]
        let e = try parseExpression(&rest, body: body, offset: offset, allowed: allowed)
        if let extra = rest.first {
            throw TemplateError(
                offset: offset, message: "'{{\(body)}}' has an unexpected \(describe(extra))",
                fix: "write one value per {{ }}")
        }
        return e
    }

    private static func describe(_ t: Token) -> String {
        switch t {
        case .word(let w): "'\(w)'"
        case .string(let s): "string \"\(s)\""
        }
    }

    private static func parseExpression(
        _ tokens: inout ArraySlice<Token>, body: String, offset: Int, allowed: Set<String>
    ) throws(TemplateError) -> Expression {
        guard let first = tokens.popFirst() else {
            throw TemplateError(
                offset: offset, message: "'{{\(body)}}' ends where a value was expected",
                fix: "give the function its argument")
        }
        switch first {
        case .string(let s):
            throw TemplateError(
                offset: offset, message: "'{{\(body)}}' is only a string (\"\(s)\")",
                fix: "write the text without braces")
        case .word(let w) where w.hasPrefix("."):
            let name = String(w.dropFirst())
            guard allowed.contains(name) else {
                let list = allowed.sorted().map { "." + $0 }
                let hint = Suggestions.closest(to: name, in: Array(allowed)).map { "did you mean .\($0)? " } ?? ""
                throw TemplateError(
                    offset: offset, message: "'\(w)' is not available here",
                    fix: list.isEmpty
                        ? "this field takes no .Variables; use vm or env"
                        : "\(hint)this field can use \(list.joined(separator: ", "))")
            }
            return .variable(name)
        case .word("vm"):
            guard case .string(let key)? = tokens.popFirst() else {
                throw TemplateError(
                    offset: offset, message: "vm needs a quoted key, as in {{vm \"location\"}}",
                    fix: "keys: \(vmKeys.joined(separator: ", "))")
            }
            guard vmKeys.contains(key) else {
                let hint = Suggestions.closest(to: key, in: vmKeys).map { "did you mean \"\($0)\"? " } ?? ""
                throw TemplateError(
                    offset: offset, message: "vm has no key \"\(key)\"",
                    fix: "\(hint)keys: \(vmKeys.joined(separator: ", "))")
            }
            return .vm(key)
        case .word("env"):
            guard case .string(let name)? = tokens.popFirst() else {
                throw TemplateError(
                    offset: offset, message: "env needs a quoted variable name, as in {{env \"HOME\"}}",
                    fix: "quote the name")
            }
            guard !name.isEmpty, name.unicodeScalars.allSatisfy({ ShellQuote.isSafe($0) && $0 != "/" && $0 != "=" })
            else {
                throw TemplateError(
                    offset: offset, message: "\"\(name)\" is not an environment variable name",
                    fix: "use letters, digits and _")
            }
            return .env(name)
        case .word("quote"):
            return .quote(try parseExpression(&tokens, body: body, offset: offset, allowed: allowed))
        case .word(let w):
            let functions = ["vm", "env", "quote"]
            let hint = Suggestions.closest(to: w, in: functions).map { "did you mean \($0)? " } ?? ""
            throw TemplateError(
                offset: offset, message: "'\(w)' is not a template function or variable",
                fix: "\(hint)use .Variable, vm \"key\", env \"NAME\" or quote")
        }
    }
}

/// What a template is rendered with.
public struct TemplateValues: Sendable {
    public var variables: [String: String]
    /// The builder VM's instance metadata by `vm` key; nil when not known yet.
    public var vm: [String: String]?
    public var environment: [String: String]

    public init(variables: [String: String] = [:], vm: [String: String]? = nil, environment: [String: String] = [:]) {
        self.variables = variables
        self.vm = vm
        self.environment = environment
    }
}

/// Why a template could not be rendered (a value it needs is not known).
public struct TemplateRenderError: Error, Sendable, CustomStringConvertible {
    public var template: String
    public var missing: String
    public var description: String { "cannot render '\(template)': \(missing)" }
}

extension Template {
    public enum Mode: Sendable {
        /// Substituted values are inserted as they are.
        case plain
        /// Substituted values are shell-quoted (except `.Command`, Kiln's own command line).
        case shell
    }

    /// Renders the template. Unknown `env` variables render as empty strings, like Packer's;
    /// `vm` keys throw when no metadata was given (`keepUnresolved` leaves them as written).
    public func render(_ values: TemplateValues, mode: Mode, keepUnresolved: Bool = false) throws(TemplateRenderError)
        -> String
    {
        var out = ""
        for part in parts {
            switch part {
            case .text(let t): out += t
            case .action(let e):
                out += try evaluate(e, values, mode: mode, keepUnresolved: keepUnresolved, quoteIt: mode == .shell)
            }
        }
        return out
    }

    private func evaluate(_ e: Expression, _ values: TemplateValues, mode: Mode, keepUnresolved: Bool, quoteIt: Bool)
        throws(TemplateRenderError) -> String
    {
        let raw: String
        switch e {
        case .variable(let name):
            guard let v = values.variables[name] else {
                if keepUnresolved { return "{{.\(name)}}" }
                throw TemplateRenderError(template: source, missing: ".\(name) has no value here")
            }
            if name == "Command" { return v }
            raw = v
        case .vm(let key):
            guard let vm = values.vm else {
                if keepUnresolved { return "{{vm \"\(key)\"}}" }
                throw TemplateRenderError(template: source, missing: "the builder VM's metadata is not known yet")
            }
            raw = vm[key] ?? ""
        case .env(let name):
            raw = values.environment[name] ?? ""
        case .quote(let inner):
            let v = try evaluate(inner, values, mode: mode, keepUnresolved: keepUnresolved, quoteIt: false)
            return "'" + v.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }
        return quoteIt ? ShellQuote.quote(raw) : raw
    }
}
