import Foundation
import Model
import Testing

@testable import Providers

/// `DataDiskQueue`: changes asked for together go in one request, changes asked for while
/// one runs go in the next, and a failing batch gives each caller its own error.
@Suite struct DataDiskQueueTests {
    /// A stand-in for Azure: records each batch, hands out LUNs from 0, and holds every
    /// batch until the test opens it.
    actor FakeVM {
        private(set) var batches: [[String]] = []
        private var nextLUN = 0
        private var gates: [CheckedContinuation<Void, Never>] = []
        private var held = true
        var refuse: Set<String> = []
        /// LUNs the VM has room for; nil: any number.
        var capacity: Int?
        private(set) var attached = 0

        func setRefuse(_ names: Set<String>) { refuse = names }
        func setCapacity(_ n: Int) { capacity = n }

        /// Attaches get LUNs from 0 up; a detach gives back 99 (where the fake says it was).
        func apply(_ batch: [DataDiskChange], onStarted: @Sendable (OperationHandle) async throws -> Void) async throws
            -> [Int?]
        {
            batches.append(batch.map { $0.isAttach ? $0.disk.name : "-" + $0.disk.name })
            if let bad = batch.first(where: { refuse.contains($0.disk.name) }) {
                throw ArmError(
                    kind: .http, operation: "attach data disk", resource: "vm", status: 409,
                    code: "ConflictingUserInput",
                    message: "disk \(bad.disk.name) is owned by another VM")
            }
            let url = URL(string: "https://arm.test/op/\(batches.count)")!
            let attaching = batch.filter(\.isAttach).count
            let detaching = batch.count - attaching
            if let capacity, attached - detaching + attaching > capacity {
                throw ArmError(
                    kind: .invalidRequest, operation: "attach data disk", resource: "vm",
                    code: ArmClient.maxDataDisksReached,
                    message: "the VM has \(attached) data disks, its size allows \(capacity)")
            }
            attached += attaching - detaching
            try await onStarted(
                OperationHandle(
                    operation: "attach", resource: "vm", method: .post, resourceURL: url, asyncOperationURL: url,
                    startedAt: Date()))
            if held { await withCheckedContinuation { gates.append($0) } }
            var luns: [Int?] = []
            for change in batch {
                if change.isAttach {
                    luns.append(nextLUN)
                    nextLUN += 1
                } else {
                    luns.append(99)
                }
            }
            return luns
        }

        /// Lets every batch through, now and later.
        func open() {
            held = false
            for gate in gates { gate.resume() }
            gates.removeAll()
        }

        /// Lets the batches waiting now through.
        func release() {
            for gate in gates { gate.resume() }
            gates.removeAll()
        }

        var waitingBatches: Int { gates.count }
    }

    actor HandleLog {
        private(set) var entries: [String: String] = [:]
        func record(_ name: String, _ value: String) { entries[name] = value }
    }

    func queue(_ vm: FakeVM, gather: Duration = .milliseconds(20)) -> DataDiskQueue {
        DataDiskQueue(gather: gather) { batch, _, onStarted in try await vm.apply(batch, onStarted: onStarted) }
    }

    func disk(_ name: String) -> DataDiskAttachment { DataDiskAttachment(disk: AzureFixtures.id("disks/\(name)")) }

    func waitUntil(_ condition: @Sendable () async -> Bool) async throws {
        for _ in 0..<500 where !(await condition()) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(await condition())
    }

    @Test func attachesAskedForTogetherGoInOneRequest() async throws {
        let vm = FakeVM()
        await vm.open()
        let q = queue(vm, gather: .milliseconds(200))
        async let a = q.attach(disk("a"), timeout: .seconds(5))
        async let b = q.attach(disk("b"), timeout: .seconds(5))
        async let c = q.attach(disk("c"), timeout: .seconds(5))
        let luns = try await [a, b, c]
        #expect(Set(luns) == [0, 1, 2])
        #expect(await vm.batches.count == 1)
        #expect(await vm.batches.first.map(Set.init) == ["a", "b", "c"])
        #expect(await q.batchSizes == [3])
    }

