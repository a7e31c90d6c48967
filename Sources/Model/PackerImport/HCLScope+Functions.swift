import Foundation

/// The functions of HCL2 templates that the importer evaluates.
extension HCLScope {
    static let functions = [
        "env", "timestamp", "lower", "upper", "trimspace", "join", "split", "replace", "concat", "coalesce"
    ]

    func call(_ name: String, _ args: [HCLExpression], at: SourceLocation, _ ctx: PackerContext, visiting: Set<String>)
        throws(PackerImportError) -> PackerValue
    {
        guard Self.functions.contains(name) else {
            throw PackerImportError(
                at: at, "the function \(name)() is not supported by kiln import",
                fix:
                    "give the value with --var, or use one of \(Self.functions.map { $0 + "()" }.joined(separator: ", "))"
            )
        }
        let values = try args.map { (a) throws(PackerImportError) in try evaluate(a, ctx, visiting: visiting) }
        let secret = values.contains { $0.secret }
        func arity(_ n: Int) throws(PackerImportError) {
            guard values.count == n else {
                throw PackerImportError(
                    at: at, "\(name)() takes \(n) argument\(n == 1 ? "" : "s")", fix: "check the call")
            }
        }
        func string(_ i: Int) throws(PackerImportError) -> String {
            guard let t = values[i].text else {
                throw PackerImportError(at: values[i].location, "\(name)() needs a string here", fix: "pass a string")
            }
            guard !values[i].deferred else {
                throw PackerImportError(
                    at: values[i].location, "\(name)() of a value read from env() cannot be computed at import",
                    fix: "give the variable with --var NAME=VALUE")
            }
            return t
        }
        func list(_ i: Int) throws(PackerImportError) -> [PackerValue] {
            guard case .list(let items) = values[i].kind else {
                throw PackerImportError(at: values[i].location, "\(name)() needs a list here", fix: "pass a list")
            }
            return items
        }
        func result(_ s: String, deferred: Bool = false) -> PackerValue {
            PackerValue(.string(s), at: at, deferred: deferred, secret: secret)
        }
        switch name {
        case "env":
            try arity(1)
            let variable = try string(0)
            guard variable.range(of: "^[A-Za-z_][A-Za-z0-9_]*$", options: .regularExpression) != nil else {
                throw PackerImportError(at: at, "env(\"\(variable)\") does not name a variable", fix: "check the name")
            }
            return result("{{env \"\(variable)\"}}", deferred: true)
        case "timestamp":
            try arity(0)
            return result(Self.timestampMarker)
        case "lower":
            try arity(1)
            return result(try string(0).lowercased())
        case "upper":
            try arity(1)
            return result(try string(0).uppercased())
        case "trimspace":
            try arity(1)
            return result(try string(0).trimmingCharacters(in: .whitespacesAndNewlines))
        case "join":
            try arity(2)
            let separator = try string(0)
            var parts: [String] = []
            var deferred = false
            for item in try list(1) {
                guard let t = item.text else {
                    throw PackerImportError(at: item.location, "join() needs a list of strings", fix: "check the list")
                }
                parts.append(t)
                deferred = deferred || item.deferred
            }
            return result(parts.joined(separator: separator), deferred: deferred).tainted(secret)
        case "split":
            try arity(2)
            let separator = try string(0)
            let parts = try string(1).components(separatedBy: separator)
            return PackerValue(
                .list(parts.map { PackerValue(.string($0), at: at, secret: secret) }), at: at, secret: secret)
        case "replace":
            try arity(3)
            return result(try string(0).replacingOccurrences(of: try string(1), with: try string(2)))
        case "concat":
            var items: [PackerValue] = []
            for i in values.indices { items += try list(i) }
            return PackerValue(.list(items), at: at, secret: secret)
        default:  // coalesce
            guard let first = values.first(where: { !$0.isNull && $0.text != "" }) else {
                throw PackerImportError(at: at, "coalesce() has no non-empty argument", fix: "give a value")
            }
            return first
        }
    }
}
