import Foundation
import Model

/// The journals in Azure Blob Storage (`state: {azureBlob: …}`): one blob per build,
/// `<prefix>/<build>.journal.json`, shared by every builder VM that applies the manifest.
///
/// * **Writes never overwrite a change they did not see:** each write sends `If-Match` with
///   the ETag this process last read or wrote (`If-None-Match: *` for a new blob); a lost race
///   is `JournalError.raced`.
/// * **The lock is a lease on the journal blob** (`leaseSeconds`, 15–60, renewed every third
///   of it). Writes carry the lease id, so Azure itself refuses the writes of a process that
///   lost its lease; once a renewal fails (or cannot be confirmed before the lease would have
///   ended) the store marks the lease lost, calls `onLeaseLost`, and refuses every later write
///   of that build without trying (`JournalError.leaseLost`): the scheduler journals an intent
///   before each action, so nothing more starts for the build.
/// * The holder (VM, host, pid, purpose) is written into the journal's header when the lease is
///   taken, so that the refused, `kiln plan` and `kiln status` can name it.
public actor BlobJournalStore: JournalStore {
    public nonisolated let location: AzureBlobState
    public nonisolated let sharedAcrossVMs = true
    let client: BlobClient
    /// This builder VM's name, for holder records.
    let vm: String?
    let leaseSeconds: Int
    let onLeaseLost: @Sendable (_ build: String, _ reason: String) -> Void

    private struct Held {
        var id: String
        var holder: FileLockHolder
        var renewal: Task<Void, Never>?
        var lost: String?
    }
    private var leases: [String: Held] = [:]
    /// The journal and ETag this process last read or wrote, per build.
    private var known: [String: (journal: BuildJournal, etag: String)] = [:]

    public static let defaultLeaseSeconds = 60
    public static let leaseSecondsRange = 15...60

    public init(
        location: AzureBlobState, client: BlobClient, vm: String?, leaseSeconds: Int = defaultLeaseSeconds,
        onLeaseLost: @escaping @Sendable (_ build: String, _ reason: String) -> Void = { _, _ in }
    ) {
        self.location = location
        self.client = client
        self.vm = vm
        self.leaseSeconds = min(max(leaseSeconds, Self.leaseSecondsRange.lowerBound), Self.leaseSecondsRange.upperBound)
        self.onLeaseLost = onLeaseLost
    }

    /// The journal blob's URL, for messages.
    public nonisolated func blobURL(build: String) -> String {
        client.url(location, blob: location.journalBlob(build: build))
    }

    public func load(build: String) async throws -> BuildJournal {
        try validateJournalBuildName(build)
        // Under our lease nobody else writes: what we wrote last is the journal.
        if leases[build] != nil, let mine = known[build] { return mine.journal }
        return try await fetch(build: build)?.journal ?? BuildJournal(build: build)
    }

    public func append(_ entry: JournalEntry, build: String) async throws {
        try validateJournalBuildName(build)
        try await inTurn(build) { store in
            var journal = try await store.load(build: build)
            journal.entries.append(entry)
            try await store.write(journal)
        }
    }

    public func replace(_ journal: BuildJournal) async throws {
        try validateJournalBuildName(journal.build)
        try await inTurn(journal.build) { store in
            if await store.known[journal.build] == nil { _ = try await store.fetch(build: journal.build) }
            try await store.write(journal)
        }
    }

    /// The last write queued per build: writes of one build run one after the other (the
    /// actor alone would let a second write read the ETag the first is about to replace).
    private var turns: [String: Task<Void, Never>] = [:]

    private func inTurn(_ build: String, _ body: @escaping @Sendable (BlobJournalStore) async throws -> Void)
        async throws
    {
        let previous = turns[build]
        let mine = Task {
            await previous?.value
            try await body(self)
        }
        turns[build] = Task { _ = await mine.result }
        try await mine.value
    }

    public func tryLock(build: String, purpose: String) async throws -> any JournalLockHandle {
        try validateJournalBuildName(build)
        let blob = location.journalBlob(build: build)
        if leases[build] != nil {
            throw JournalError.leaseHeld(build: build, blob: blobURL(build: build), holder: leases[build]?.holder)
        }
        if try await fetch(build: build) == nil { try await create(build: build) }
        let proposed = UUID().uuidString.lowercased()
        let id: String
        do {
            id =
                try await client.lease(location, blob: blob, .acquire(seconds: leaseSeconds, proposedID: proposed))
                ?? proposed
        } catch let error as BlobError where error.status == 409 {
            throw JournalError.leaseHeld(
                build: build, blob: blobURL(build: build), holder: try await fetch(build: build)?.journal.header.holder)
        }
        let holder = FileLockHolder.current(purpose: purpose, vm: vm)
        leases[build] = Held(id: id, holder: holder, renewal: nil, lost: nil)
        do {
            // Read again under the lease (the ETag may have moved between the read and the
            // lease), then name the holder in the header.
            var journal = try await fetch(build: build)?.journal ?? BuildJournal(build: build)
            journal.header.holder = holder
            try await write(journal)
        } catch {
            await release(build: build)
            throw error
        }
        leases[build]?.renewal = Task { [weak self] in await self?.renew(build: build, id: id) }
        return BlobLeaseHandle(store: self, build: build, holder: holder)
    }

    public func lock(build: String, purpose: String, timeout: Duration) async throws -> any JournalLockHandle {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            do {
                return try await tryLock(build: build, purpose: purpose)
            } catch JournalError.leaseHeld(let build, let blob, let holder) {
                guard clock.now < deadline else {
                    throw JournalError.leaseHeld(build: build, blob: blob, holder: holder)
                }
                try await clock.sleep(for: .seconds(2))
            }
        }
    }

    public func holder(build: String) async throws -> FileLockHolder? {
        guard leases[build] == nil else { return nil }
        guard let content = try await client.get(location, blob: location.journalBlob(build: build)),
            content.leaseState == "leased" || content.leaseState == "breaking"
        else { return nil }
        return try Self.decode(content.data, build: build, blob: blobURL(build: build)).header.holder
            ?? FileLockHolder(pid: 0, host: "?", startedAt: Date(timeIntervalSince1970: 0), purpose: "unknown")
    }

    /// Ends the lease of `build` (if still held) and stops renewing it.
    func release(build: String) async {
        guard let held = leases.removeValue(forKey: build) else { return }
        held.renewal?.cancel()
        known[build] = nil
        guard held.lost == nil else { return }
        _ = try? await client.lease(location, blob: location.journalBlob(build: build), .release(id: held.id))
    }

    // MARK: internals

    private func fetch(build: String) async throws -> (journal: BuildJournal, etag: String)? {
        let url = blobURL(build: build)
        let content: BlobContent?
        do {
            content = try await client.get(location, blob: location.journalBlob(build: build))
        } catch {
            throw JournalError.unreadable(build: build, path: url, reason: "\(error)")
        }
        guard let content else {
            known[build] = nil
            return nil
        }
        let read = (journal: try Self.decode(content.data, build: build, blob: url), etag: content.etag)
        known[build] = read
        return read
    }

    /// The journal in a blob; an empty blob (made to be leased) is an empty journal.
    private static func decode(_ data: Data, build: String, blob: String) throws -> BuildJournal {
        data.isEmpty ? BuildJournal(build: build) : try FileJournalStore.decode(data, build: build, path: blob)
    }

    /// Makes the build's (empty) journal blob so that it can be leased; the container too
    /// when it is missing. Another VM making it at the same time is fine.
    private func create(build: String) async throws {
        let empty = BuildJournal(build: build)
        do {
            let etag = try await putCreatingContainer(
                empty, data: try FileJournalStore.encoder.encode(empty), condition: .absent)
            known[build] = (empty, etag)
        } catch let error as BlobError where error.status == 409 || error.status == 412 {
            _ = try await fetch(build: build)
        } catch {
            throw JournalError.writeFailed(build: build, path: blobURL(build: build), reason: "\(error)")
        }
    }

    private func write(_ journal: BuildJournal) async throws {
        let build = journal.build
        let url = blobURL(build: build)
        if let lost = leases[build]?.lost { throw JournalError.leaseLost(build: build, blob: url, reason: lost) }
        var journal = journal
        if let held = leases[build] { journal.header.holder = held.holder }
        let data: Data
        do { data = try FileJournalStore.encoder.encode(journal) } catch {
            throw JournalError.writeFailed(build: build, path: url, reason: "encoding: \(error)")
        }
        let condition: BlobWriteCondition = known[build].map { .unchanged(etag: $0.etag) } ?? .absent
        do {
            let etag = try await putCreatingContainer(journal, data: data, condition: condition)
            known[build] = (journal, etag)
        } catch let error as BlobError {
            switch (error.status, error.code) {
            case (412, "ConditionNotMet"?) where leases[build] != nil:
                // Under a lease only its holder writes: a changed blob means the lease was lost.
                markLost(build, reason: "the journal changed under this kiln's lease: \(error)")
                throw JournalError.leaseLost(build: build, blob: url, reason: "ConditionNotMet")
            case (412, "ConditionNotMet"?), (409, "BlobAlreadyExists"?):
                known[build] = nil
                throw JournalError.raced(build: build, blob: url)
            case (412, let code?) where code.hasPrefix("Lease"):
                markLost(build, reason: "Azure refused the write: \(error)")
                throw JournalError.leaseLost(build: build, blob: url, reason: "\(code)")
            default:
                throw JournalError.writeFailed(build: build, path: url, reason: "\(error)")
            }
        }
    }

    /// Puts the journal blob; a missing container is made first (once).
    private func putCreatingContainer(_ journal: BuildJournal, data: Data, condition: BlobWriteCondition)
        async throws -> String
    {
        let blob = location.journalBlob(build: journal.build)
        do {
            return try await client.put(
                location, blob: blob, data: data, condition: condition, leaseID: leases[journal.build]?.id)
        } catch let error as BlobError where error.code == "ContainerNotFound" {
            try await client.createContainer(location)
            return try await client.put(
                location, blob: blob, data: data, condition: condition, leaseID: leases[journal.build]?.id)
        }
    }

    /// Renews the lease every third of its duration until released. A refusal ends it at
    /// once; transport failures are retried until the lease would have ended unrenewed.
    private func renew(build: String, id: String) async {
        let clock = ContinuousClock()
        var renewed = clock.now
        let every = Duration.seconds(leaseSeconds) / 3
        while !Task.isCancelled {
            do { try await clock.sleep(for: every) } catch { return }
            guard leases[build]?.id == id, leases[build]?.lost == nil else { return }
            do {
                try await client.lease(location, blob: location.journalBlob(build: build), .renew(id: id))
                renewed = clock.now
            } catch let error as BlobError where error.status != nil && error.status! < 500 && error.status != 408 {
                markLost(build, reason: "Azure refused to renew it: \(error)")
                return
            } catch {
                if clock.now - renewed >= .seconds(leaseSeconds) - .seconds(2) {
                    markLost(build, reason: "it could not be renewed for \(leaseSeconds) s: \(error)")
                    return
                }
            }
        }
    }

    private func markLost(_ build: String, reason: String) {
        guard leases[build] != nil, leases[build]?.lost == nil else { return }
        leases[build]?.lost = reason
        onLeaseLost(build, reason)
    }

    /// Whether this process lost the lease of `build` (nil: held, or never taken).
    public func lostLease(build: String) -> String? { leases[build]?.lost }
}

/// A held lease as a journal lock.
final class BlobLeaseHandle: JournalLockHandle {
    let store: BlobJournalStore
    let build: String
    let holder: FileLockHolder

    init(store: BlobJournalStore, build: String, holder: FileLockHolder) {
        self.store = store
        self.build = build
        self.holder = holder
    }

    func release() {
        let store = store
        let build = build
        Task { await store.release(build: build) }
    }

    func releaseNow() async { await store.release(build: build) }
}
