/// One call in flight per key for many callers: the first caller for a key runs the call
/// (in its own task, so cancelling it cancels the work), and callers that come while it
/// runs wait for its result instead of making the same call again. What happens to the
/// result afterwards, and to a failure, is the `Policy`.
///
/// A call that ends because its caller was cancelled (`CancellationError`) is never handed
/// to the waiting callers, nor kept: each of them makes the call itself. Waiting is not
/// cancellable; it lasts as long as the call.
public actor SingleFlight<Key: Hashable & Sendable, Value: Sendable> {
    /// What the callers of one key share.
    public struct Policy: Sendable, Hashable {
        /// The result (value or failure) is kept for every later caller: the call is made once.
        public var keepsResult: Bool
        /// A failure goes to the callers that waited; otherwise each of them makes the call
        /// itself, so that each reports its own failure.
        public var sharesFailure: Bool

        public init(keepsResult: Bool, sharesFailure: Bool) {
            self.keepsResult = keepsResult
            self.sharesFailure = sharesFailure
        }

        /// Read once: every caller, now or later, gets the first call's result.
        public static var readOnce: Policy { Policy(keepsResult: true, sharesFailure: true) }
        /// Callers at the same time share the result; a later caller calls again.
        public static var whileRunning: Policy { Policy(keepsResult: false, sharesFailure: true) }
        /// Callers at the same time share a value; a failure is each caller's own to make,
        /// and a later caller calls again.
        public static var valueWhileRunning: Policy { Policy(keepsResult: false, sharesFailure: false) }
    }

    /// A caller waiting for the call under way: resumed with its result to share, or nil
    /// when it must make the call itself.
    private typealias Waiter = CheckedContinuation<Result<Value, any Error>?, Never>

    private enum Slot {
        case running(waiters: [Waiter])
        case finished(Result<Value, any Error>)
    }

    private enum Turn {
        case lead
        case share(Result<Value, any Error>)
        case callItself
    }

    public let policy: Policy
    private var slots: [Key: Slot] = [:]

    public init(policy: Policy) {
        self.policy = policy
    }

    /// The result of `call` for `key`: from this caller's call, from the call under way, or
    /// (`keepsResult`) from the call that was made. Throws what the call threw.
    public nonisolated func run(_ key: Key, _ call: @Sendable () async throws -> Value) async throws -> Value {
        switch await take(key) {
        case .share(let result):
            return try result.get()
        case .callItself:
            return try await call()
        case .lead:
            let result: Result<Value, any Error>
            do {
                result = .success(try await call())
            } catch {
                result = .failure(error)
            }
            await finish(key, result)
            return try result.get()
        }
    }

    private func take(_ key: Key) async -> Turn {
        switch slots[key] {
        case .finished(let result):
            return .share(result)
        case .running:
            let shared = await withCheckedContinuation { (continuation: Waiter) in
                guard case .running(var waiters) = slots[key] else { return continuation.resume(returning: nil) }
                waiters.append(continuation)
                slots[key] = .running(waiters: waiters)
            }
            return shared.map(Turn.share) ?? .callItself
        case nil:
            slots[key] = .running(waiters: [])
            return .lead
        }
    }

    private func finish(_ key: Key, _ result: Result<Value, any Error>) {
        guard case .running(let waiters) = slots.removeValue(forKey: key) else { return }
        var shared: Result<Value, any Error>? = result
        if case .failure(let error) = result, error is CancellationError || !policy.sharesFailure {
            shared = nil
        }
        if policy.keepsResult, let shared { slots[key] = .finished(shared) }
        for waiter in waiters { waiter.resume(returning: shared) }
    }
}
