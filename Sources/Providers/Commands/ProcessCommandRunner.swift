import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs commands as `/bin/sh -c <wrapped command>` with `posix_spawn`, each in a process
/// group of its own so that a timeout or a cancellation ends the command and everything it
/// started (SIGTERM to the group, then SIGKILL after the grace period).
///
/// Standard input is `/dev/null`. Standard output and error are read on a dedicated thread
/// (never on the cooperative pool, which the blocking `poll` would starve) and delivered
/// line by line. When the command exits but something it left in the background keeps the
/// pipes open, reading stops after `lingeringOutputLimit` so `run` does not wait for it.
public struct ProcessCommandRunner: CommandRunner {
    /// Applied to every command line before the shell sees it.
    public let wrapper: CommandWrapper
    /// The shell that runs the wrapped command line.
    public let shell: String
    /// The clock that measures `CommandSpec.timeout`.
    public let clock: any Clock<Duration>
    /// How long to keep reading output after the command itself has exited.
    public let lingeringOutputLimit: Duration

    public init(
        wrapper: CommandWrapper = .identity,
        shell: String = "/bin/sh",
        clock: any Clock<Duration> = ContinuousClock(),
        lingeringOutputLimit: Duration = .seconds(2)
    ) {
        self.wrapper = wrapper
        self.shell = shell
        self.clock = clock
        self.lingeringOutputLimit = lingeringOutputLimit
    }

    public func run(_ spec: CommandSpec, output: @escaping @Sendable (CommandOutputLine) -> Void) async throws
        -> CommandResult
    {
        let wrapped = wrapper(spec.command)
        // The shell changes directory before the wrapped command runs (glibc's
        // posix_spawn_file_actions_addchdir_np is not visible to Swift here).
        let script = spec.workingDirectory.map { "cd -- \(shellQuote($0)) || exit 126\n" + wrapped } ?? wrapped
        var environment = spec.inheritEnvironment ? ProcessInfo.processInfo.environment : [:]
        environment.merge(spec.environment) { _, new in new }

        if Task.isCancelled { throw CommandRunnerError.cancelled(command: spec.displayCommand, tail: []) }
        let process: SpawnedProcess
        do {
            process = try SpawnedProcess.launch(
                executable: shell, arguments: [shell, "-c", script], environment: environment, spec: spec,
                lingeringOutputLimit: lingeringOutputLimit, output: output)
        } catch let reason as SpawnFailure {
            throw CommandRunnerError.launchFailed(command: spec.displayCommand, reason: reason.message)
        }

        let timeoutTask: Task<Void, Never>? = spec.timeout.map { timeout in
            Task { [clock] in
                do {
                    try await clock.sleep(for: timeout)
                    process.requestKill(.timeout)
                } catch {
                    // Cancelled because the command finished first.
                }
            }
        }
        let completion = await withTaskCancellationHandler {
            await process.completion()
        } onCancel: {
            process.requestKill(.cancelled)
        }
        timeoutTask?.cancel()

        switch completion.killReason {
        case .timeout?:
            throw CommandRunnerError.timedOut(
                command: spec.displayCommand, timeout: spec.timeout ?? .zero, tail: completion.tail)
        case .cancelled?:
            throw CommandRunnerError.cancelled(command: spec.displayCommand, tail: completion.tail)
        case nil:
            return CommandResult(
                command: spec.displayCommand, termination: completion.termination, tail: completion.tail,
                stdout: completion.stdout)
        }
    }
}

struct SpawnFailure: Error {
    var message: String
}

/// One spawned command: its pid (also its process group id) and the state shared between
/// the reader thread and the async caller, kept in a `Mutex`.
final class SpawnedProcess: Sendable {
    enum KillReason: Sendable { case timeout, cancelled }

    struct Completion: Sendable {
        var termination: CommandTermination
        var tail: [String]
        var stdout: String
        var killReason: KillReason?
    }

    private struct State {
        var killReason: KillReason?
        var completion: Completion?
        var waiter: CheckedContinuation<Completion, Never>?
        /// The write end of the reader thread's wake-up pipe; closed (-1) once finished.
        var wakeFD: Int32
    }

    let pid: pid_t
    private let state: Mutex<State>

    private init(pid: pid_t, wakeFD: Int32) {
        self.pid = pid
        state = Mutex(State(wakeFD: wakeFD))
    }

    /// Asks for the process group to be ended; the reader thread, woken at once, sends the
    /// signals.
    func requestKill(_ reason: KillReason) {
        state.withLock { state in
            guard state.killReason == nil && state.completion == nil else { return }
            state.killReason = reason
            var byte: UInt8 = 1
            _ = write(state.wakeFD, &byte, 1)
        }
    }

    fileprivate var killReason: KillReason? { state.withLock { $0.killReason } }

