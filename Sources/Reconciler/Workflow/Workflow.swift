import Foundation
import Model
import Planner
import Providers

/// Where a workflow observes the world and acts on it: a `KilnSession` for the commands, an
/// in-memory world in tests.
public protocol WorkflowWorld: Sendable {
    /// The builds' journals.
    var journals: any JournalStore { get }
    /// Observes the world (read-only) and plans the manifest against it.
    func plan(_ manifest: Manifest) async throws -> KilnSession.Snapshot
    /// The executors of the actions of `snapshot`'s plans (apply's, a cleanup's, destroy's).
    func executor(for snapshot: KilnSession.Snapshot, manifestDirectory: URL) -> any ActionExecutor
}

/// How a workflow reaches its world: the locks it takes before anything else, and the world
/// it opens once it holds them (for `--emulator`, the embedded emulator starts only then).
public protocol WorkflowSite: Sendable {
    /// The store whose journal locks the workflow takes before it opens the world; nil when
    /// the locks live in the world itself (remote state: leases in Azure Blob Storage, reached
    /// through the world's connection), and are taken right after it opens.
    var lockStore: (any JournalStore)? { get }
    /// Where the host-wide locks of the builds' mount paths live (`MountPathLock`).
    var mountLockDirectory: String { get }
    /// Opens the world, runs `body` in it, and closes it however `body` ends.
    func withWorld<T: Sendable>(_ body: (any WorkflowWorld) async throws -> T) async throws -> T
}

/// What a workflow asks of the person running it: to read the plan, to approve it, and to
/// take note of a warning. The commands show and ask on the terminal (or take
/// `--auto-approve`); tests answer directly.
public protocol WorkflowPrompt: Sendable {
    /// Shows the plan about to be carried out, before `approve` is asked.
    func show(_ plan: String)
    /// Whether to go on with the plan just shown; on false, the prompt has said why.
    func approve(_ question: String) async -> Bool
    /// A warning that does not stop the workflow.
    func warn(_ message: String)
}

extension WorkflowSite {
    /// Takes every build's journal lock and mount-path lock (`ApplyRun.lock`), opens the
    /// world, runs `body`, and releases the locks however it ends. `purpose` names the
    /// command in the holder's details.
    func withLockedWorld<T: Sendable>(
        _ manifest: Manifest, purpose: String,
        _ body: (any WorkflowWorld) async throws -> T
    ) async throws -> T {
        let mountLocks = mountLockDirectory
        guard let lockStore else {
            return try await withWorld { world in
                let locks = try await ApplyRun.lock(
                    manifest, journals: world.journals, purpose: purpose, mountLocks: mountLocks)
                return try await releasing(locks) { try await body(world) }
            }
        }
        let locks = try await ApplyRun.lock(manifest, journals: lockStore, purpose: purpose, mountLocks: mountLocks)
        return try await releasing(locks) { try await withWorld(body) }
    }
}

/// Runs `body`, then releases `locks` (waiting for remote releases) however it ends.
func releasing<T>(_ locks: [any JournalLockHandle], _ body: () async throws -> T) async throws -> T {
    do {
        let result = try await body()
        for lock in locks { await lock.releaseNow() }
        return result
    } catch {
        for lock in locks { await lock.releaseNow() }
        throw error
    }
}

/// Runs `body` with SIGINT and SIGTERM driving `interrupts` when `handlesSignals`, and the
/// signals' previous dispositions back afterwards. Installed once per command, around all
/// of it (a second installation in one process does not receive signals on Linux).
func withSignals<T>(
    driving interrupts: InterruptController, if handlesSignals: Bool,
    _ body: () async throws -> T
) async rethrows -> T {
    guard handlesSignals else { return try await body() }
    let signals = SignalHandling.install(controller: interrupts)
    defer { signals.cancel() }
    return try await body()
}

/// Runs `body` (observing the world and planning, or waiting for approval: before anything
/// changes) so that an interrupt ends it: it then throws `WorkflowInterrupted` naming
/// `phase`, so the command says what was interrupted instead of dying silently. `body`
/// must end when cancelled.
func interruptible<T: Sendable>(
    _ phase: String, interrupts: InterruptController, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    // Interrupted already: do not start.
    guard interrupts.level == .none else { throw WorkflowInterrupted(phase: phase) }
    return try await interrupts.unlessInterrupted(throwing: { WorkflowInterrupted(phase: phase) }, body)
}

/// An interrupt (Ctrl-C, SIGTERM) arrived before anything was changed.
public struct WorkflowInterrupted: Error, Sendable, CustomStringConvertible {
    /// What was running, e.g. "observing Azure and this VM and planning".
    public var phase: String
    public var description: String {
        "interrupted while \(phase); nothing was changed (no Azure call that changes anything was made, the journal is as it was)"
    }
}

extension Manifest {
    /// The directory that relative paths of the manifest (copied files, scripts) start from.
    var fileDirectory: URL { URL(fileURLWithPath: file).deletingLastPathComponent() }
}

extension KilnSession: WorkflowWorld {
    public var journals: any JournalStore { local.journal }

    public func executor(for snapshot: Snapshot, manifestDirectory: URL) -> any ActionExecutor {
        Executors(executorEnvironment(snapshot), manifestDirectory: manifestDirectory)
    }
}
