/// A `CommandRunner` that runs nothing: it records each command (after the wrapper) and
/// answers from rules, for unit tests of code that builds command lines.
///
/// Rules are tried in the order added; the first whose `matching` text occurs in the
/// wrapped command line answers. Unmatched commands succeed with no output.
public actor InMemoryCommandRunner: CommandRunner {
    /// A scripted answer.
    public enum Response: Sendable {
        /// Exit with `status`, printing `output` lines (to stdout, then `stderr` lines).
        case exit(Int32, stdout: [String] = [], stderr: [String] = [])
        /// Killed by `signal`.
        case signal(Int32)
        /// Behave as if the timeout elapsed (needs `spec.timeout`).
        case timeout
        /// Fail to start.
        case launchFailure(String)
    }

    public let wrapper: CommandWrapper
    /// Every command line run, after the wrapper, in order.
    public private(set) var commands: [String] = []
    /// Every spec run, in order.
    public private(set) var specs: [CommandSpec] = []
    private var rules: [(matching: String, response: Response)] = []

    public init(wrapper: CommandWrapper = .identity) {
        self.wrapper = wrapper
    }

    /// Answers commands containing `text` with `response`.
    public func on(_ text: String, respond response: Response) {
        rules.append((text, response))
    }

    public func run(_ spec: CommandSpec, output: @escaping @Sendable (CommandOutputLine) -> Void) async throws
        -> CommandResult
    {
        let wrapped = wrapper(spec.command)
        commands.append(wrapped)
        specs.append(spec)
        let response = rules.first { wrapped.contains($0.matching) }?.response ?? .exit(0)
        switch response {
        case .exit(let status, let stdout, let stderr):
            let lines = stdout.map { CommandOutputLine(.stdout, $0) } + stderr.map { CommandOutputLine(.stderr, $0) }
            lines.forEach(output)
            return CommandResult(
                command: spec.displayCommand, termination: .exited(status),
                tail: Array(lines.map(\.text).suffix(spec.tailLines)),
                stdout: spec.captureStdout ? stdout.map { $0 + "\n" }.joined() : "")
        case .signal(let signal):
            return CommandResult(command: spec.displayCommand, termination: .signaled(signal), tail: [])
        case .timeout:
            throw CommandRunnerError.timedOut(command: spec.displayCommand, timeout: spec.timeout ?? .zero, tail: [])
        case .launchFailure(let reason):
            throw CommandRunnerError.launchFailed(command: spec.displayCommand, reason: reason)
        }
    }
}