    /// Waits until the command has exited and its output has been read.
    func completion() async -> Completion {
        await withCheckedContinuation { continuation in
            let ready: Completion? = state.withLock { state in
                if let completion = state.completion { return completion }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    fileprivate func finish(_ completion: Completion) {
        let (waiter, final): (CheckedContinuation<Completion, Never>?, Completion) = state.withLock { state in
            var completion = completion
            completion.killReason = state.killReason
            state.completion = completion
            close(state.wakeFD)
            state.wakeFD = -1
            defer { state.waiter = nil }
            return (state.waiter, completion)
        }
        waiter?.resume(returning: final)
    }

    static func launch(
        executable: String, arguments: [String], environment: [String: String],
        spec: CommandSpec, lingeringOutputLimit: Duration, output: @escaping @Sendable (CommandOutputLine) -> Void
    ) throws -> SpawnedProcess {
        // Pipes are created and marked close-on-exec under one lock with the spawn: a
        // command spawned concurrently must not inherit another command's pipe, or that
        // command's reader would see EOF only when the other command exits. (Glibc's
        // pipe2 is not visible to Swift here, so the flag cannot be set atomically.)
        return try spawnLock.withLock { _ throws -> SpawnedProcess in
            var outPipe: [Int32] = [-1, -1]
            var errPipe: [Int32] = [-1, -1]
            var wakePipe: [Int32] = [-1, -1]
            guard makeCloseOnExecPipe(&outPipe) else { throw SpawnFailure(message: "pipe: \(errnoText())") }
            guard makeCloseOnExecPipe(&errPipe) else {
                close(outPipe[0])
                close(outPipe[1])
                throw SpawnFailure(message: "pipe: \(errnoText())")
            }
            guard makeCloseOnExecPipe(&wakePipe) else {
                for fd in outPipe + errPipe { close(fd) }
                throw SpawnFailure(message: "pipe: \(errnoText())")
            }
            do {
                return try spawn(
                    executable: executable, arguments: arguments, environment: environment,
                    outPipe: outPipe, errPipe: errPipe, wakePipe: wakePipe,
                    spec: spec, lingeringOutputLimit: lingeringOutputLimit, output: output)
            } catch {
                for fd in wakePipe { close(fd) }
                throw error
            }
        }
    }

    private static func spawn(
        executable: String, arguments: [String], environment: [String: String], outPipe: [Int32], errPipe: [Int32],
        wakePipe: [Int32], spec: CommandSpec, lingeringOutputLimit: Duration,
        output: @escaping @Sendable (CommandOutputLine) -> Void
    ) throws -> SpawnedProcess {
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        posix_spawn_file_actions_addopen(&fileActions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&fileActions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&fileActions, errPipe[1], 2)
        if let closeFrom = spawnAddCloseFrom { _ = closeFrom(&fileActions, 3) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group (pgid = pid), so the whole tree can be signalled at once;
        // a clean signal mask and default dispositions, whatever Kiln's own are.
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        for signal in 1..<32 where signal != SIGKILL && signal != SIGSTOP {
            sigaddset(&defaultSignals, Int32(signal))
        }
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }

        var pid = pid_t()
        let rc = posix_spawn(&pid, executable, &fileActions, &attributes, argv, envp)
        close(outPipe[1])
        close(errPipe[1])
        guard rc == 0 else {
            close(outPipe[0])
            close(errPipe[0])
            throw SpawnFailure(message: "posix_spawn \(executable): \(String(cString: strerror(rc)))")
        }

        let process = SpawnedProcess(pid: pid, wakeFD: wakePipe[1])
        let reader = OutputPump(
            process: process, stdoutFD: outPipe[0], stderrFD: errPipe[0], wakeFD: wakePipe[0],
            tailLimit: max(0, spec.tailLines),
            captureStdout: spec.captureStdout, killGracePeriod: spec.killGracePeriod,
            lingeringOutputLimit: lingeringOutputLimit, output: output)
        let thread = Thread { reader.run() }
        thread.name = "kiln-command-\(pid)"
        thread.start()
        return process
    }
}

/// The reader thread's work: read both pipes, reap the child, send kill signals.
///
/// `@unchecked Sendable` is sound: it is created on the launching thread, handed to
/// exactly one reader thread and never touched again by anyone else.
private final class OutputPump: @unchecked Sendable {
    let process: SpawnedProcess
    var fds: [Int32]
    /// The read end of the wake-up pipe `requestKill` writes to.
    let wakeFD: Int32
    var partial: [[UInt8]] = [[], []]
    var tail: [String] = []
    let tailLimit: Int
    let captureStdout: Bool
    var stdout: [UInt8] = []
    let killGracePeriod: Duration
    let lingeringOutputLimit: Duration
    let output: @Sendable (CommandOutputLine) -> Void

    /// A line longer than this is delivered in pieces, so a binary blob cannot exhaust memory.
    static let maxLineBytes = 64 * 1024
    /// Captured standard output beyond this is dropped.
    static let maxCapturedBytes = 64 * 1024 * 1024

    init(
        process: SpawnedProcess, stdoutFD: Int32, stderrFD: Int32, wakeFD: Int32, tailLimit: Int, captureStdout: Bool,
        killGracePeriod: Duration, lingeringOutputLimit: Duration,
        output: @escaping @Sendable (CommandOutputLine) -> Void
    ) {
        self.process = process
        self.fds = [stdoutFD, stderrFD]
        self.wakeFD = wakeFD
        self.tailLimit = tailLimit
        self.captureStdout = captureStdout
        self.killGracePeriod = killGracePeriod
        self.lingeringOutputLimit = lingeringOutputLimit
        self.output = output
    }

    func run() {
        let clock = ContinuousClock()
        var termination: CommandTermination?
        var exitedAt: ContinuousClock.Instant?
        var termSentAt: ContinuousClock.Instant?
        var killSent = false
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)

        while true {
            let open = fds.indices.filter { fds[$0] >= 0 }
            if open.isEmpty && termination != nil { break }

            // Waits for output or a kill request; with both pipes closed, only for a kill
            // request, the timeout pacing the checks for the command's exit below.
            var pollFDs = open.map { pollfd(fd: fds[$0], events: Int16(POLLIN), revents: 0) }
            pollFDs.append(pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0))
            let ready = poll(&pollFDs, nfds_t(pollFDs.count), open.isEmpty ? 20 : 50)
            if ready > 0 {
                for (slot, index) in open.enumerated() where pollFDs[slot].revents != 0 {
                    let count = buffer.withUnsafeMutableBytes { read(fds[index], $0.baseAddress, $0.count) }
                    if count > 0 {
                        consume(buffer[0..<count], stream: index)
                    } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                        closeStream(index)
                    }
                }
                if pollFDs[open.count].revents != 0 {
                    _ = buffer.withUnsafeMutableBytes { read(wakeFD, $0.baseAddress, $0.count) }
                }
            }

            if termination == nil {
                var status: Int32 = 0
                let reaped = waitpid(process.pid, &status, WNOHANG)
                if reaped == process.pid {
                    termination = Self.decode(status)
                    exitedAt = clock.now
                } else if reaped < 0 && errno != EINTR {
                    termination = .exited(-1)
                    exitedAt = clock.now
                }
            }

            if process.killReason != nil {
                // The group id stays reserved while any member lives, so signalling it
                // after the leader was reaped still reaches only the command's processes.
                if termSentAt == nil {
                    kill(-process.pid, SIGTERM)
                    termSentAt = clock.now
                } else if !killSent, let sent = termSentAt, clock.now - sent >= killGracePeriod {
                    kill(-process.pid, SIGKILL)
                    killSent = true
                }
            }

            if let exitedAt, clock.now - exitedAt >= lingeringOutputLimit {
                // Something the command left behind still holds the pipes. When we are
                // killing, give SIGKILL its chance first.
                if process.killReason == nil || killSent
                    || termSentAt.map({ clock.now - $0 >= killGracePeriod }) == true
                {
                    if process.killReason != nil && !killSent { kill(-process.pid, SIGKILL) }
                    break
                }
            }
        }
        for index in fds.indices where fds[index] >= 0 { closeStream(index) }

        process.finish(
            SpawnedProcess.Completion(
                termination: termination ?? .exited(-1), tail: tail,
                stdout: String(decoding: stdout, as: UTF8.self), killReason: nil))
        // After `finish` closed the write end, so that no kill request writes into a pipe
        // without a reader.
        close(wakeFD)
    }

