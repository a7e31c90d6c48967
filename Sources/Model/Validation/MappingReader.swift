import Foundation
import Yams

/// A value read from the manifest together with the node it came from, so that later
/// cross-field checks can still point at the right line and column.
struct Located<T> {
    var value: T
    var node: Node
}

/// Reads one YAML mapping field by field, reporting wrong types, missing fields, duplicate
/// and unknown keys (with a did-you-mean) to the `DecodeContext`.
///
/// Every typed getter returns nil after reporting when the value is unusable, so decoding
/// carries on and the user sees every problem at once.
final class MappingReader {
    let ctx: DecodeContext
    let path: String
    let node: Node
    private var entries: [(key: String, keyNode: Node, value: Node)] = []
    private var known: [String] = []
    private var used: Set<String> = []

    /// Returns nil (after reporting) when `node` is not a mapping.
    init?(_ node: Node, path: String, ctx: DecodeContext) {
        self.ctx = ctx
        self.path = path
        self.node = node
        guard case .mapping(let mapping) = node else {
            ctx.error(
                node, "\(path.isEmpty ? "the document" : path) must be a mapping, not \(node.kindName)",
                fix: "write it as `key: value` lines")
            return nil
        }
        collect(mapping, explicit: true)
    }

    /// Adds pairs, resolving YAML merge keys (`<<: *defaults`); explicit keys win over merged ones.
    private func collect(_ mapping: Node.Mapping, explicit: Bool) {
        var merges: [Node] = []
        for (k, v) in mapping {
            guard case .scalar(let ks) = k else {
                ctx.error(k, "\(where_()) has a key that is \(k.kindName)", fix: "keys must be plain names")
                continue
            }
            if ks.string == "<<" && ks.style == .plain {
                if case .sequence(let seq) = v { merges.append(contentsOf: seq) } else { merges.append(v) }
                continue
            }
            if let first = entries.first(where: { $0.key == ks.string }) {
                if explicit {
                    ctx.error(
                        k,
                        "duplicate key '\(ks.string)' in \(where_()) (first at line \(first.keyNode.mark?.line ?? 0))",
                        fix: "keep one of them")
                }
                continue
            }
            entries.append((ks.string, k, v))
        }
        for m in merges {
            if case .mapping(let mm) = m {
                collect(mm, explicit: false)
            } else {
                ctx.error(m, "a merge key (<<) in \(where_()) must refer to a mapping, not \(m.kindName)")
            }
        }
    }

    private func where_() -> String { path.isEmpty ? "the document" : path }
    func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The raw value of `key` (null counts as absent), marking the key as known and used.
    func raw(_ key: String) -> Node? {
        if !known.contains(key) { known.append(key) }
        guard let e = entries.first(where: { $0.key == key }) else { return nil }
        used.insert(key)
        if case .scalar(let s) = e.value, Node.isNull(s) { return nil }
        return e.value
    }

    /// The node of the key itself, for errors about the key's presence.
    func keyNode(_ key: String) -> Node? { entries.first(where: { $0.key == key })?.keyNode }

    func has(_ key: String) -> Bool { raw(key) != nil }

    func missing(_ key: String, fix: String) {
        ctx.error(node, "\(child(key)) is required", fix: fix)
    }

    // MARK: Typed getters

    func string(_ key: String, required: Bool = false, fix: String = "") -> Located<String>? {
        guard let v = raw(key) else {
            if required { missing(key, fix: fix) }
            return nil
        }
        return Self.scalarString(v, path: child(key), ctx: ctx, fix: fix)
    }

    static func scalarString(_ v: Node, path: String, ctx: DecodeContext, fix: String = "") -> Located<String>? {
        guard case .scalar(let s) = v else {
            var hint = fix
            if case .mapping(let m) = v, m.count == 1 {
                hint = "a text containing ': ' reads as a mapping in YAML; put the whole value in quotes"
            }
            ctx.error(v, "\(path) must be a string, not \(v.kindName)", fix: hint)
            return nil
        }
        if Node.isNull(s) {
            ctx.error(v, "\(path) must not be empty", fix: fix)
            return nil
        }
        return Located(value: s.string, node: v)
    }

    func int(_ key: String, range: ClosedRange<Int>, required: Bool = false, unit: String = "", fix: String = "")
        -> Located<Int>?
    {
        guard let v = raw(key) else {
            if required { missing(key, fix: fix) }
            return nil
        }
        guard case .scalar(let s) = v, let n = Int(s.string.trimmingCharacters(in: .whitespaces)) else {
            ctx.error(
                v,
                "\(child(key)) must be a whole number\(unit.isEmpty ? "" : " of \(unit)"), not \(v.kindName)\(Self.shown(v))",
                fix: fix.isEmpty ? "write a number such as \(range.lowerBound)" : fix)
            return nil
        }
        guard range.contains(n) else {
            ctx.error(
                v,
                "\(child(key)) is \(n), outside \(range.lowerBound)...\(range.upperBound)\(unit.isEmpty ? "" : " \(unit)")",
                fix: fix.isEmpty ? "use a value between \(range.lowerBound) and \(range.upperBound)" : fix)
            return nil
        }
        return Located(value: n, node: v)
    }

