import Foundation
import Testing

@testable import Reconciler

/// `OncePerApply`: callers that ask together share one run of the work; a failed run lets
/// each waiting caller try for itself; a finished run is not remembered.
@Suite struct OncePerApplyTests {
    actor Counter {
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

    func waitUntil(_ condition: @Sendable () async -> Bool) async throws {
        for _ in 0..<500 where !(await condition()) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(await condition())
    }

    @Test func callersThatAskTogetherShareOneRun() async throws {
        let once = OncePerApply()
        let counter = Counter()
        let first = Task {
            try await once.run("gallery g") {
                await counter.enter()
                return "westus"
            }
        }
        try await waitUntil { await counter.isHeld }
        let others = (0..<7).map { _ in
            Task {
                try await once.run("gallery g") {
                    await counter.enter()
                    return "other"
                }
            }
        }
        try await Task.sleep(for: .milliseconds(50))
        await counter.open()
        #expect(try await first.value == "westus")
        for other in others { #expect(try await other.value == "westus") }
        #expect(await counter.runs == 1)
        // Nothing is remembered: a later caller runs the work again.
        #expect(
            try await once.run("gallery g") {
                await counter.enter()
                return "again"
            } == "again")
        #expect(await counter.runs == 2)
    }

    @Test func whenTheFirstRunFailsEachWaitingCallerRunsItself() async throws {
        let once = OncePerApply()
        let counter = Counter()
        let first = Task {
            try await once.run("gallery g") {
                await counter.enter()
                throw Refused()
            }
        }
        try await waitUntil { await counter.isHeld }
        let second = Task { try await once.run("gallery g") { "second's own" } }
        try await Task.sleep(for: .milliseconds(50))
        await counter.open()
        await #expect(throws: Refused.self) { try await first.value }
        #expect(try await second.value == "second's own")
    }

    @Test func differentKeysDoNotWaitForEachOther() async throws {
        let once = OncePerApply()
        let counter = Counter()
        let held = Task {
            try await once.run("gallery a") {
                await counter.enter()
                return "a"
            }
        }
        try await waitUntil { await counter.isHeld }
        #expect(try await once.run("gallery b") { "b" } == "b")
        await counter.open()
        #expect(try await held.value == "a")
    }
}