    @Test func attachesAskedForWhileOneRunsGoTogetherInTheNext() async throws {
        let vm = FakeVM()
        let q = queue(vm)
        let handles = HandleLog()
        let attach = { @Sendable (name: String) in
            Task {
                try await q.attach(self.disk(name), timeout: .seconds(5)) { handle in
                    await handles.record(name, handle.resourceURL.lastPathComponent)
                }
            }
        }
        let first = attach("first")
        try await waitUntil { await vm.waitingBatches == 1 }
        let second = attach("second")
        let third = attach("third")
        // Give the two time to queue behind the running batch.
        try await Task.sleep(for: .milliseconds(100))
        #expect(await vm.batches == [["first"]])
        await vm.open()
        let luns = [try await first.value, try await second.value, try await third.value]
        #expect(luns[0] == 0)
        #expect(Set(luns[1...]) == [1, 2])
        let batches = await vm.batches
        #expect(batches.count == 2)
        #expect(Set(batches[1]) == ["second", "third"])
        // Every member of a batch journals the batch's operation.
        #expect(await handles.entries == ["first": "1", "second": "2", "third": "2"])
    }

    @Test func aFailingBatchIsRetriedDiskByDiskSoEachCallerGetsItsOwnError() async throws {
        let vm = FakeVM()
        await vm.setRefuse(["taken"])
        await vm.open()
        let q = queue(vm, gather: .milliseconds(200))
        async let good = q.attach(disk("good"), timeout: .seconds(5))
        async let taken = Result { try await q.attach(disk("taken"), timeout: .seconds(5)) }
        #expect(try await good == 0)
        let outcome = await taken
        let error = try #require(throws: ArmError.self) { try outcome.get() }
        #expect(error.message?.contains("taken") == true)
        #expect(await q.batchSizes == [2, 1, 1])
    }

    @Test func aCallerCancelledWhileWaitingLeavesAndTheOthersGoOn() async throws {
        let vm = FakeVM()
        let q = queue(vm)
        let first = Task { try await q.attach(disk("first"), timeout: .seconds(5)) }
        try await waitUntil { await vm.waitingBatches == 1 }
        let cancelled = Task { try await q.attach(disk("cancelled"), timeout: .seconds(5)) }
        let kept = Task { try await q.attach(disk("kept"), timeout: .seconds(5)) }
        try await Task.sleep(for: .milliseconds(100))
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        await vm.open()
        #expect(try await first.value == 0)
        #expect(try await kept.value == 1)
        #expect(await vm.batches == [["first"], ["kept"]])
    }

    @Test func detachesAndAttachesAskedForTogetherShareOneRequest() async throws {
        let vm = FakeVM()
        await vm.open()
        let q = queue(vm, gather: .milliseconds(200))
        async let a = q.detach(disk("old1").disk, timeout: .seconds(5))
        async let b = q.detach(disk("old2").disk, timeout: .seconds(5))
        async let c = q.attach(disk("new"), timeout: .seconds(5))
        let (first, second, third) = try await (a, b, c)
        #expect(first == 99 && second == 99 && third == 0)
        #expect(await vm.batches.count == 1)
        #expect(await vm.batches.first.map(Set.init) == ["-old1", "-old2", "new"])
    }

    @Test func onAFullVMAnAttachWaitsForOneOfTheQueuesDisksToBeReleased() async throws {
        let vm = FakeVM()
        await vm.setCapacity(1)
        await vm.open()
        let q = queue(vm)
        #expect(try await q.attach(disk("first"), timeout: .seconds(30)) == 0)
        let second = Task { try await q.attach(disk("second"), timeout: .seconds(30)) }
        try await waitUntil { await q.batchSizes.count >= 2 }
        try await Task.sleep(for: .milliseconds(100))
        // Still waiting: nothing was released.
        #expect(await vm.batches.count == 2)
        #expect(try await q.detach(disk("first").disk, timeout: .seconds(30)) == 99)
        #expect(try await second.value == 1)
        #expect(await vm.batches == [["first"], ["second"], ["-first"], ["second"]])
    }

    @Test func onAFullVMWithNoneOfTheQueuesDisksTheErrorComesAtOnce() async throws {
        let vm = FakeVM()
        await vm.setCapacity(0)
        await vm.open()
        let q = queue(vm)
        let error = await #expect(throws: ArmError.self) { try await q.attach(disk("alone"), timeout: .seconds(30)) }
        #expect(error?.code == ArmClient.maxDataDisksReached)
        #expect(await vm.batches.count == 1)
    }

    @Test func waitingForRoomEndsWithTheErrorAtTheAttachTimeout() async throws {
        let vm = FakeVM()
        await vm.setCapacity(1)
        await vm.open()
        let q = queue(vm)
        _ = try await q.attach(disk("kept"), timeout: .seconds(30))
        let error = await #expect(throws: ArmError.self) {
            try await q.attach(disk("late"), timeout: .milliseconds(300))
        }
        #expect(error?.code == ArmClient.maxDataDisksReached)
    }
}

extension Result where Failure == any Error {
    init(_ body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
