import Testing

@testable import Model

@Suite struct OneShotTests {
    @Test func everyWaiterGetsTheFirstValueSet() async throws {
        let shot = OneShot<Int>()
        async let a = shot.wait()
        async let b = shot.wait()
        await shot.set(1)
        await shot.set(2)
        #expect(try await a == 1)
        #expect(try await b == 1)
        #expect(try await shot.wait() == 1)
    }

    @Test func aCancelledWaiterStopsWaitingWithoutTheValue() async throws {
        let shot = OneShot<Int>()
        let waiter = Task { try await shot.wait() }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        await shot.set(3)
        #expect(try await shot.wait() == 3)
    }
}
