import Synchronization

/// A clock for tests of waiting and retrying code: `sleep` returns at once and moves the
/// clock's time forward to the deadline, so a loop that polls for 10 minutes runs in
/// microseconds and ends at exactly the virtual time it would have reached.
///
/// Every sleep is recorded (`sleeps`) so a test can assert on the intervals chosen (e.g.
/// backoff), without timing anything. With several tasks sleeping at once the time is
/// the latest deadline any of them reached; use it for one waiter at a time.
/// Cancellation is checked on entry to `sleep` (throws `CancellationError`).
public final class VirtualClock: Clock, Sendable {
    /// A point in virtual time: the duration since the clock's start.
    public struct Instant: InstantProtocol, CustomStringConvertible {
        public var sinceStart: Duration

        public init(sinceStart: Duration) { self.sinceStart = sinceStart }
        public func advanced(by duration: Duration) -> Instant { Instant(sinceStart: sinceStart + duration) }
        public func duration(to other: Instant) -> Duration { other.sinceStart - sinceStart }
        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.sinceStart < rhs.sinceStart }
        public var description: String { "t+\(sinceStart)" }
    }

    private struct State {
        var now = Instant(sinceStart: .zero)
        var sleeps: [Duration] = []
    }

    private let state = Mutex(State())

    public init() {}

    public var now: Instant { state.withLock { $0.now } }
    public var minimumResolution: Duration { .nanoseconds(1) }
    /// The duration of every sleep so far, in order.
    public var sleeps: [Duration] { state.withLock { $0.sleeps } }
    /// Virtual time elapsed since the clock was made.
    public var elapsed: Duration { now.sinceStart }

    public func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        try Task.checkCancellation()
        state.withLock { state in
            state.sleeps.append(max(.zero, state.now.duration(to: deadline)))
            if state.now < deadline { state.now = deadline }
        }
        // Let other tasks run, as a real sleep would.
        await Task.yield()
    }

    /// Moves time forward without sleeping.
    public func advance(by duration: Duration) {
        state.withLock { $0.now = $0.now.advanced(by: duration) }
    }
}
