import Foundation
import Planner

/// The words and lines the text renderers share.
enum ApplyEventFormat {
    /// `3s`, `1m5s`, `1h2m`: whole seconds, like Terraform's "after 3s".
    static func elapsed(_ duration: Duration) -> String {
        let seconds = Int(duration.components.seconds)
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m\(seconds % 60)s" }
        return "\(seconds / 3600)h\(seconds % 3600 / 60)m"
    }

    static func verb(_ change: Change) -> String {
        switch change {
        case .create: "creating"
        case .update: "updating"
        case .delete: "deleting"
        case .replace: "replacing"
        case .run: "running"
        case .wait: "waiting"
        }
    }

    static func percent(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value))%" : String(format: "%.1f%%", value)
    }

    static func progress(percent: Double?, detail: String) -> String {
        [percent.map(Self.percent), detail.isEmpty ? nil : detail].compactMap { $0 }.joined(separator: " ")
    }

    /// The permanent lines an event prints (none for progress, which the renderers
    /// treat each their own way).
    static func lines(_ event: ApplyEvent) -> [String] {
        switch event {
        case .started(let id, let change, _, let rejoining):
            return [
                "\(change.symbol) \(id): "
                    + (rejoining ? "re-joining the operation started by the last run…" : "\(verb(change))…")
            ]
        case .progress, .output:
            return []
        case .done(let id, let elapsed):
            return ["✓ \(id): done after \(Self.elapsed(elapsed))"]
        case .failed(let failure, let elapsed):
            var lines = ["✗ \(failure.action): failed after \(Self.elapsed(elapsed)): \(failure.message)"]
            if let command = failure.command { lines.append("    command: \(command)") }
            if !failure.outputTail.isEmpty {
                lines.append("    last output:")
                lines += failure.outputTail.map { "    | \($0)" }
            }
            return lines
        case .skipped(let id, let upstream):
            return ["· \(id): not run, because \(upstream) failed"]
        case .blocked(let id, let by):
            return [
                id == by
                    ? "· \(id): not run, blocked by a conflict in the plan"
                    : "· \(id): not run, because \(by) is blocked by a conflict in the plan"
            ]
        case .interrupted(let id, let elapsed):
            return ["! \(id): interrupted after \(Self.elapsed(elapsed)); the next kiln apply resumes it"]
        case .interruptReceived(let level, let running):
            switch level {
            case .none:
                return []
            case .graceful:
                let what =
                    running.isEmpty
                    ? ""
                    : " Waiting for \(running.count) running action\(running.count == 1 ? "" : "s") to finish or reach a safe point."
                return ["Interrupt received: no new actions will start.\(what) Press Ctrl-C again to stop at once."]
            case .immediate:
                return [
                    "Second interrupt: cancelling everything now. The journal is consistent; run kiln apply again to resume."
                ]
            }
        case .summary(let summary):
            var lines = ["", summary.message]
            for failure in summary.failures { lines.append("  ✗ \(failure.action): \(failure.message)") }
            if !summary.outputs.isEmpty {
                lines.append("Outputs:")
                for output in summary.outputs {
                    if let image = output.imageID { lines.append("  \(output.build) image: \(image)") }
                    if let version = output.galleryImageVersionID {
                        lines.append("  \(output.build) gallery version: \(version)")
                    }
                }
            }
            return lines
        case .leftovers(let report):
            return [""] + report.lines
        case .teardown(let summary):
            return summary.lines
        }
    }

    /// A streamed output line under its action, as plain text shows it.
    static func output(_ id: ActionID, _ line: String) -> String {
        "  \(id): | \(line)"
    }
}
