import Foundation

/// The variables, locals and functions of one HCL2 template, and the evaluation of its
/// expressions into `PackerValue`s.
///
/// `env("NAME")` is not read at import time: it becomes Kiln's `{{env "NAME"}}`, read when
/// Kiln runs (so a secret in the environment never reaches the manifest), and the value is
/// `deferred`. `timestamp()` becomes the marker `{{timestamp}}`, which the importer removes
/// from output names with a comment, or refuses.
struct HCLScope: Sendable {
    struct Variable: Sendable {
        var name: String
        var location: SourceLocation
        var defaultValue: HCLExpression?
        var sensitive: Bool
        /// Whether a value given on the command line is taken as text (`type = string`, or no type).
        var isString: Bool
    }

    var variables: [String: Variable] = [:]
    /// Values given on Kiln's command line (`--var`, `--var-file`), by variable name.
    var overrides: [String: PackerValue] = [:]
    var locals: [String: HCLExpression] = [:]
    var sensitiveLocals: Set<String> = []
    /// `path.root`: the template's directory.
    var directory: String = "."

    static let timestampMarker = "{{timestamp}}"

    func evaluate(_ e: HCLExpression, _ ctx: PackerContext, visiting: Set<String> = []) throws(PackerImportError)
        -> PackerValue
    {
        let at = e.location
        switch e.kind {
        case .string(let s): return PackerValue(.string(s), at: at)
        case .number(let n): return PackerValue(.number(n), at: at)
        case .bool(let b): return PackerValue(.bool(b), at: at)
        case .null: return PackerValue(.null, at: at)
        case .template(let parts):
            var text = ""
            var deferred = false
            var secret = false
            for part in parts {
                switch part {
                case .text(let t): text += t
                case .interpolation(let inner):
                    let v = try evaluate(inner, ctx, visiting: visiting)
                    guard let t = v.text else {
                        throw PackerImportError(
                            at: inner.location, "cannot put \(v.typeName) into a string",
                            fix: "interpolate a string, a number or a bool")
                    }
                    text += t
                    deferred = deferred || v.deferred
                    secret = secret || v.secret
                }
            }
            return PackerValue(.string(text), at: at, deferred: deferred, secret: secret)
        case .name(let n):
            throw PackerImportError(
                at: at, "'\(n)' is not a value", fix: "write var.\(n) for a variable, or quote a string")
        case .attribute(let base, let member):
            if case .name(let root) = base.kind { return try reference(root, member, at: at, ctx, visiting: visiting) }
            let object = try evaluate(base, ctx, visiting: visiting)
            guard let v = object[member] else {
                throw PackerImportError(
                    at: at, "\(object.typeName) has no attribute '\(member)'", fix: "check the name")
            }
            return v.tainted(object.secret)
        case .index(let base, let key):
            let collection = try evaluate(base, ctx, visiting: visiting)
            let k = try evaluate(key, ctx, visiting: visiting)
            switch (collection.kind, k.kind) {
            case (.list(let items), .number(let n)) where n >= 0 && Int(n) < items.count:
                return items[Int(n)].tainted(collection.secret)
            case (.object, .string(let s)) where collection[s] != nil:
                return collection[s]!.tainted(collection.secret)
            default:
                throw PackerImportError(at: key.location, "the index is not in \(collection.typeName)", fix: "check it")
            }
        case .call(let name, let args):
            return try call(name, args, at: at, ctx, visiting: visiting)
        case .list(let items):
            let values = try items.map { (i) throws(PackerImportError) in try evaluate(i, ctx, visiting: visiting) }
            return PackerValue(.list(values), at: at, secret: values.contains { $0.secret })
        case .object(let members):
            var out: [PackerValue.Member] = []
            for (key, value) in members {
                let k = try evaluate(key, ctx, visiting: visiting)
                guard let text = k.text, !k.deferred else {
                    throw PackerImportError(at: key.location, "an object key must be a string", fix: "quote it")
                }
                out.append(PackerValue.Member(text, try evaluate(value, ctx, visiting: visiting)))
            }
            return PackerValue(.object(out), at: at, secret: out.contains { $0.value.secret })
        case .unary(let op, let operand):
            let v = try decided(try evaluate(operand, ctx, visiting: visiting), by: op)
            switch (op, v.kind) {
            case ("!", .bool(let b)): return PackerValue(.bool(!b), at: at, secret: v.secret)
            case ("-", .number(let n)): return PackerValue(.number(-n), at: at, secret: v.secret)
            default:
                throw PackerImportError(at: at, "'\(op)' does not apply to \(v.typeName)", fix: "check the operand")
            }
        case .binary(let op, let l, let r):
            return try binary(
                op, try evaluate(l, ctx, visiting: visiting), try evaluate(r, ctx, visiting: visiting), at: at)
        case .conditional(let c, let yes, let no):
            let condition = try decided(try evaluate(c, ctx, visiting: visiting), by: "? :")
            guard case .bool(let b) = condition.kind else {
                throw PackerImportError(
                    at: c.location, "the condition is \(condition.typeName), not a bool", fix: "compare")
            }
            return try evaluate(b ? yes : no, ctx, visiting: visiting).tainted(condition.secret)
        }
    }

