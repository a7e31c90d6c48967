import Foundation

/// Persists one `BuildJournal` per build and guards each with an exclusive lock.
///
/// Contract: `append` and `replace` are durable when they return (a crash afterwards
/// loses nothing) and atomic (a crash during them leaves the previous journal). Callers
/// take `lock(build:…)` before writing; the store does not check that they did.
public protocol JournalStore: Sendable {
    /// The build's journal, or an empty one if none was written yet.
    /// Throws `JournalError` for an unreadable file or an unknown format version.
    func load(build: String) async throws -> BuildJournal
    /// Appends `entry` to the build's journal and writes it durably.
    func append(_ entry: JournalEntry, build: String) async throws
    /// Replaces the build's journal with `journal`.
    func replace(_ journal: BuildJournal) async throws
    /// Takes the build's lock now, or throws `JournalError.locked` naming the holder.
    func tryLock(build: String, purpose: String) async throws -> any JournalLockHandle
    /// Takes the build's lock, waiting up to `timeout`, else throws `JournalError.locked`.
    func lock(build: String, purpose: String, timeout: Duration) async throws -> any JournalLockHandle
    /// Whether other builder VMs share these journals (remote state): a build whose lock this
    /// process holds may then take over disks another VM left attached (that VM's lease ended).
    var sharedAcrossVMs: Bool { get }
    /// Who holds the build's lock now, when another process does and the store can tell
    /// without taking it (remote state: the lease and the holder the journal names).
    func holder(build: String) async throws -> FileLockHolder?
}

extension JournalStore {
    public var sharedAcrossVMs: Bool { false }
    public func holder(build: String) async throws -> FileLockHolder? { nil }
}

/// A held journal lock. Released by `release()` or when the handle is deallocated.
public protocol JournalLockHandle: Sendable {
    /// Who holds it (this process).
    var holder: FileLockHolder { get }
    /// Releases the lock; idempotent.
    func release()
    /// Releases the lock and returns once the release is done (a remote lease is released
    /// by a call to Azure, which `release()` only starts).
    func releaseNow() async
}

extension JournalLockHandle {
    public func releaseNow() async { release() }
}

extension FileLock: JournalLockHandle {}

/// Why a journal operation failed; each case names the build and the file involved.
public enum JournalError: Error, Sendable, CustomStringConvertible {
    /// The build name cannot be used as a file name.
    case invalidBuildName(String)
    /// The journal exists but cannot be read or decoded.
    case unreadable(build: String, path: String, reason: String)
    /// The journal was written by a Kiln with a format version this one does not read.
    case unsupportedVersion(build: String, path: String, version: Int)
    /// Writing the journal failed; the previous content is intact.
    case writeFailed(build: String, path: String, reason: String)
    /// Another process holds the build's lock.
    case locked(build: String, path: String, holder: FileLockHolder?, waited: Duration?)
    /// The lock could not be taken for another reason.
    case lockFailed(build: String, path: String, reason: String)
    /// Another builder VM holds the build's lease (remote state).
    case leaseHeld(build: String, blob: String, holder: FileLockHolder?)
    /// This process held the build's lease and lost it (not renewed in time, broken, taken):
    /// it writes the build's journal no more.
    case leaseLost(build: String, blob: String, reason: String)
    /// The journal blob changed since this process read it (its ETag no longer matches): the
    /// write was refused, nothing was overwritten.
    case raced(build: String, blob: String)

    public var description: String {
        switch self {
        case .invalidBuildName(let name):
            "build name \"\(name)\" cannot name a journal file: use letters, digits, '.', '_' and '-' only"
        case .unreadable(let build, let path, let reason):
            "journal of build \(build) at \(path) cannot be read: \(reason); move it aside to start the build afresh (resources are still found by their tags)"
        case .unsupportedVersion(let build, let path, let version):
            "journal of build \(build) at \(path) has format version \(version), this kiln reads versions "
                + "\(BuildJournal.readableVersions.lowerBound) to \(BuildJournal.readableVersions.upperBound); "
                + "use the kiln that wrote it, or move the journal aside to start the build afresh "
                + "(resources are still found by their tags)"
        case .writeFailed(let build, let path, let reason):
            "journal of build \(build) at \(path) could not be written: \(reason)"
        case .locked(let build, let path, let holder, let waited):
            "build \(build) is being applied by another kiln: lock \(path) is held by "
                + (holder.map { "\($0)" } ?? "another process")
                + (waited.map { " (waited \($0))" } ?? "")
                + "; wait for it to finish, or stop that process (its lock is released when it exits)"
        case .lockFailed(let build, let path, let reason):
            "lock of build \(build) at \(path) could not be taken: \(reason)"
        case .leaseHeld(let build, let blob, let holder):
            "build \(build) is being applied elsewhere: the lease of \(blob) is held by "
                + (holder.map { "\($0)" } ?? "another kiln")
                + "; it is released when that kiln ends, and expires when that VM stops renewing it"
        case .leaseLost(let build, let blob, let reason):
            "lost the lease of build \(build) (\(blob)): \(reason); this kiln starts nothing more for the build "
                + "and never writes its journal again (another VM may take the build over)"
        case .raced(let build, let blob):
            "journal of build \(build) at \(blob) changed since this kiln read it (its ETag no longer matches); "
                + "the write was refused and nothing was overwritten: another kiln is writing it"
        }
    }
}

/// Checks that a build name is safe as a file name component.
func validateJournalBuildName(_ build: String) throws(JournalError) {
    let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
    guard !build.isEmpty, !build.hasPrefix("."), build.count <= 200, build.allSatisfy({ allowed.contains($0) }) else {
        throw .invalidBuildName(build)
    }
}
