import Foundation

/// The user variables of a JSON template and the expansion of its Go-template strings.
///
/// `{{user `x`}}` is replaced by the variable's value; `{{env `X`}}` becomes Kiln's
/// `{{env "X"}}` (read when Kiln runs); `{{build_name}}`, `{{build_type}}`, `{{template_dir}}`
/// and `{{pwd}}` are replaced; `{{timestamp}}`, `{{isotime …}}` and `{{uuid}}` become the
/// `{{timestamp}}` marker; `{{vm …}}` and `{{.Field}}` are kept for Kiln's own templates.
/// Any other function is an error at its place.
struct GoTemplateScope: Sendable {
    var directory: String
    /// Each variable's default; nil when the template leaves it to the command line (`null`).
    var defaults: [String: String?] = [:]
    var locations: [String: SourceLocation] = [:]
    var sensitive: Set<String> = []
    var overrides: [String: String] = [:]

    init(directory: String) { self.directory = directory }

    func field(_ node: JSONNode, at location: SourceLocation) -> PackerField {
        let scope = self
        let env = node.string.flatMap { environmentName(of: $0) }
        return PackerField(at: location, environmentName: env, variables: Self.userReferences(in: node)) {
            (ctx) throws(PackerImportError) in try scope.evaluate(node, ctx)
        }
    }

    func evaluate(_ node: JSONNode, _ ctx: PackerContext) throws(PackerImportError) -> PackerValue {
        switch node.kind {
        case .string(let s):
            let (text, deferred, secret) = try expand(s, at: node.location, ctx, depth: 0)
            return PackerValue(.string(text), at: node.location, deferred: deferred, secret: secret)
        case .array(let items):
            let values = try items.map { (i) throws(PackerImportError) in try evaluate(i, ctx) }
            return PackerValue(.list(values), at: node.location, secret: values.contains { $0.secret })
        case .object(let members):
            var out: [PackerValue.Member] = []
            for m in members where !m.key.hasPrefix("_") { out.append(.init(m.key, try evaluate(m.value, ctx))) }
            return PackerValue(.object(out), at: node.location, secret: out.contains { $0.value.secret })
        case .number, .bool, .null:
            return node.literal
        }
    }

    /// The `{{user `x`}}` names in a node's strings.
    static func userReferences(in node: JSONNode) -> Set<String> {
        switch node.kind {
        case .string(let s):
            return Set(
                actions(in: s).compactMap { a in a.words.first == "user" && a.words.count == 2 ? a.words[1] : nil })
        case .array(let items): return items.reduce(into: []) { $0.formUnion(userReferences(in: $1)) }
        case .object(let members): return members.reduce(into: []) { $0.formUnion(userReferences(in: $1.value)) }
        default: return []
        }
    }

    /// `{{env `X`}}`, or `{{user `v`}}` of a variable given no value whose default is that.
    func environmentName(of s: String) -> String? {
        let actions = Self.actions(in: s)
        guard actions.count == 1, let a = actions.first, a.range == s.startIndex..<s.endIndex, a.words.count == 2 else {
            return nil
        }
        if a.words[0] == "env" { return a.words[1] }
        if a.words[0] == "user", overrides[a.words[1]] == nil, let d = defaults[a.words[1]] ?? nil {
            return environmentName(of: d)
        }
        return nil
    }

    struct Action {
        var range: Range<String.Index>
        var body: String
        /// The words, with quoted and backquoted strings unquoted.
        var words: [String]
    }

    static func actions(in s: String) -> [Action] {
        var out: [Action] = []
        var rest = s.startIndex
        while let open = s.range(of: "{{", range: rest..<s.endIndex),
            let close = s.range(of: "}}", range: open.upperBound..<s.endIndex)
        {
            let body = String(s[open.upperBound..<close.lowerBound])
            var words: [String] = []
            var current = ""
            var quote: Character?
            for ch in body {
                if let q = quote {
                    if ch == q {
                        words.append(current)
                        current = ""
                        quote = nil
                    } else {
                        current.append(ch)
                    }
                } else if ch == "`" || ch == "\"" {
                    quote = ch
                } else if ch == " " || ch == "\t" {
                    if !current.isEmpty {
                        words.append(current)
                        current = ""
                    }
                } else {
                    current.append(ch)
                }
            }
            if !current.isEmpty { words.append(current) }
            out.append(Action(range: open.lowerBound..<close.upperBound, body: body, words: words))
            rest = close.upperBound
        }
        return out
    }

    func expand(_ s: String, at location: SourceLocation, _ ctx: PackerContext, depth: Int) throws(PackerImportError)
        -> (String, Bool, Bool)
    {
        var out = ""
        var deferred = false
        var secret = false
        var rest = s.startIndex
        for a in Self.actions(in: s) {
            out += s[rest..<a.range.lowerBound]
            rest = a.range.upperBound
            var at = location
            at.column += 1 + s.unicodeScalars.distance(from: s.startIndex, to: a.range.lowerBound)
            let name = a.words.first ?? ""
            switch name {
            case "user" where a.words.count == 2:
                let variable = a.words[1]
                guard let known = defaults[variable] else {
                    let hint = Suggestions.closest(to: variable, in: Array(defaults.keys)).map {
                        "did you mean \($0)? "
                    }
                    throw PackerImportError(
                        at: at, "user variable \(variable) is not declared",
                        fix: (hint ?? "") + "add it to \"variables\"")
                }
                guard let value = overrides[variable] ?? known else {
                    throw PackerImportError(
                        at: at, "user variable \(variable) has no value (null default, and none given)",
                        fix: "pass it: kiln import packer --var \(variable)=VALUE")
                }
                guard depth < 10 else {
                    throw PackerImportError(at: at, "user variables refer to each other in a loop", fix: "break it")
                }
                let (text, d, sec) = try expand(value, at: locations[variable] ?? at, ctx, depth: depth + 1)
                out += text
                deferred = deferred || d
                // A value read from the environment names where the secret is, not the secret.
                let marked = sensitive.contains(variable) || ctx.secretVariables.contains(variable)
                secret = secret || sec || (marked && !d)
            case "env" where a.words.count == 2:
                out += "{{env \"\(a.words[1])\"}}"
                deferred = true
            case "timestamp", "isotime", "uuid":
                out += HCLScope.timestampMarker
            case "build_name": out += ctx.sourceName
            case "build_type": out += ctx.sourceType
            case "template_dir": out += directory
            case "pwd": out += "."
            case "vm":
                out += "{{vm \"\(a.words.dropFirst().first ?? "")\"}}"
            default:
                if name.hasPrefix(".") {
                    out += s[a.range]
                } else {
                    throw PackerImportError(
                        at: at, "the template function {{\(a.body.trimmingBlanks)}} is not supported by kiln import",
                        fix:
                            "user, env, vm, timestamp, build_name, template_dir and .Fields are; give the value with --var"
                    )
                }
            }
        }
        out += s[rest...]
        return (out, deferred, secret)
    }
}
