import Foundation
import Model
import Synchronization
import Testing

/// `SingleFlight`: one call in flight per key, its result shared as the policy says.
@Suite struct SingleFlightTests {
    /// A call that counts its runs and stays inside until `open()`.
    actor Gate {
        private(set) var runs = 0
        private var gate: CheckedContinuation<Void, Never>?
        private var holding = true
        func enter() async {
            runs += 1
            if holding { await withCheckedContinuation { gate = $0 } }
        }
        func open() {
            holding = false
            gate?.resume()
            gate = nil
        }
        var isHeld: Bool { gate != nil }
    }

    struct Refused: Error {}

    /// Waits (yielding, not sleeping) until `condition` holds.
    func until(_ condition: @Sendable () async -> Bool) async {
        for _ in 0..<100_000 where !(await condition()) { await Task.yield() }
        #expect(await condition())
    }

    /// Starts `count` callers behind a held leader and lets them queue up before it ends.
    func callersBehindALeader<V: Sendable>(
        _ flight: SingleFlight<String, V>, gate: Gate, count: Int, leader: @escaping @Sendable () async throws -> V,
        follower: @escaping @Sendable () async throws -> V
    ) async -> (Task<V, any Error>, [Task<V, any Error>]) {
        let first = Task {
            try await flight.run("k") {
                await gate.enter()
                return try await leader()
            }
        }
        await until { await gate.isHeld }
        let others = (0..<count).map { _ in Task { try await flight.run("k", follower) } }
        for _ in 0..<1000 { await Task.yield() }
        return (first, others)
    }

    @Test func readOnceMakesTheCallOnceForEveryCallerNowAndLater() async throws {
        let flight = SingleFlight<String, Int>(policy: .readOnce)
        let gate = Gate()
        let (first, others) = await callersBehindALeader(flight, gate: gate, count: 5, leader: { 1 }, follower: { 2 })
        await gate.open()
        #expect(try await first.value == 1)
        for other in others { #expect(try await other.value == 1) }
        #expect(try await flight.run("k") { 3 } == 1)
        #expect(try await flight.run("other") { 4 } == 4)
        #expect(await gate.runs == 1)
    }

    @Test func readOnceKeepsAFailureToo() async throws {
        let flight = SingleFlight<String, Int>(policy: .readOnce)
        await #expect(throws: Refused.self) { try await flight.run("k") { throw Refused() } }
        await #expect(throws: Refused.self) { try await flight.run("k") { 1 } }
    }

    @Test func whileRunningSharesTheResultAndTheFailureThenForgetsThem() async throws {
        let flight = SingleFlight<String, Int>(policy: .whileRunning)
        let gate = Gate()
        let (first, others) = await callersBehindALeader(
            flight, gate: gate, count: 3, leader: { throw Refused() },
            follower: { 2 })
        await gate.open()
        await #expect(throws: Refused.self) { try await first.value }
        for other in others { await #expect(throws: Refused.self) { try await other.value } }
        #expect(await gate.runs == 1)
        #expect(try await flight.run("k") { 5 } == 5)
    }

    @Test func valueWhileRunningLetsEachWaitingCallerMakeAFailedCallItself() async throws {
        let flight = SingleFlight<String, String>(policy: .valueWhileRunning)
        let gate = Gate()
        let (first, others) = await callersBehindALeader(
            flight, gate: gate, count: 2, leader: { throw Refused() },
            follower: { "own" })
        await gate.open()
        await #expect(throws: Refused.self) { try await first.value }
        for other in others { #expect(try await other.value == "own") }
    }

    @Test func aCancelledCallIsNeitherSharedNorKept() async throws {
        let flight = SingleFlight<String, Int>(policy: .readOnce)
        let gate = Gate()
        let (first, others) = await callersBehindALeader(
            flight, gate: gate, count: 2,
            leader: {
                try Task.checkCancellation()
                return 1
            }, follower: { 7 })
        first.cancel()
        await gate.open()
        await #expect(throws: CancellationError.self) { try await first.value }
        for other in others { #expect(try await other.value == 7) }
    }
}
