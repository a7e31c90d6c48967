import Testing

@testable import Providers

/// The pauses between the attempts of a VM update refused for a concurrent update, on
/// virtual time: 2 s doubling to 15 s, while the operation's timeout allows the next one.
@Suite struct ConcurrentUpdatePausesTests {
    @Test func pausesDoubleUpToFifteenSecondsWithinTheTimeout() async throws {
        let clock = VirtualClock()
        var pauses = ConcurrentUpdatePauses(timeout: .seconds(60), clock: clock)
        while pauses.mayRetry { try await pauses.pause() }
        #expect(clock.sleeps == [.seconds(2), .seconds(4), .seconds(8), .seconds(15), .seconds(15), .seconds(15)])
        #expect(clock.elapsed == .seconds(59))
    }

    @Test func noPauseFitsATimeoutShorterThanTheFirst() {
        #expect(!ConcurrentUpdatePauses(timeout: .seconds(2), clock: VirtualClock()).mayRetry)
    }
}
