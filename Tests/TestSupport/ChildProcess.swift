import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A program a test started, awaited without holding a thread of Swift's cooperative pool:
/// a dedicated thread waits for the exit and resumes the awaiting tasks.
///
/// It runs in a session of its own (session id = its pid), so everything it starts stays
/// findable after it dies, orphans included (Kiln runs each step in a process group of its
/// own, but in Kiln's session): `killSession()` stops exactly those processes and no other
/// process on the machine. Standard input is `/dev/null`; the child inherits no other
/// descriptor of the test process.
public final class ChildProcess: Sendable {
    /// Where the child's standard output or error goes.
    public enum Output: Sendable {
        /// Appended to the file.
        case file(URL)
        /// A pipe, read by `ChildProcess.run` (or discarded).
        case pipe
    }

    public let pid: pid_t
    private let state = Mutex(State())
    private let pipes: [Int32]

    private struct State {
        /// The status as a shell reports it (128 + signal when killed), once exited.
        var status: Int32?
        var signaled = false
        var waiters: [CheckedContinuation<Int32, Never>] = []
    }

    private init(pid: pid_t, pipes: [Int32]) {
        self.pid = pid
        self.pipes = pipes
    }

    /// Starts `executable` with `arguments` (not including argv[0]) in `directory`, with
    /// `environment` (default: the test process's).
    public static func spawn(
        _ executable: URL, _ arguments: [String], in directory: URL? = nil,
        environment: [String: String]? = nil, output: Output = .pipe,
        error: Output = .pipe
    ) throws -> ChildProcess {
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        posix_spawn_file_actions_addopen(&fileActions, 0, "/dev/null", O_RDONLY, 0)
        var parentEnds: [Int32] = []
        var childEnds: [Int32] = []
        defer { for fd in childEnds { close(fd) } }
        for (target, destination) in [(Int32(1), output), (Int32(2), error)] {
            switch destination {
            case .file(let url):
                posix_spawn_file_actions_addopen(&fileActions, target, url.path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            case .pipe:
                var fds: [Int32] = [-1, -1]
                guard SpawnSymbols.pipe2(&fds, O_CLOEXEC) == 0 else {
                    for fd in parentEnds { close(fd) }
                    throw FixtureError("pipe2: errno \(errno)")
                }
                parentEnds.append(fds[0])
                childEnds.append(fds[1])
                posix_spawn_file_actions_adddup2(&fileActions, fds[1], target)
            }
        }
        if let directory { _ = SpawnSymbols.addChdir(&fileActions, directory.path) }
        _ = SpawnSymbols.addCloseFrom(&fileActions, 3)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // POSIX_SPAWN_SETSID (glibc; not imported into Swift): a session of its own. A clean
        // signal mask and default dispositions, whatever the test runner's are.
        let setsid: Int32 = 0x80
        posix_spawnattr_setflags(&attributes, Int16(setsid | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        for signal in 1..<32 where signal != SIGKILL && signal != SIGSTOP { sigaddset(&defaultSignals, Int32(signal)) }
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)

        let argv = ([executable.path] + arguments).map { strdup($0) } + [nil]
        let envp = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid = pid_t()
        let rc = posix_spawn(&pid, executable.path, &fileActions, &attributes, argv, envp)
        guard rc == 0 else {
            for fd in parentEnds { close(fd) }
            throw FixtureError("posix_spawn \(executable.path): \(String(cString: strerror(rc)))")
        }
        let child = ChildProcess(pid: pid, pipes: parentEnds)
        let waiter = Thread { child.waitForExit() }
        waiter.name = "test-child-\(pid)"
        waiter.start()
        return child
    }

    /// On the waiter thread: waits for the exit without reaping (so the pid cannot be reused
    /// while `signal` may still use it), marks the exit, then reaps.
    private func waitForExit() {
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR {}
        var status: Int32 = 0
        let waiters: [CheckedContinuation<Int32, Never>] = state.withLock { state in
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            let signal = status & 0x7f
            let code = signal == 0 ? (status >> 8) & 0xff : 128 + signal
            state.status = code
            state.signaled = signal != 0
            defer { state.waiters = [] }
            return state.waiters
        }
        let code = state.withLock { $0.status ?? -1 }
        for waiter in waiters { waiter.resume(returning: code) }
    }

    public var isRunning: Bool { state.withLock { $0.status == nil } }

    /// Whether it ended by a signal (false while it runs).
    public var wasSignaled: Bool { state.withLock { $0.signaled } }

    /// The exit status as a shell reports it: the exit code, or 128 + signal when killed.
    @discardableResult
    public func exit() async -> Int32 {
        await withCheckedContinuation { continuation in
            let status: Int32? = state.withLock { state in
                if let status = state.status { return status }
                state.waiters.append(continuation)
                return nil
            }
            if let status { continuation.resume(returning: status) }
        }
    }

    /// The exit status, or nil when it is still running after `timeout`.
    public func exit(within timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        return state.withLock { $0.status }
    }

    /// Sends `signal` to the process itself, while it runs.
    public func signal(_ signal: Int32) {
        state.withLock { state in if state.status == nil { _ = kill(pid, signal) } }
    }

    /// The live processes of its session: it and everything it started (zombies excluded).
    public var sessionMembers: [pid_t] { ProcessTable.members(ofSession: pid) }

    /// SIGKILLs every process of its session (it and everything it started, orphans
    /// included; nothing else) until none is left, and waits for its own exit.
    /// Returns the processes still there after `timeout` (empty when all went).
    @discardableResult
    public func killSession(timeout: Duration = .seconds(30)) async -> [pid_t] {
        let deadline = ContinuousClock.now + timeout
        var left = sessionMembers
        while !left.isEmpty && ContinuousClock.now < deadline {
            for member in left where member != pid { kill(member, SIGKILL) }
            signal(SIGKILL)
            try? await Task.sleep(for: .milliseconds(20))
            left = sessionMembers
        }
        _ = await exit(within: .seconds(5))
        return left
    }

    /// Reads its piped outputs to their end: both streams close when the child and whatever
    /// it started are gone. Once it has exited, reading stops after `lingering`, so a
    /// background process left holding the pipes does not hold the caller.
    public func readPipes(lingering: Duration = .seconds(5)) async -> [Data] {
        let fds = pipes
        guard !fds.isEmpty else { return [] }
        return await withCheckedContinuation { continuation in
            let reader = Thread { [self] in
                continuation.resume(returning: Self.drain(fds, lingering: lingering) { !self.isRunning })
            }
            reader.name = "test-child-output-\(pid)"
            reader.start()
        }
    }

    private static func drain(_ fds: [Int32], lingering: Duration, exited: () -> Bool) -> [Data] {
        var data = [Data](repeating: Data(), count: fds.count)
        var open = Array(fds.indices)
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var exitedAt: ContinuousClock.Instant?
        while !open.isEmpty {
            var pollFDs = open.map { pollfd(fd: fds[$0], events: Int16(POLLIN), revents: 0) }
            if poll(&pollFDs, nfds_t(pollFDs.count), 50) > 0 {
                for (slot, index) in open.enumerated().reversed() where pollFDs[slot].revents != 0 {
                    let count = buffer.withUnsafeMutableBytes { read(fds[index], $0.baseAddress, $0.count) }
                    if count > 0 {
                        data[index].append(contentsOf: buffer[0..<count])
                    } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                        open.remove(at: slot)
                    }
                }
            }
            if exitedAt == nil && exited() { exitedAt = .now }
            if let exitedAt, ContinuousClock.now - exitedAt >= lingering { break }
        }
        for fd in fds { close(fd) }
        return data
    }

    /// Runs `executable` to its end, capturing both streams.
    public static func run(
        _ executable: URL, _ arguments: [String], in directory: URL? = nil,
        environment: [String: String]? = nil
    ) async throws -> ProcessResult {
        let child = try spawn(executable, arguments, in: directory, environment: environment)
        let output = await child.readPipes()
        let status = await child.exit()
        return ProcessResult(
            status: status, stdout: String(decoding: output[0], as: UTF8.self),
            stderr: String(decoding: output[1], as: UTF8.self))
    }
}

/// The process table, read from /proc.
public enum ProcessTable {
    /// The pids of the live (not zombie) processes whose session id is `session`.
    public static func members(ofSession session: pid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> pid_t? in
            guard let pid = pid_t(entry), let stat = read("/proc/\(entry)/stat"),
                let commEnd = stat.lastIndex(of: ")")
            else { return nil }
            // After "pid (comm)": state, ppid, pgrp, session, …
            let fields = stat[stat.index(after: commEnd)...].split(separator: " ")
            guard fields.count > 3, fields[0] != "Z", pid_t(fields[3]) == session else { return nil }
            return pid
        }
    }

    /// A small /proc file read with one `read` (Foundation stops /proc reads early).
    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : nil
    }
}

/// glibc functions Swift's Glibc module does not declare, looked up at run time.
private enum SpawnSymbols {
    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    typealias AddChdir =
        @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>)
        -> Int32
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    static func symbol<T>(_ name: String, as type: T.Type) -> T {
        guard let symbol = dlsym(nil, name) else { fatalError("glibc has no \(name) (2.34 or later is needed)") }
        return unsafeBitCast(symbol, to: type)
    }

    static func pipe2(_ fds: inout [Int32], _ flags: Int32) -> Int32 {
        symbol("pipe2", as: Pipe2.self)(&fds, flags)
    }

    static func addChdir(_ actions: inout posix_spawn_file_actions_t, _ path: String) -> Int32 {
        symbol("posix_spawn_file_actions_addchdir_np", as: AddChdir.self)(&actions, path)
    }

    static func addCloseFrom(_ actions: inout posix_spawn_file_actions_t, _ from: Int32) -> Int32 {
        symbol("posix_spawn_file_actions_addclosefrom_np", as: AddCloseFrom.self)(&actions, from)
    }
}
