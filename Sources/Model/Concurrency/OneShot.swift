/// A value set once and awaited by any number of tasks; an awaiting task that is cancelled
/// stops waiting (with `CancellationError`) without the value.
public actor OneShot<Value: Sendable> {
    private var value: Value?
    private var waiters: [Int: CheckedContinuation<Value, any Error>] = [:]
    private var next = 0

    public init() {}

    /// Sets the value (the first call wins) and wakes every waiter.
    public func set(_ newValue: Value) {
        guard value == nil else { return }
        value = newValue
        for waiter in waiters.values { waiter.resume(returning: newValue) }
        waiters.removeAll()
    }

    /// The value, once set.
    public func wait() async throws -> Value {
        if let value { return value }
        let ticket = next
        next += 1
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                if let value {
                    continuation.resume(returning: value)
                } else if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                } else {
                    waiters[ticket] = continuation
                }
            }
        } onCancel: {
            Task { await self.cancel(ticket) }
        }
    }

    private func cancel(_ ticket: Int) {
        waiters.removeValue(forKey: ticket)?.resume(throwing: CancellationError())
    }
}