    func bool(_ key: String) -> Located<Bool>? {
        guard let v = raw(key) else { return nil }
        guard case .scalar(let s) = v, let b = Node.boolValue(s.string) else {
            ctx.error(
                v, "\(child(key)) must be true or false, not \(v.kindName)\(Self.shown(v))", fix: "write true or false")
            return nil
        }
        return Located(value: b, node: v)
    }

    /// An enum value, matched case-insensitively (as Azure matches them) and returned in its
    /// canonical spelling; a bad value lists the allowed ones.
    func choice<E: RawRepresentable & CaseIterable>(_ key: String, _ type: E.Type) -> Located<E>?
    where E.RawValue == String {
        guard let text = string(key) else { return nil }
        return Self.choice(text, E.self, path: child(key), ctx: ctx)
    }

    static func choice<E: RawRepresentable & CaseIterable>(
        _ text: Located<String>, _ type: E.Type, path: String, ctx: DecodeContext
    ) -> Located<E>? where E.RawValue == String {
        if let match = E.allCases.first(where: { $0.rawValue.lowercased() == text.value.lowercased() }) {
            return Located(value: match, node: text.node)
        }
        let allowed = E.allCases.map(\.rawValue)
        let hint = Suggestions.closest(to: text.value, in: allowed).map { "did you mean '\($0)'? " } ?? ""
        ctx.error(
            text.node, "\(path) is '\(text.value)', which is not one of: \(allowed.joined(separator: ", "))",
            fix: "\(hint)use one of the listed values")
        return nil
    }

    func strings(_ key: String, fix: String = "") -> Located<[Located<String>]>? {
        guard let v = raw(key) else { return nil }
        guard case .sequence(let seq) = v else {
            ctx.error(
                v, "\(child(key)) must be a list, not \(v.kindName)",
                fix: fix.isEmpty ? "write each item on its own `- ` line" : fix)
            return nil
        }
        var out: [Located<String>] = []
        for (i, item) in seq.enumerated() {
            if let s = Self.scalarString(item, path: "\(child(key))[\(i)]", ctx: ctx) { out.append(s) }
        }
        return Located(value: out, node: v)
    }

    func stringMap(_ key: String) -> Located<[(key: Located<String>, value: Located<String>)]>? {
        guard let v = raw(key) else { return nil }
        guard case .mapping(let m) = v else {
            ctx.error(
                v, "\(child(key)) must be a mapping of names to values, not \(v.kindName)",
                fix: "write `NAME: value` lines")
            return nil
        }
        var out: [(key: Located<String>, value: Located<String>)] = []
        for (k, val) in m {
            guard let ks = Self.scalarString(k, path: "\(child(key)) key", ctx: ctx) else { continue }
            if out.contains(where: { $0.key.value == ks.value }) {
                ctx.error(k, "duplicate key '\(ks.value)' in \(child(key))", fix: "keep one of them")
                continue
            }
            if let vs = Self.scalarString(val, path: "\(child(key)).\(ks.value)", ctx: ctx) { out.append((ks, vs)) }
        }
        return Located(value: out, node: v)
    }

    func mapping(_ key: String) -> MappingReader? {
        guard let v = raw(key) else { return nil }
        return MappingReader(v, path: child(key), ctx: ctx)
    }

    func sequence(_ key: String, fix: String = "") -> [Node]? {
        guard let v = raw(key) else { return nil }
        guard case .sequence(let seq) = v else {
            ctx.error(
                v, "\(child(key)) must be a list, not \(v.kindName)",
                fix: fix.isEmpty ? "write each item on its own `- ` line" : fix)
            return nil
        }
        return Array(seq)
    }

    /// A duration such as `90s`, `15m`, `2h`, `1h30m`.
    func duration(_ key: String) -> Located<Seconds>? {
        guard let text = string(key) else { return nil }
        guard let d = Seconds(parsing: text.value) else {
            ctx.error(
                text.node, "\(child(key)) is '\(text.value)', which is not a duration",
                fix: "write a number with a unit, e.g. 90s, 15m, 2h or 1h30m")
            return nil
        }
        return Located(value: d, node: text.node)
    }

    private static func shown(_ v: Node) -> String {
        if case .scalar(let s) = v { return " ('\(s.string.prefix(40))')" }
        return ""
    }

    /// Reports every key that no getter asked for. Keys Packer's azure-chroot builder uses
    /// get a pointer to Kiln's name for them.
    func finish(aliases: [String: String] = PackerNames.kilnPath) {
        for e in entries where !used.contains(e.key) && !known.contains(e.key) {
            let fix: String
            if let kiln = aliases[Suggestions.squashed(e.key)] {
                fix = "Packer's '\(e.key)' is `\(kiln)` in Kiln (see docs/manifest.md)"
            } else if let guess = Suggestions.closest(to: e.key, in: known) {
                fix = "did you mean '\(guess)'?"
            } else {
                fix = "the keys allowed here are: \(known.joined(separator: ", "))"
            }
            ctx.error(e.keyNode, "unknown key '\(e.key)' in \(where_())", fix: fix)
        }
    }
}
