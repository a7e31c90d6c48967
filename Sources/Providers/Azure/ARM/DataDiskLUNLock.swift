import Foundation

/// Serialises "choose a LUN and attach" on one builder VM, so two Kiln processes (or two
/// builds in one process) never pick the same LUN. The real implementation is a host-wide
/// file lock (written with the journal store); `InProcessLUNLock` serves tests and
/// single-process use.
///
/// Contract: runs `body` while holding the lock and releases it when `body` returns or
/// throws; throws what `body` throws, or `CancellationError` while waiting.
public protocol DataDiskLUNLock: Sendable {
    func withLUNLock<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T
}

/// A `DataDiskLUNLock` that only excludes tasks of this process, first come first served.
public actor InProcessLUNLock: DataDiskLUNLock {
    private var held = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public init() {}

    public func withLUNLock<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        if held {
            await withCheckedContinuation { waiters.append($0) }
        } else {
            held = true
        }
        // Hand the lock straight to the next waiter, so `held` stays true between owners.
        defer {
            if waiters.isEmpty { held = false } else { waiters.removeFirst().resume() }
        }
        return try await body()
    }
}
