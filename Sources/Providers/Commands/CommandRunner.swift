/// Runs host commands (`/bin/sh -c <command>` after the command wrapper).
///
/// Contract for every implementation:
/// * `run` returns when the command has exited, whatever its exit status; a non-zero
///   status or a signal is reported in `CommandResult`, not thrown (use `check()` or
///   `runChecked` to turn it into a `CommandRunnerError`).
/// * It throws `CommandRunnerError.timedOut` when `spec.timeout` elapses and
///   `CommandRunnerError.cancelled` when the calling task is cancelled; in both cases the
///   command's whole process group has been sent SIGTERM, then SIGKILL after
///   `spec.killGracePeriod`, before `run` returns.
/// * Output lines are delivered to `output` in order, per stream, as they arrive.
public protocol CommandRunner: Sendable {
    /// Runs `spec`, streaming each output line to `output`.
    func run(_ spec: CommandSpec, output: @escaping @Sendable (CommandOutputLine) -> Void) async throws -> CommandResult
}

extension CommandRunner {
    /// Runs `spec` without watching its output (the tail is still kept for errors).
    public func run(_ spec: CommandSpec) async throws -> CommandResult {
        try await run(spec, output: { _ in })
    }

    /// Runs `spec` and throws `CommandRunnerError.failed` unless it exits with status 0.
    @discardableResult
    public func runChecked(
        _ spec: CommandSpec, output: @escaping @Sendable (CommandOutputLine) -> Void = { _ in }
    ) async throws -> CommandResult {
        try await run(spec, output: output).check()
    }

    /// Runs the shell command line `command` and throws unless it exits with status 0.
    @discardableResult
    public func runChecked(_ command: String, timeout: Duration? = nil) async throws -> CommandResult {
        try await runChecked(CommandSpec(command, timeout: timeout))
    }
}

/// What to run and how: one shell command line and its environment.
public struct CommandSpec: Sendable {
    /// The shell command line, before the command wrapper is applied.
    public var command: String
    /// How the command is named in errors and logs. Defaults to `command`; callers whose
    /// command line carries secret values (environment assignments) set a redacted form.
    public var displayCommand: String
    /// Variables set for the command, on top of the host environment when
    /// `inheritEnvironment` is true.
    public var environment: [String: String]
    /// Whether the command starts from Kiln's own environment (true) or from
    /// `environment` alone (false).
    public var inheritEnvironment: Bool
    /// The working directory; nil keeps Kiln's.
    public var workingDirectory: String?
    /// How long the command may run before it is killed; nil for no limit.
    public var timeout: Duration?
    /// How long after SIGTERM the process group gets SIGKILL.
    public var killGracePeriod: Duration
    /// How many of the last output lines (both streams) are kept for error messages.
    public var tailLines: Int
    /// Whether the whole standard output is also collected into `CommandResult.stdout`.
    public var captureStdout: Bool

    public init(
        _ command: String,
        displayCommand: String? = nil,
        environment: [String: String] = [:],
        inheritEnvironment: Bool = true,
        workingDirectory: String? = nil,
        timeout: Duration? = nil,
        killGracePeriod: Duration = .seconds(5),
        tailLines: Int = 40,
        captureStdout: Bool = false
    ) {
        self.command = command
        self.displayCommand = displayCommand ?? command
        self.environment = environment
        self.inheritEnvironment = inheritEnvironment
        self.workingDirectory = workingDirectory
        self.timeout = timeout
        self.killGracePeriod = killGracePeriod
        self.tailLines = tailLines
        self.captureStdout = captureStdout
    }
}

/// One line of a command's output, without its line terminator.
public struct CommandOutputLine: Sendable, Equatable {
    /// Which stream a line came from.
    public enum Stream: String, Sendable, Equatable { case stdout, stderr }
    public var stream: Stream
    public var text: String

    public init(_ stream: Stream, _ text: String) {
        self.stream = stream
        self.text = text
    }
}

/// How a command ended.
public enum CommandTermination: Sendable, Equatable, CustomStringConvertible {
    /// It exited with this status.
    case exited(Int32)
    /// A signal ended it.
    case signaled(Int32)

    public var description: String {
        switch self {
        case .exited(let status): "exited with status \(status)"
        case .signaled(let signal): "was killed by signal \(signal)\(signalName(signal).map { " (\($0))" } ?? "")"
        }
    }
}

private func signalName(_ signal: Int32) -> String? {
    switch signal {
    case 1: "SIGHUP"
    case 2: "SIGINT"
    case 6: "SIGABRT"
    case 9: "SIGKILL"
    case 11: "SIGSEGV"
    case 13: "SIGPIPE"
    case 15: "SIGTERM"
    default: nil
    }
}

/// The outcome of one command that ran to its end.
public struct CommandResult: Sendable, Equatable {
    /// The command as shown to users (`CommandSpec.displayCommand`).
    public var command: String
    public var termination: CommandTermination
    /// The last `CommandSpec.tailLines` output lines, both streams interleaved.
    public var tail: [String]
    /// The whole standard output when `CommandSpec.captureStdout` was set, else empty.
    public var stdout: String

    public init(command: String, termination: CommandTermination, tail: [String], stdout: String = "") {
        self.command = command
        self.termination = termination
        self.tail = tail
        self.stdout = stdout
    }

    /// True when the command exited with status 0.
    public var succeeded: Bool { termination == .exited(0) }

    /// Returns `self` when the command succeeded, else throws `CommandRunnerError.failed`.
    @discardableResult
    public func check() throws(CommandRunnerError) -> CommandResult {
        guard succeeded else { throw .failed(command: command, termination: termination, tail: tail) }
        return self
    }
}

/// Why running a command failed. Each case names the command and carries the tail of its
/// output, so the one-line description tells the user what failed and why.
public enum CommandRunnerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The command ran and exited non-zero or was killed by a signal it did not expect.
    case failed(command: String, termination: CommandTermination, tail: [String])
    /// The command ran longer than its timeout; its process group was killed.
    case timedOut(command: String, timeout: Duration, tail: [String])
    /// The calling task was cancelled; the command's process group was killed.
    case cancelled(command: String, tail: [String])
    /// The command could not be started at all.
    case launchFailed(command: String, reason: String)

    public var description: String {
        switch self {
        case .failed(let command, let termination, let tail):
            "command `\(command)` \(termination)\(Self.render(tail))"
        case .timedOut(let command, let timeout, let tail):
            "command `\(command)` did not finish within \(timeout) and was killed (its whole process group); raise the step's timeout if it needs longer\(Self.render(tail))"
        case .cancelled(let command, let tail):
            "command `\(command)` was cancelled and its process group killed\(Self.render(tail))"
        case .launchFailed(let command, let reason):
            "could not start command `\(command)`: \(reason)"
        }
    }

    /// The output tail the error carries (empty for `launchFailed`).
    public var tail: [String] {
        switch self {
        case .failed(_, _, let tail), .timedOut(_, _, let tail), .cancelled(_, let tail): tail
        case .launchFailed: []
        }
    }

    private static func render(_ tail: [String]) -> String {
        tail.isEmpty ? " (no output)" : "; last output:\n" + tail.map { "  | " + $0 }.joined(separator: "\n")
    }
}
