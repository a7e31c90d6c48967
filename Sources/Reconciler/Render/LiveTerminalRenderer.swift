import Planner
import Synchronization

/// Renders events on a terminal: the same start and end lines as `PlainLineRenderer`,
/// and below them a block with one line per running action (its progress and detail)
/// that is redrawn in place with ANSI escapes as events arrive.
///
/// Kept simple to stay robust: the block is erased line by line (cursor up, erase line)
/// and drawn again in one write; lines are cut to the terminal's width so that none
/// wraps (a wrapped line would break the count of lines to erase). Use it only on a
/// terminal (`ApplyRenderer.make` decides).
public final class LiveTerminalRenderer: ApplyEventSink {
    private struct Running {
        var id: ActionID
        var text: String
    }

    private struct State {
        var running: [Running] = []
        var drawnLines = 0
    }

    private let output: any TextOutput
    private let state = Mutex(State())

    public init(output: any TextOutput) {
        self.output = output
    }

    public func receive(_ event: ApplyEvent) {
        let width = max(20, (output.columns ?? 80) - 1)
        state.withLock { state in
            var text = String(repeating: "\u{1B}[1A\u{1B}[2K", count: state.drawnLines)
            if state.drawnLines > 0 { text += "\r" }
            for line in ApplyEventFormat.lines(event) { text += colored(line) + "\n" }
            switch event {
            case .started(let id, let change, _, let rejoining):
                state.running.append(
                    Running(id: id, text: rejoining ? "re-joining…" : "\(ApplyEventFormat.verb(change))…"))
            case .progress(let id, let percent, let detail):
                if let index = state.running.firstIndex(where: { $0.id == id }) {
                    state.running[index].text = ApplyEventFormat.progress(percent: percent, detail: detail)
                }
            case .output(let id, let line):
                // Only the latest line: the permanent lines stay for starts and ends.
                if let index = state.running.firstIndex(where: { $0.id == id }) {
                    state.running[index].text = "| " + line
                }
            case .done, .failed, .interrupted:
                state.running.removeAll { $0.id == event.action }
            case .summary:
                state.running = []
            default:
                break
            }
            for running in state.running {
                text += "\u{1B}[2m" + Self.cut("  ⋯ \(running.id): \(running.text)", to: width) + "\u{1B}[0m\n"
            }
            state.drawnLines = state.running.count
            output.write(text)
        }
    }

    private func colored(_ line: String) -> String {
        if line.hasPrefix("✓") { return "\u{1B}[32m✓\u{1B}[0m" + line.dropFirst() }
        if line.hasPrefix("✗") { return "\u{1B}[31m✗\u{1B}[0m" + line.dropFirst() }
        if line.hasPrefix("!") { return "\u{1B}[33m!\u{1B}[0m" + line.dropFirst() }
        return line
    }

    static func cut(_ line: String, to width: Int) -> String {
        line.count <= width ? line : String(line.prefix(width - 1)) + "…"
    }
}

/// Picks the renderer for an output format.
public enum ApplyRenderer {
    /// The output formats of `kiln apply`.
    public enum Format: Sendable {
        /// Text: the live view on a terminal (unless `TERM=dumb`), plain lines otherwise.
        case text
        /// One JSON object per line.
        case jsonLines
    }

    /// The sink that renders `format` to `output`.
    public static func make(_ format: Format, output: any TextOutput, environment: [String: String] = [:])
        -> any ApplyEventSink
    {
        switch format {
        case .jsonLines:
            return JSONLinesRenderer(output: output)
        case .text:
            if output.isTerminal, environment["TERM"] != "dumb" { return LiveTerminalRenderer(output: output) }
            return PlainLineRenderer(output: output)
        }
    }
}
