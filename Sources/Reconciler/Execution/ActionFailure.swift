import Planner
import Providers

/// An error that knows how to present itself as an action's failure: a one-line summary,
/// and for commands (provisioning steps) the command and the last lines of its output.
/// Executors' errors conform so that the user sees what ran and what it printed.
public protocol ReportableActionError: Error {
    /// One line: what failed and why.
    var failureSummary: String { get }
    /// The command that failed, when the failure is a command's.
    var failedCommand: String? { get }
    /// The last lines of the command's output (oldest first).
    var outputTail: [String] { get }
}

extension CommandRunnerError: ReportableActionError {
    public var failureSummary: String {
        switch self {
        case .failed(let command, let termination, _): "command `\(command)` \(termination)"
        case .timedOut(let command, let timeout, _):
            "command `\(command)` did not finish within \(timeout) and was killed; raise the step's timeout if it needs longer"
        case .cancelled(let command, _): "command `\(command)` was cancelled"
        case .launchFailed: description
        }
    }

    public var failedCommand: String? {
        switch self {
        case .failed(let command, _, _), .timedOut(let command, _, _), .cancelled(let command, _),
            .launchFailed(let command, _):
            command
        }
    }

    public var outputTail: [String] { tail }
}

/// Why an action failed, as reported to the user and journaled.
public struct ActionFailure: Sendable, Equatable, Codable {
    public var action: ActionID
    /// One line, without secrets (see `ActionExecutor`).
    public var message: String
    /// For commands: what ran.
    public var command: String?
    /// For commands: the last lines of the output.
    public var outputTail: [String]

    public init(action: ActionID, message: String, command: String? = nil, outputTail: [String] = []) {
        self.action = action
        self.message = message
        self.command = command
        self.outputTail = outputTail
    }

    /// The failure an executor's error describes.
    public init(action: ActionID, error: any Error) {
        if let reportable = error as? any ReportableActionError {
            self.init(
                action: action, message: reportable.failureSummary, command: reportable.failedCommand,
                outputTail: reportable.outputTail)
        } else {
            self.init(action: action, message: String(describing: error))
        }
    }

    /// The message with the command and its output tail, for the journal.
    var journalMessage: String {
        var text = message
        if !outputTail.isEmpty { text += "; last output: " + outputTail.joined(separator: " | ") }
        return text
    }

    enum CodingKeys: String, CodingKey {
        case action, message, command
        case outputTail = "output"
    }
}