    /// `v` unless it is read from the environment when Kiln runs, which import cannot decide on.
    private func decided(_ v: PackerValue, by op: String) throws(PackerImportError) -> PackerValue {
        guard !v.deferred else {
            throw PackerImportError(
                at: v.location,
                "'\(op)' needs a value that comes from env(), which Kiln reads when it runs, not at import",
                fix: "give the variable with --var NAME=VALUE so the import can decide")
        }
        return v
    }

    private func reference(
        _ root: String, _ name: String, at: SourceLocation, _ ctx: PackerContext, visiting: Set<String>
    ) throws(PackerImportError) -> PackerValue {
        switch root {
        case "var":
            guard let variable = variables[name] else {
                let hint = Suggestions.closest(to: name, in: Array(variables.keys)).map { "did you mean var.\($0)? " }
                throw PackerImportError(
                    at: at, "var.\(name) is not declared", fix: (hint ?? "") + "declare it with a variable block")
            }
            let secret = variable.sensitive || ctx.secretVariables.contains(name)
            if let given = overrides[name] { return given.tainted(secret) }
            guard let d = variable.defaultValue else {
                throw PackerImportError(
                    at: at, "var.\(name) has no value (no default, and none given)",
                    fix: "pass it: kiln import packer --var \(name)=VALUE (PKR_VAR_ variables are not read)")
            }
            return try evaluate(d, ctx, visiting: visiting).tainted(secret)
        case "local":
            guard let expression = locals[name] else {
                throw PackerImportError(at: at, "local.\(name) is not defined", fix: "define it in a locals block")
            }
            guard !visiting.contains(name) else {
                throw PackerImportError(at: at, "local.\(name) refers to itself", fix: "break the cycle")
            }
            return try evaluate(expression, ctx, visiting: visiting.union([name])).tainted(
                sensitiveLocals.contains(name))
        case "path" where name == "root" || name == "cwd":
            return PackerValue(.string(name == "root" ? directory : "."), at: at)
        case "source" where name == "name" || name == "type":
            return PackerValue(.string(name == "name" ? ctx.sourceName : ctx.sourceType), at: at)
        default:
            throw PackerImportError(
                at: at, "\(root).\(name) is not supported by kiln import",
                fix:
                    "var.*, local.*, path.root, path.cwd, source.name and source.type are; data sources and build.* are not"
            )
        }
    }

    private func binary(_ op: String, _ l: PackerValue, _ r: PackerValue, at: SourceLocation) throws(PackerImportError)
        -> PackerValue
    {
        let l = try decided(l, by: op)
        let r = try decided(r, by: op)
        let secret = l.secret || r.secret
        switch (op, l.kind, r.kind) {
        case ("==", _, _), ("!=", _, _):
            let same = l.kind == r.kind || (l.text != nil && l.text == r.text && l.typeName == r.typeName)
            return PackerValue(.bool(op == "==" ? same : !same), at: at, secret: secret)
        case ("&&", .bool(let a), .bool(let b)): return PackerValue(.bool(a && b), at: at, secret: secret)
        case ("||", .bool(let a), .bool(let b)): return PackerValue(.bool(a || b), at: at, secret: secret)
        case (_, .number(let a), .number(let b)):
            let result: PackerValue.Kind? =
                switch op {
                case "+": .number(a + b)
                case "-": .number(a - b)
                case "*": .number(a * b)
                case "/" where b != 0: .number(a / b)
                case "%" where b != 0: .number(a.truncatingRemainder(dividingBy: b))
                case "<": .bool(a < b)
                case ">": .bool(a > b)
                case "<=": .bool(a <= b)
                case ">=": .bool(a >= b)
                default: nil
                }
            if let result { return PackerValue(result, at: at, secret: secret) }
        default: break
        }
        throw PackerImportError(
            at: at, "'\(op)' does not apply to \(l.typeName) and \(r.typeName)", fix: "check the operands")
    }
}