    private func consume(_ bytes: ArraySlice<UInt8>, stream: Int) {
        if stream == 0 && captureStdout && stdout.count < Self.maxCapturedBytes {
            stdout.append(contentsOf: bytes.prefix(Self.maxCapturedBytes - stdout.count))
        }
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                emit(stream: stream)
            } else {
                partial[stream].append(byte)
                if partial[stream].count >= Self.maxLineBytes { emit(stream: stream) }
            }
        }
    }

    private func emit(stream: Int) {
        let text = String(decoding: partial[stream], as: UTF8.self)
        partial[stream].removeAll(keepingCapacity: true)
        if tailLimit > 0 {
            tail.append(text)
            if tail.count > tailLimit { tail.removeFirst(tail.count - tailLimit) }
        }
        output(CommandOutputLine(stream == 0 ? .stdout : .stderr, text))
    }

    private func closeStream(_ index: Int) {
        close(fds[index])
        fds[index] = -1
        if !partial[index].isEmpty { emit(stream: index) }
    }

    private static func decode(_ status: Int32) -> CommandTermination {
        let signal = status & 0x7f
        if signal == 0 { return .exited((status >> 8) & 0xff) }
        return .signaled(signal)
    }
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), looked up at run
/// time because Swift's Glibc module does not declare it. With it the child closes every
/// descriptor from 3 up, so a command never inherits one Kiln (or a test runner hosting
/// Kiln) opened without close-on-exec — such a descriptor on a file inside a mount keeps the
/// mount busy. Without it (older glibc) children inherit only what lacks close-on-exec.
nonisolated(unsafe) private let spawnAddCloseFrom:
    (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(
            symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

/// Serialises pipe creation with spawning; see `SpawnedProcess.launch`.
private let spawnLock = Mutex(())

private func makeCloseOnExecPipe(_ fds: inout [Int32]) -> Bool {
    guard pipe(&fds) == 0 else { return false }
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    return true
}

func errnoText(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}
