import Foundation
import Planner
import Synchronization

/// Renders events as JSON lines for tools, in the manner of Terraform's `-json` UI: a
/// `{"type":"version",…}` object first, then one object per event with the fields
/// `type` (`start`, `progress`, `output`, `done`, `failed`, `skipped`, `blocked`,
/// `interrupted`, `interrupt`, `summary`, `leftovers`, `cleanup`, `destroy`), `action`,
/// `build`, `message`, `elapsed_seconds`, `progress`, `line` (an `output` event's line),
/// and an object of type `summary` with a `summary` object at the end of the run. After
/// a failed apply come `leftovers` (with a `leftovers` object: `--on-error keep`) or the
/// cleanup's actions and a `cleanup` object (with `teardown`); `kiln destroy` ends with
/// `destroy`.
///
/// Consumers should ignore fields they do not know; `ui_version` changes its major
/// number only when a field changes meaning.
public final class JSONLinesRenderer: ApplyEventSink {
    /// The schema version in the first line.
    public static let uiVersion = "1.0"

    private let output: any TextOutput
    private let versionWritten = Mutex(false)
    private let kilnVersion: String

    public init(output: any TextOutput, kilnVersion: String = "dev") {
        self.output = output
        self.kilnVersion = kilnVersion
    }

    struct Line: Encodable {
        var type: String
        var message: String
        var action: String?
        var build: String?
        var change: String?
        var resource: String?
        var elapsedSeconds: Double?
        var progress: Double?
        var detail: String?
        var command: String?
        var output: [String]?
        var line: String?
        var leftovers: LeftoverReport?
        var teardown: TeardownSummary?
        var upstream: String?
        var running: [String]?
        var summary: ApplySummary?
        var uiVersion: String?
        var kiln: String?
        var timestamp: String

        enum CodingKeys: String, CodingKey {
            case type, message, action, build, change, resource, progress, detail, command, output, line, upstream,
                running, summary, kiln
            case leftovers, teardown
            case elapsedSeconds = "elapsed_seconds"
            case uiVersion = "ui_version"
            case timestamp = "@timestamp"
        }
    }

    public func receive(_ event: ApplyEvent) {
        // The first line is the version, whatever the first event is; the lock also
        // keeps lines whole and in order.
        versionWritten.withLock { written in
            var text = ""
            if !written {
                written = true
                text += encode(
                    Line(
                        type: "version", message: "kiln \(kilnVersion)", uiVersion: Self.uiVersion, kiln: kilnVersion,
                        timestamp: now()))
            }
            text += encode(line(for: event))
            output.write(text)
        }
    }

    private func line(for event: ApplyEvent) -> Line {
        let message = ApplyEventFormat.lines(event).filter { !$0.isEmpty }.joined(separator: "\n")
        var line = Line(
            type: "", message: message, action: event.action?.description, build: event.action?.build, timestamp: now())
        switch event {
        case .started(_, let change, let resource, let rejoining):
            line.type = "start"
            line.change = change.rawValue
            line.resource = resource
            if rejoining { line.detail = "re-joining an operation in flight" }
        case .progress(let id, let percent, let detail):
            line.type = "progress"
            line.progress = percent
            line.detail = detail
            line.message = "\(id): \(ApplyEventFormat.progress(percent: percent, detail: detail))"
        case .output(let id, let text):
            line.type = "output"
            line.line = text
            line.message = "\(id): \(text)"
        case .done(_, let elapsed):
            line.type = "done"
            line.elapsedSeconds = Self.seconds(elapsed)
        case .failed(let failure, let elapsed):
            line.type = "failed"
            line.message = "\(failure.action): \(failure.message)"
            line.elapsedSeconds = Self.seconds(elapsed)
            line.command = failure.command
            line.output = failure.outputTail.isEmpty ? nil : failure.outputTail
        case .skipped(_, let upstream):
            line.type = "skipped"
            line.upstream = upstream.description
        case .blocked(_, let by):
            line.type = "blocked"
            line.upstream = by.description
        case .interrupted(_, let elapsed):
            line.type = "interrupted"
            line.elapsedSeconds = Self.seconds(elapsed)
        case .interruptReceived(_, let running):
            line.type = "interrupt"
            line.running = running.map(\.description)
        case .summary(let summary):
            line.type = "summary"
            line.message = summary.message
            line.summary = summary
        case .leftovers(let report):
            line.type = "leftovers"
            line.message = report.lines.joined(separator: "\n")
            line.leftovers = report
        case .teardown(let summary):
            line.type = summary.kind.rawValue
            line.message = summary.lines.filter { !$0.isEmpty }.joined(separator: "\n")
            line.teardown = summary
        }
        return line
    }

    private func encode(_ line: Line) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(line) else {
            // Only non-finite numbers fail to encode; drop them rather than the line.
            var safe = line
            safe.progress = nil
            safe.elapsedSeconds = nil
            return String(decoding: (try? encoder.encode(safe)) ?? Data("{}".utf8), as: UTF8.self) + "\n"
        }
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    private func now() -> String { Date().formatted(.iso8601) }

    static func seconds(_ duration: Duration) -> Double {
        let c = duration.components
        // Milliseconds are precision enough for a person or a pipeline.
        return ((Double(c.seconds) + Double(c.attoseconds) / 1e18) * 1000).rounded() / 1000
    }
}
