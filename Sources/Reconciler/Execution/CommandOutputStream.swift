import Foundation
import Logging
import Model
import Planner
import Providers
import Synchronization

/// Hides secret values in what Kiln prints: every occurrence of a value is replaced by
/// `***`. The values are those the manifest takes from Kiln's environment
/// (`{{env "NAME"}}`): the manifest itself holds no secrets, so everything secret reaches a
/// command through such a reference.
public struct SecretMask: Sendable, Equatable {
    /// Values shorter than this are not masked: masking `1` or `on` would garble every line
    /// without protecting anything.
    public static let minimumLength = 4

    public let values: [String]

    public init(values: [String]) {
        // Longest first, so a secret that contains another is masked whole.
        self.values = Array(Set(values.filter { $0.count >= Self.minimumLength })).sorted {
            $0.count != $1.count ? $0.count > $1.count : $0 < $1
        }
    }

    /// The values of the process environment that `templates` refer to with `{{env "…"}}`.
    public init(templates: [String], environment: [String: String]) {
        var names: Set<String> = []
        func visit(_ e: Template.Expression) {
            switch e {
            case .env(let name): names.insert(name)
            case .quote(let inner): visit(inner)
            case .variable, .vm: break
            }
        }
        for text in templates where text.contains("{{") {
            // Parse with every variable allowed: only the env references matter here, and
            // the executors report real template errors themselves.
            guard let template = try? Template(parsing: text, allowed: ["BuildName", "Device", "MountPath", "Command"])
            else { continue }
            for case .action(let e) in template.parts { visit(e) }
        }
        self.init(values: names.compactMap { environment[$0] })
    }

    public static let none = SecretMask(values: [])

    public func apply(_ text: String) -> String {
        var out = text
        for value in values where out.contains(value) { out = out.replacingOccurrences(of: value, with: "***") }
        return out
    }
}

/// A command failure with secret values masked in its summary, command and output tail.
struct MaskedCommandFailure: Error, ReportableActionError, CustomStringConvertible {
    let failureSummary: String
    let failedCommand: String?
    let outputTail: [String]
    var description: String { failureSummary }

    /// `error` with `mask` applied, when it is a reportable error; else `error` itself.
    static func masking(_ error: any Error, _ mask: SecretMask) -> any Error {
        guard !mask.values.isEmpty, let reportable = error as? any ReportableActionError else { return error }
        return MaskedCommandFailure(
            failureSummary: mask.apply(reportable.failureSummary),
            failedCommand: reportable.failedCommand.map(mask.apply),
            outputTail: reportable.outputTail.map(mask.apply))
    }
}

/// Streams a running command's output lines into the apply events (`.output`) for one
/// action: each line has secrets masked, control characters (colours, carriage returns)
/// removed and is cut to `maxLineLength`; a chatty command is rate-limited by a token
/// bucket (`burst` lines at once, then `linesPerSecond`), and the number of lines left out
/// is reported with the next line shown and at `finish()`. The whole output still goes to
/// the debug log, and a failure still reports the last lines (masked too).
public final class CommandOutputStream: Sendable {
    public static let maxLineLength = 240
    public static let burst = 40.0
    public static let linesPerSecond = 10.0

    private struct State {
        var tokens = CommandOutputStream.burst
        var last = ContinuousClock.now
        var dropped = 0
    }

    private let action: ActionID
    private let emit: @Sendable (ApplyEvent) -> Void
    private let mask: SecretMask
    private let state = Mutex(State())

    init(action: ActionID, mask: SecretMask, emit: @escaping @Sendable (ApplyEvent) -> Void) {
        self.action = action
        self.mask = mask
        self.emit = emit
    }

    /// The stream of the context's action.
    convenience init(_ context: ExecutionContext, mask: SecretMask) {
        self.init(action: context.action.id, mask: mask, emit: context.emit)
    }

    /// One line of output (as `CommandRunner` delivers it, without the newline).
    public func line(_ text: String) {
        let clean = Self.clean(mask.apply(text))
        let (show, dropped) = state.withLock { s -> (Bool, Int) in
            let now = ContinuousClock.now
            let elapsed = s.last.duration(to: now)
            s.last = now
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            s.tokens = min(Self.burst, s.tokens + seconds * Self.linesPerSecond)
            guard s.tokens >= 1 else {
                s.dropped += 1
                return (false, 0)
            }
            s.tokens -= 1
            defer { s.dropped = 0 }
            return (true, s.dropped)
        }
        guard show else { return }
        if dropped > 0 { emit(.output(action, line: Self.droppedNote(dropped))) }
        emit(.output(action, line: clean))
    }

    /// Reports lines left out since the last one shown (call when the command ends).
    public func finish() {
        let dropped = state.withLock { s -> Int in
            defer { s.dropped = 0 }
            return s.dropped
        }
        if dropped > 0 { emit(.output(action, line: Self.droppedNote(dropped))) }
    }

    static func droppedNote(_ n: Int) -> String {
        "… \(n) line\(n == 1 ? "" : "s") not shown (too much output to stream them all; a failure still shows the last lines)"
    }

    /// Without escape sequences and control characters, and at most `maxLineLength` long.
    static func clean(_ text: String) -> String {
        var out = ""
        var scalars = text.unicodeScalars.makeIterator()
        while let c = scalars.next() {
            if c == "\u{1B}" {
                // CSI sequences (colours, cursor moves): skip to the final byte.
                if let next = scalars.next(), next == "[" {
                    while let t = scalars.next(), !(0x40...0x7E).contains(t.value) {}
                }
                continue
            }
            if c == "\t" {
                out += " "
                continue
            }
            if c.value < 0x20 || c.value == 0x7F { continue }
            out.unicodeScalars.append(c)
        }
        return out.count > maxLineLength ? String(out.prefix(maxLineLength - 1)) + "…" : out
    }
}

extension ExecutionContext {
    /// Runs a command of this action through `body`, handing it the output callback: each
    /// line goes to the debug log and, as it comes, into the action's events (both with
    /// `mask` applied); a failure is rethrown with its command and output tail masked.
    func streamingOutput<T>(
        mask: SecretMask,
        _ body: (@escaping @Sendable (CommandOutputLine) -> Void) async throws -> T
    ) async throws -> T {
        let stream = CommandOutputStream(self, mask: mask)
        defer { stream.finish() }
        let logger = self.logger
        do {
            return try await body { line in
                logger.debug("\(mask.apply(line.text))")
                stream.line(line.text)
            }
        } catch {
            throw MaskedCommandFailure.masking(error, mask)
        }
    }
}
