import Foundation

/// The syntax tree of the HCL2 subset Packer templates use.
struct HCLBody: Sendable {
    var attributes: [HCLAttribute] = []
    var blocks: [HCLBlock] = []
}

struct HCLAttribute: Sendable {
    var name: String
    var location: SourceLocation
    var value: HCLExpression
}

struct HCLBlock: Sendable {
    var type: String
    var labels: [String]
    var location: SourceLocation
    var body: HCLBody

    /// `type "label" "label"`, as a user reads it in an error.
    var title: String { ([type] + labels.map { "\"\($0)\"" }).joined(separator: " ") }
}

struct HCLExpression: Sendable {
    indirect enum Kind: Sendable {
        case string(String)
        case number(Double)
        case bool(Bool)
        case null
        /// A quoted string or heredoc with `${…}` interpolations.
        case template([TemplatePart])
        /// A bare name: `var`, `local`, `path`, `source`, `data`…
        case name(String)
        case attribute(HCLExpression, String)
        case index(HCLExpression, HCLExpression)
        case call(String, [HCLExpression])
        case list([HCLExpression])
        case object([(key: HCLExpression, value: HCLExpression)])
        case unary(String, HCLExpression)
        case binary(String, HCLExpression, HCLExpression)
        case conditional(HCLExpression, HCLExpression, HCLExpression)
    }

    enum TemplatePart: Sendable {
        case text(String)
        case interpolation(HCLExpression)
    }

    var kind: Kind
    var location: SourceLocation

    /// `var.NAME` and `local.NAME` references anywhere inside.
    var references: [(root: String, name: String)] {
        var out: [(String, String)] = []
        func visit(_ e: HCLExpression) {
            switch e.kind {
            case .attribute(let base, let name):
                if case .name(let root) = base.kind { out.append((root, name)) } else { visit(base) }
            case .template(let parts):
                for case .interpolation(let inner) in parts { visit(inner) }
            case .index(let a, let b): [a, b].forEach(visit)
            case .call(_, let args), .list(let args): args.forEach(visit)
            case .object(let members):
                for member in members {
                    visit(member.key)
                    visit(member.value)
                }
            case .unary(_, let a): visit(a)
            case .binary(_, let a, let b): [a, b].forEach(visit)
            case .conditional(let a, let b, let c): [a, b, c].forEach(visit)
            case .string, .number, .bool, .null, .name: break
            }
        }
        visit(self)
        return out
    }

    /// The variable read when the expression is exactly `env("NAME")` or `"${env("NAME")}"`.
    var environmentName: String? {
        switch kind {
        case .call("env", let args) where args.count == 1:
            if case .string(let name) = args[0].kind { return name }
            if case .template(let parts) = args[0].kind, parts.count == 1, case .text(let name) = parts[0] {
                return name
            }
            return nil
        case .template(let parts) where parts.count == 1:
            if case .interpolation(let inner) = parts[0] { return inner.environmentName }
            return nil
        default:
            return nil
        }
    }
}
