import Planner
import Synchronization

/// Renders events as plain lines, for logs and pipes: one line when an action starts,
/// one when it ends (`* web/provision[setup]: running…`, `✓ web/provision[setup]: done
/// after 3s`), a progress line each time an action's progress crosses a tenth (or its
/// detail changes, when it has no percentage), the output lines of running commands
/// (`  web/provision[setup]: | line`), and the summary.
public final class PlainLineRenderer: ApplyEventSink {
    private let output: any TextOutput
    /// The last progress printed per action, to print only changes worth a line.
    private let lastProgress = Mutex<[ActionID: String]>([:])

    public init(output: any TextOutput) {
        self.output = output
    }

    public func receive(_ event: ApplyEvent) {
        if case .progress(let id, let percent, let detail) = event {
            let key = percent.map { "\(Int($0) / 10)" } ?? detail
            let changed = lastProgress.withLock { last in
                guard last[id] != key else { return false }
                last[id] = key
                return true
            }
            if changed { output.write("  \(id): \(ApplyEventFormat.progress(percent: percent, detail: detail))\n") }
            return
        }
        if case .output(let id, let line) = event {
            output.write(ApplyEventFormat.output(id, line) + "\n")
            return
        }
        let lines = ApplyEventFormat.lines(event)
        if !lines.isEmpty { output.write(lines.joined(separator: "\n") + "\n") }
    }
}
