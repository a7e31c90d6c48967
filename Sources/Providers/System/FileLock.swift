import Foundation
import Model
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Who holds a `FileLock`: written into the lock file by the holder so that whoever is
/// refused can say which process to wait for.
public struct FileLockHolder: Codable, Sendable, Equatable, CustomStringConvertible {
    public var pid: Int32
    public var host: String
    public var startedAt: Date
    /// What the holder is doing, e.g. `kiln apply build web`.
    public var purpose: String
    /// The builder VM (its name) the holder runs on, when known (remote state).
    public var vm: String?

    public init(pid: Int32, host: String, startedAt: Date, purpose: String, vm: String? = nil) {
        self.pid = pid
        self.host = host
        self.startedAt = startedAt
        self.purpose = purpose
        self.vm = vm
    }

    /// The holder record for this process, now.
    public static func current(purpose: String, vm: String? = nil) -> FileLockHolder {
        FileLockHolder(pid: getpid(), host: HostIdentity.hostname(), startedAt: Date(), purpose: purpose, vm: vm)
    }

    public var description: String {
        (vm.map { "VM \($0), " } ?? "")
            + "pid \(pid) on host \(host) (\(purpose)) since \(startedAt.formatted(.iso8601))"
    }
}

/// Why a `FileLock` could not be taken.
public enum FileLockError: Error, Sendable, CustomStringConvertible {
    /// Another open of the lock file holds it; `holder` is what that holder wrote (nil if it
    /// has not written yet or wrote something unreadable).
    case held(path: String, holder: FileLockHolder?, waited: Duration?)
    /// The lock file could not be opened or locked.
    case io(path: String, operation: String, reason: String)

    public var description: String {
        switch self {
        case .held(let path, let holder, let waited):
            let who = holder.map { "held by \($0)" } ?? "held by another process (it has not recorded who it is)"
            let how = waited.map { " after waiting \($0)" } ?? ""
            return
                "lock \(path) is \(who)\(how); wait for that process to finish or stop it (the lock is released automatically when it exits)"
        case .io(let path, let operation, let reason):
            return "lock \(path): \(operation) failed: \(reason)"
        }
    }
}

/// An exclusive advisory lock (`flock`) on a file, whose holder writes its identity into
/// the file.
///
/// `flock` locks belong to an open file description: two opens in one process exclude
/// each other, and the kernel releases the lock when the holder exits, even by `kill -9`,
/// so a stale lock cannot outlive its process. The descriptor is close-on-exec so that
/// commands Kiln spawns never inherit (and prolong) the lock.
///
/// `@unchecked Sendable` is sound: the descriptor lives in a `Mutex`.
public final class FileLock: @unchecked Sendable {
    /// The lock file's path.
    public let path: String
    /// What this process wrote into the lock file.
    public let holder: FileLockHolder
    private let fd: Mutex<Int32>

    private init(path: String, fd: Int32, holder: FileLockHolder) {
        self.path = path
        self.fd = Mutex(fd)
        self.holder = holder
    }

    deinit {
        release()
    }

    /// Releases the lock (idempotent). The holder record is cleared first so that a later
    /// reader never mistakes this process for the holder.
    public func release() {
        fd.withLock { fd in
            guard fd >= 0 else { return }
            _ = ftruncate(fd, 0)
            close(fd)
            fd = -1
        }
    }

    /// Takes the lock now or throws `FileLockError.held` naming the holder. Creates the
    /// lock file (mode 0600) and its directory if needed.
    public static func tryAcquire(path: String, purpose: String) throws(FileLockError) -> FileLock {
        let fd = try openLockFile(path: path)
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK { throw .held(path: path, holder: readHolder(path: path), waited: nil) }
            throw .io(path: path, operation: "flock", reason: errnoText(code))
        }
        let holder = FileLockHolder.current(purpose: purpose)
        if let data = try? JSONEncoder.kilnLock.encode(holder) {
            _ = ftruncate(fd, 0)
            _ = data.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            _ = fsync(fd)
        }
        return FileLock(path: path, fd: fd, holder: holder)
    }

    /// Takes the lock, retrying every `pollInterval` until `timeout` has passed on `clock`;
    /// then throws `FileLockError.held` naming the holder. Throws `CancellationError` if the
    /// task is cancelled while waiting.
    public static func acquire(
        path: String, purpose: String, timeout: Duration,
        pollInterval: Duration = .milliseconds(100), clock: any Clock<Duration> = ContinuousClock()
    ) async throws -> FileLock {
        try await Waiting.for("the lock \(path) (to \(purpose))") { note in
            var waited = Duration.zero
            while true {
                let attempt = Result { () throws(FileLockError) -> FileLock in
                    try tryAcquire(path: path, purpose: purpose)
                }
                switch attempt {
                case .success(let lock):
                    return lock
                case .failure(let error):
                    guard case .held(let path, let holder, _) = error else { throw error }
                    note.seen("held by " + (holder.map(\.description) ?? "a process that left no details"))
                    if waited >= timeout { throw FileLockError.held(path: path, holder: holder, waited: waited) }
                }
                try await clock.sleep(for: pollInterval)
                waited += pollInterval
            }
        }
    }

    /// The holder recorded in the lock file at `path`, if any.
    public static func readHolder(path: String) -> FileLockHolder? {
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else { return nil }
        return try? JSONDecoder.kilnLock.decode(FileLockHolder.self, from: data)
    }

    private static func openLockFile(path: String) throws(FileLockError) -> Int32 {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw .io(path: path, operation: "create directory \(directory)", reason: "\(error)")
            }
        }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .io(path: path, operation: "open", reason: errnoText()) }
        return fd
    }
}

/// Host-wide lock around LUN choice and attach, so that two Kiln processes on one builder
/// VM never pick the same LUN. Default path `/run/kiln/lun.lock` (tmpfs: it vanishes on
/// reboot, as do the processes that could hold it).
public enum HostLUNLock {
    /// The default lock file.
    public static let defaultPath = HostPaths.standard.lunLock

    /// Takes the host-wide LUN lock, waiting up to `timeout`. See `FileLock.acquire`.
    public static func acquire(
        path: String = defaultPath, purpose: String, timeout: Duration,
        clock: any Clock<Duration> = ContinuousClock()
    ) async throws -> FileLock {
        try await FileLock.acquire(path: path, purpose: purpose, timeout: timeout, clock: clock)
    }
}

extension JSONEncoder {
    static var kilnLock: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}

extension JSONDecoder {
    static var kilnLock: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
