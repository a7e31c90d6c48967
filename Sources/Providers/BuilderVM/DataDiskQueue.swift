import Foundation
import Model

/// Gathers the attaches and detaches of one VM's data disks that are asked for while
/// another change is under way, so that they go to Azure together in one request.
///
/// Azure runs one update of a VM at a time (a second one gets `409 Conflict`), so changes
/// to the builder VM cannot run side by side as separate calls: before this queue, the
/// three disks of a two-data-disk build were attached one after another, and its detaches
/// raced each other. Here the first caller leads: it waits `gather` for the changes that
/// arrive with it, sends them as one batch through `perform`, and hands the lead to the
/// first of those that arrived while the batch was running, which takes all of them in the
/// next batch. So at most one batch is in flight per queue, and a change waits for at most
/// one batch before its own.
///
/// When a batch of several fails, each of its changes is tried again on its own, so every
/// caller gets its own disk's error rather than another disk's. A caller cancelled while
/// it waits for its turn leaves the queue with `CancellationError`; once its batch was
/// sent, it waits for the batch like the others (Azure finishes the change either way).
public actor DataDiskQueue {
    /// Sends one batch and waits for Azure, at most `timeout` (the longest of the batch's
    /// callers'); returns a LUN per change in the order of the batch (see
    /// `AzureCompute.updateDataDisks`). `onStarted` is called once, when Azure accepted the
    /// request; each caller's own `onStarted` then gets the handle with only its change's
    /// LUN in `dataDiskLUNs`.
    public typealias Perform =
        @Sendable (
            _ batch: [DataDiskChange],
            _ timeout: Duration,
            _ onStarted: @escaping @Sendable (OperationHandle) async throws -> Void
        ) async throws -> [Int?]

    /// How long a leader waits for companions before it sends its batch.
    public let gather: Duration
    private let perform: Perform
    /// What the gathering and the wait for room sleep on.
    private let clock: any Clock<Duration>
    private var waiting: [Waiter] = []
    private var leading = false
    private var nextTicket = 0
    /// Disks attached through this queue and not yet `released()`.
    private var held = 0
    /// How many times a disk was released; a waiter for room compares it before sleeping.
    private var releases = 0
    private var roomWaiters: [CheckedContinuation<Void, Never>] = []

    /// The batches sent so far, for tests and benchmarks: how many disks each carried.
    public private(set) var batchSizes: [Int] = []

    private struct Member: Sendable {
        var change: DataDiskChange
        var timeout: Duration
        var onStarted: @Sendable (OperationHandle) async throws -> Void
    }

    private enum Turn: Sendable {
        case lead
        case finished(Result<Int?, any Error>)
    }

    private struct Waiter {
        var ticket: Int
        var member: Member
        var continuation: CheckedContinuation<Turn, Never>
    }

    public init(
        gather: Duration = .milliseconds(100), clock: any Clock<Duration> = ContinuousClock(),
        perform: @escaping Perform
    ) {
        self.gather = gather
        self.clock = clock
        self.perform = perform
    }

    /// Attaches `attachment` in the next batch and returns its LUN.
    ///
    /// When the VM has no free LUN (`MaxDataDisksReached`) while disks this queue attached
    /// are still on it, waits until one of them is released (`released()`) and tries
    /// again: the builds of one apply take turns on a small VM instead of failing. When
    /// none of the VM's disks came through this queue, nothing would free a LUN, so the
    /// error is thrown at once.
    public func attach(
        _ attachment: DataDiskAttachment, timeout: Duration,
        onStarted: @escaping @Sendable (OperationHandle) async throws -> Void = { _ in }
    ) async throws -> Int {
        let clock = self.clock
        let elapsed = stopwatch(clock)
        while true {
            do {
                let lun = try await changeInBatch(.attach(attachment), timeout: timeout, onStarted: onStarted)
                held += 1
                return try ArmClient.attachedLUN(lun, of: attachment.disk)
            } catch let error as ArmError where error.code == ArmClient.maxDataDisksReached && held > 0 {
                // A build that failed keeps its disk (--on-error keep): wait no longer than
                // the attach itself may take.
                guard elapsed() < timeout else { throw error }
                let generation = releases
                let alarm = Task { [weak self, clock] in
                    try await clock.sleep(for: timeout - elapsed())
                    await self?.wakeRoomWaiters()
                }
                await withTaskCancellationHandler {
                    await waitForRelease(after: generation)
                } onCancel: {
                    Task { await self.wakeRoomWaiters() }
                }
                alarm.cancel()
                try Task.checkCancellation()
            }
        }
    }

    /// Detaches `disk` in the next batch (`force`: `ForceDetach`); returns the LUN it was
    /// at, or nil when it was not attached (then nothing was sent for it). A disk this queue
    /// attached frees its LUN for an attach waiting for room.
    public func detach(
        _ disk: ResourceID, force: Bool = false, timeout: Duration,
        onStarted: @escaping @Sendable (OperationHandle) async throws -> Void = { _ in }
    ) async throws -> Int? {
        let lun = try await changeInBatch(.detach(disk, force: force), timeout: timeout, onStarted: onStarted)
        if lun != nil { released() }
        return lun
    }

    /// Says that a disk this queue attached was detached, so its LUN is free again.
    public func released() {
        held = max(0, held - 1)
        releases += 1
        wakeRoomWaiters()
    }

    private func waitForRelease(after generation: Int) async {
        guard releases == generation else { return }
        await withCheckedContinuation { roomWaiters.append($0) }
    }

    private func wakeRoomWaiters() {
        for waiter in roomWaiters { waiter.resume() }
        roomWaiters.removeAll()
    }

    private func changeInBatch(
        _ change: DataDiskChange, timeout: Duration,
        onStarted: @escaping @Sendable (OperationHandle) async throws -> Void
    ) async throws -> Int? {
        let me = Member(change: change, timeout: timeout, onStarted: onStarted)
        if leading {
            let ticket = nextTicket
            nextTicket += 1
            let turn = await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    waiting.append(Waiter(ticket: ticket, member: me, continuation: continuation))
                }
            } onCancel: {
                Task { await self.leave(ticket) }
            }
            if case .finished(let result) = turn { return try result.get() }
        } else {
            leading = true
        }
        // This caller leads one batch, then passes the lead on, whatever happens.
        try? await clock.sleep(for: gather)
        let companions = waiting
        waiting.removeAll()
        let results = await send([me] + companions.map(\.member))
        for (waiter, result) in zip(companions, results.dropFirst()) {
            waiter.continuation.resume(returning: .finished(result))
        }
        if waiting.isEmpty {
            leading = false
        } else {
            waiting.removeFirst().continuation.resume(returning: .lead)
        }
        return try results[0].get()
    }

    /// Sends `members` as one batch; when a batch of several fails, sends each alone.
    private func send(_ members: [Member]) async -> [Result<Int?, any Error>] {
        batchSizes.append(members.count)
        let callbacks = members.map(\.onStarted)
        let failures = CallbackFailures()
        let batch: Result<[Int?], any Error>
        do {
            batch = .success(
                try await perform(members.map(\.change), members.map(\.timeout).max()!) { handle in
                    // Each member journals the operation (with its own LUN); one journal
                    // failing fails only its own.
                    for (index, callback) in callbacks.enumerated() {
                        var own = handle
                        own.dataDiskLUNs = handle.dataDiskLUNs.flatMap {
                            $0.indices.contains(index) ? [$0[index]] : nil
                        }
                        do { try await callback(own) } catch { await failures.record(error, at: index) }
                    }
                })
        } catch {
            batch = .failure(error)
        }
        switch batch {
        case .success(let luns):
            var results: [Result<Int?, any Error>] = []
            for (index, lun) in luns.enumerated() {
                if let error = await failures.error(at: index) {
                    results.append(.failure(error))
                } else {
                    results.append(.success(lun))
                }
            }
            return results
        case .failure(let error) where members.count == 1 || error is CancellationError:
            return members.map { _ in .failure(error) }
        case .failure:
            var results: [Result<Int?, any Error>] = []
            for member in members {
                batchSizes.append(1)
                do {
                    results.append(.success(try await perform([member.change], member.timeout, member.onStarted)[0]))
                } catch {
                    results.append(.failure(error))
                }
            }
            return results
        }
    }

    /// Takes a cancelled caller out of the queue, if its batch has not been sent yet.
    private func leave(_ ticket: Int) {
        guard let index = waiting.firstIndex(where: { $0.ticket == ticket }) else { return }
        waiting.remove(at: index).continuation.resume(returning: .finished(.failure(CancellationError())))
    }

    /// Errors thrown by members' `onStarted`, by position in the batch.
    private actor CallbackFailures {
        private var errors: [Int: any Error] = [:]
        func record(_ error: any Error, at index: Int) { errors[index] = error }
        func error(at index: Int) -> (any Error)? { errors[index] }
    }
}
