import Foundation

/// Reads the evaluated attributes of one source or provisioner, checking each value's type,
/// that it carries no secret, and that it holds no `{{timestamp}}` where Kiln cannot drop it.
struct PackerFieldReader {
    let attributes: [PackerAttribute]
    let context: PackerContext
    let diagnostics: ImportDiagnostics
    /// What the attributes belong to, for messages: `source "azure-chroot" "web"`.
    let owner: String
    /// Where that is.
    let location: SourceLocation

    func field(_ key: String) -> PackerField? { attributes.last { $0.name == key }?.field }

    /// The evaluated value of `key`; nil when absent, null, or wrong (the error is recorded).
    func value(_ key: String, allowTimestamp: Bool = false) -> PackerValue? {
        guard let f = field(key),
            let v = diagnostics.attempt({ () throws(PackerImportError) in try f.evaluate(context) })
        else { return nil }
        if v.isNull { return nil }
        if v.holdsSecret {
            diagnostics.error(
                f.location,
                "\(key) of \(owner) would copy a secret (a sensitive variable, or one that sets a credential) into the manifest",
                fix:
                    "read it from the environment instead: a variable whose default is env(\"NAME\") becomes {{env \"NAME\"}}"
            )
            return nil
        }
        if !allowTimestamp, Self.holdsTimestamp(v) {
            diagnostics.error(
                f.location, "\(key) of \(owner) uses a timestamp (or isotime, uuid), which makes every run different",
                fix: "Kiln builds desired state: write a fixed value, or pass one with --var")
            return nil
        }
        return v
    }

    static func holdsTimestamp(_ v: PackerValue) -> Bool {
        switch v.kind {
        case .string(let s): s.contains(HCLScope.timestampMarker)
        case .list(let items): items.contains(where: holdsTimestamp)
        case .object(let members): members.contains { holdsTimestamp($0.value) }
        default: false
        }
    }

    func string(_ key: String, allowTimestamp: Bool = false) -> (value: String, location: SourceLocation)? {
        guard let v = value(key, allowTimestamp: allowTimestamp) else { return nil }
        guard let t = v.text else {
            diagnostics.error(
                field(key)!.location, "\(key) of \(owner) must be a string, not \(v.typeName)", fix: "quote it")
            return nil
        }
        return (t, field(key)!.location)
    }

    /// A resource id: a string decided at import (Kiln checks an id's shape before it runs,
    /// so it cannot come from the environment).
    func resourceID(_ key: String, allowTimestamp: Bool = false) -> (value: String, location: SourceLocation)? {
        guard let id = string(key, allowTimestamp: allowTimestamp) else { return nil }
        if id.value.contains("{{env ") {
            diagnostics.error(
                id.location, "\(key) of \(owner) reads the environment, but Kiln checks a resource id before it runs",
                fix: "give the value at import: kiln import packer -var NAME=VALUE for the variable it uses")
            return nil
        }
        return id
    }

    func bool(_ key: String) -> Bool? {
        guard let v = value(key) else { return nil }
        switch v.kind {
        case .bool(let b): return b
        case .string("true"): return true
        case .string("false"): return false
        default:
            diagnostics.error(
                field(key)!.location, "\(key) of \(owner) must be true or false, not \(v.typeName)",
                fix: "write true or false")
            return nil
        }
    }

    func int(_ key: String) -> Int? {
        guard let v = value(key) else { return nil }
        if let t = v.text, let n = Int(t) { return n }
        diagnostics.error(field(key)!.location, "\(key) of \(owner) must be a whole number", fix: "write e.g. 30")
        return nil
    }

    func strings(_ key: String) -> [String]? {
        guard let v = value(key) else { return nil }
        return Self.strings(v, key: key, owner: owner, at: field(key)!.location, diagnostics: diagnostics)
    }

    static func strings(
        _ v: PackerValue, key: String, owner: String, at: SourceLocation, diagnostics: ImportDiagnostics
    )
        -> [String]?
    {
        guard case .list(let items) = v.kind else {
            diagnostics.error(
                at, "\(key) of \(owner) must be a list of strings, not \(v.typeName)", fix: "write [\"…\"]")
            return nil
        }
        let texts = items.compactMap(\.text)
        guard texts.count == items.count else {
            diagnostics.error(at, "\(key) of \(owner) must be a list of strings", fix: "quote each item")
            return nil
        }
        return texts
    }
}
