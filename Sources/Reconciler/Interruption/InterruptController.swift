import Synchronization

/// The user's wish to stop a run, in two levels, as Terraform treats Ctrl-C: the first
/// `interrupt()` asks for a graceful stop (no new action starts; running ones finish or
/// stop at a safe point), the second for an immediate one (everything is cancelled).
///
/// Thread-safe; `SignalHandling` calls `interrupt()` from a signal source, tests call it
/// directly. Levels only rise.
public final class InterruptController: Sendable {
    /// How far the stop has gone.
    public enum Level: Int, Sendable, Comparable {
        case none = 0
        /// Stop starting actions; let running ones finish or stop at a safe point.
        case graceful
        /// Cancel everything now.
        case immediate

        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
    }

    private struct State {
        var level = Level.none
        var nextToken: UInt64 = 0
        var handlers: [UInt64: @Sendable (Level) -> Void] = [:]
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        /// Waiters cancelled before they registered: they must not register.
        var cancelledWaiters: Set<UInt64> = []
    }

    private let state = Mutex(State())

    public init() {}

    /// The current level.
    public var level: Level { state.withLock { $0.level } }

    /// Raises the level by one (none → graceful → immediate) and tells the observers.
    /// Returns the new level.
    @discardableResult
    public func interrupt() -> Level {
        escalate(to: nil)
    }

    /// Goes straight to `.immediate` (e.g. the task running `apply` was cancelled).
    @discardableResult
    public func cancelImmediately() -> Level {
        escalate(to: .immediate)
    }

    private func escalate(to target: Level?) -> Level {
        let (level, handlers, waiters) = state.withLock {
            s -> (Level, [@Sendable (Level) -> Void], [CheckedContinuation<Void, Never>]) in
            let next = target ?? Level(rawValue: min(s.level.rawValue + 1, Level.immediate.rawValue))!
            guard next > s.level else { return (s.level, [], []) }
            s.level = next
            let waiters = Array(s.waiters.values)
            s.waiters = [:]
            return (next, Array(s.handlers.values), waiters)
        }
        // Outside the lock: handlers may call back into the controller.
        for waiter in waiters { waiter.resume() }
        for handler in handlers { handler(level) }
        return level
    }

    /// Calls `handler` with each new level from now on; returns a token for
    /// `removeHandler`.
    func addHandler(_ handler: @escaping @Sendable (Level) -> Void) -> UInt64 {
        state.withLock { s in
            s.nextToken += 1
            s.handlers[s.nextToken] = handler
            return s.nextToken
        }
    }

    func removeHandler(_ token: UInt64) {
        _ = state.withLock { $0.handlers.removeValue(forKey: token) }
    }

    /// Runs `body` until it ends, or until the run is interrupted: then `body` is cancelled
    /// and `interrupted()` is thrown (`CancellationError` when the calling task was cancelled
    /// instead). The one way a wait gives way to Ctrl-C: an Azure operation (`ActionInterrupted`),
    /// a poll's pause, planning and the approval prompt (`WorkflowInterrupted`).
    public func unlessInterrupted<T: Sendable>(
        throwing interrupted: @escaping @Sendable () -> any Error,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await body() }
            group.addTask {
                await self.waitUntilInterrupted()
                try Task.checkCancellation()
                throw interrupted()
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw CancellationError() }
            return first
        }
    }

    /// Returns once the run is interrupted (at any level), or when the calling task is
    /// cancelled.
    public func waitUntilInterrupted() async {
        let token = state.withLock { s in
            s.nextToken += 1
            return s.nextToken
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.level != .none || s.cancelledWaiters.remove(token) != nil { return true }
                    s.waiters[token] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
                if let waiter = s.waiters.removeValue(forKey: token) { return waiter }
                if s.level == .none { s.cancelledWaiters.insert(token) }
                return nil
            }
            waiter?.resume()
        }
    }
}
