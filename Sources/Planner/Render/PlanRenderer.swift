import Foundation
import Model

/// Renders plans the ways people and tools read them: text like Terraform's, JSON, and
/// Graphviz DOT.
public enum PlanRenderer {
    /// The text a person reads: one entry per pending action with its symbol, what it acts
    /// on and why, grouped by build; conflicts with their fixes; a summary line.
    public static func text(_ plan: Plan) -> String {
        var out = ""
        for build in plan.builds {
            guard let holder = build.runningElsewhere else { continue }
            out += "# \(build.name) is running on \(holder) (it holds the build's lease): its plan is that kiln's\n"
        }
        if plan.isEmpty {
            let others = plan.builds.contains { $0.runningElsewhere != nil }
            return out
                + (others
                    ? "No changes for this VM to make.\n" : "No changes. The published images match the manifest.\n")
        }
        if !out.isEmpty { out += "\n" }
        if !plan.pending.isEmpty {
            out += "Kiln will perform the following actions:\n"
            for build in plan.builds {
                let pending = plan.pending.filter { $0.id.build == build.name }
                guard !pending.isEmpty else { continue }
                out +=
                    "\n  # \(build.name) (digest \(build.digest.dropFirst("sha256:".count).prefix(12)), run \(build.runID))\n"
                if let why = build.freshRunReason { out += "  # a fresh run on new disks: \(why)\n" }
                if let images = build.images { out += "  # images: \(images)\n" }
                if let source = build.source { out += "  # \(source)\n" }
                if let version = build.autoVersion { out += "  # version: auto chose \(version)\n" }
                let width = min(36, pending.map { label($0).count }.max() ?? 0)
                for a in pending {
                    let name = label(a)
                    let padding = String(repeating: " ", count: max(1, width - name.count + 2))
                    out +=
                        "  \(a.change.symbol.padding(toLength: 3, withPad: " ", startingAt: 0)) \(name)\(a.resource.map { padding + $0 } ?? "")\n"
                    var why = a.reason
                    switch a.status {
                    case .inFlight:
                        why +=
                            why.isEmpty
                            ? "in flight since the last run: waits for it"
                            : " (in flight since the last run: waits for it)"
                    case .blocked: why = "blocked by a conflict" + (why.isEmpty ? "" : ": \(why)")
                    default: break
                    }
                    if !why.isEmpty { out += "        \(why)\n" }
                }
            }
        }
        if !plan.conflicts.isEmpty {
            out += "\nConflicts that Kiln will not resolve on its own:\n"
            for c in plan.conflicts { out += "  ! \(c.build): \(c.message)\n      fix: \(c.fix)\n" }
        }
        out += "\n" + summary(plan) + "\n"
        return out
    }

    static func label(_ a: Action) -> String {
        a.id.kind.rawValue + (a.id.target.map { "[\($0)]" } ?? "")
    }

    /// `Plan: 3 to add, 1 to change, 2 to destroy, 12 to run, 2 to wait for.`
    public static func summary(_ plan: Plan) -> String {
        let c = plan.counts
        var parts = [
            "\((c[.create] ?? 0) + (c[.replace] ?? 0)) to add",
            "\(c[.update] ?? 0) to change",
            "\((c[.delete] ?? 0) + (c[.replace] ?? 0)) to destroy",
            "\(c[.run] ?? 0) to run",
            "\(c[.wait] ?? 0) to wait for"
        ]
        let blocked = plan.pending.filter { $0.status == .blocked }.count
        if blocked > 0 {
            parts.append(
                "\(blocked) blocked by \(plan.conflicts.count) conflict\(plan.conflicts.count == 1 ? "" : "s")")
        }
        return "Plan: " + parts.joined(separator: ", ") + "."
    }

    /// The whole plan as JSON (every action, done ones included, with its status).
    public static func json(_ plan: Plan) throws -> String {
        struct Document: Encodable {
            var formatVersion = "1"
            var plan: Plan
            var summary: String
            var empty: Bool
            enum CodingKeys: String, CodingKey {
                case formatVersion = "format_version"
                case plan, summary, empty
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let data = try encoder.encode(Document(plan: plan, summary: summary(plan), empty: plan.isEmpty))
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// The DAG as Graphviz DOT: one cluster per build, edges from an action to the actions
    /// that wait for it, pending actions drawn solid and done ones dashed and grey.
    public static func dot(_ plan: Plan) -> String {
        func q(_ s: String) -> String {
            "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        var out = "digraph kiln {\n  rankdir = \"LR\";\n  node [shape = rect, fontname = \"sans-serif\"];\n"
        for (i, build) in plan.builds.enumerated() {
            out += "  subgraph \(q("cluster_\(i)")) {\n    label = \(q(build.name));\n"
            for a in plan.actions where a.id.build == build.name {
                let style =
                    a.status == .done
                    ? ", style = dashed, color = grey, fontcolor = grey" : (a.status == .blocked ? ", color = red" : "")
                out += "    \(q(a.id.description)) [label = \(q("\(a.change.symbol) \(label(a))"))\(style)];\n"
            }
            out += "  }\n"
        }
        for a in plan.actions {
            for dep in a.dependsOn { out += "  \(q(dep.description)) -> \(q(a.id.description));\n" }
        }
        return out + "}\n"
    }
}
