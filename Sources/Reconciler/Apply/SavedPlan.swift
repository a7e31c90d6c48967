import Crypto
import Foundation
import Planner

/// A plan saved by `kiln plan --out FILE` for a later `kiln apply FILE`: the manifest it was
/// made from, the plan, and a fingerprint of the plan. Apply observes again and refuses the
/// saved plan when the fresh plan differs (the world moved on since), like Terraform's
/// "Saved plan is stale".
public struct SavedPlan: Sendable, Codable, Equatable {
    public var formatVersion: Int
    /// The manifest path, as given to `kiln plan`.
    public var manifest: String
    public var fingerprint: String
    public var plan: Plan

    public static let currentFormat = 1

    public init(manifest: String, plan: Plan) {
        formatVersion = Self.currentFormat
        self.manifest = manifest
        self.plan = plan
        fingerprint = Self.fingerprint(of: plan)
    }

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version"
        case manifest, fingerprint, plan
    }

    /// SHA-256 over the plan's canonical JSON: every action with its status, reason and
    /// resource, and every build's digest.
    public static func fingerprint(of plan: Plan) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(plan)) ?? Data()
        return "sha256:" + SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try encoder.encode(self) + Data("\n".utf8)
    }

    /// Reads a saved plan; nil when the file is not one (e.g. it is a manifest).
    public static func read(_ path: String) -> SavedPlan? {
        guard let data = FileManager.default.contents(atPath: path),
            let saved = try? JSONDecoder().decode(SavedPlan.self, from: data)
        else { return nil }
        return saved
    }

    /// Nil when `fresh` is the plan that was saved; otherwise what changed, for the error.
    public func staleness(against fresh: Plan) -> String? {
        guard Self.fingerprint(of: fresh) != fingerprint else { return nil }
        let before = Dictionary(plan.actions.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var changes: [String] = []
        for a in fresh.actions {
            guard let old = before[a.id] else {
                changes.append("\(a.id) is new")
                continue
            }
            if old.status != a.status { changes.append("\(a.id) was \(old.status.rawValue), is \(a.status.rawValue)") }
        }
        for a in plan.actions where !fresh.actions.contains(where: { $0.id == a.id }) {
            changes.append("\(a.id) is gone")
        }
        if changes.isEmpty { changes.append("reasons or resources differ") }
        return changes.prefix(5).joined(separator: "; ") + (changes.count > 5 ? "; and \(changes.count - 5) more" : "")
    }
}
