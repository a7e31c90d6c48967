import AzureEmulator
import Foundation
import Model
import Providers
import Synchronization
import TestSupport
import Testing

/// Remote state against the emulator's Blob service over HTTP: journals written only over the
/// ETag last seen, leases that exclude, a lost lease that stops all writes.
@Suite("Blob journal store")
struct BlobJournalStoreTests {
    /// An emulator (no devices), a connection to it, and stores on one container.
    struct World {
        let server: EmulatorServer
        let connection: AzureConnection
        let client: BlobClient
        let state = AzureBlobState(
            account: StorageAccountName("kilnstate")!, container: BlobContainerName("journals")!,
            prefix: BlobNamePrefix("fleet/test")!)
        let directory: TemporaryDirectory

        func store(vm: String, leaseSeconds: Int = 60, lost: @escaping @Sendable (String, String) -> Void = { _, _ in })
            -> BlobJournalStore
        {
            BlobJournalStore(location: state, client: client, vm: vm, leaseSeconds: leaseSeconds, onLeaseLost: lost)
        }
    }

    static func withWorld(_ body: (World) async throws -> Void) async throws {
        let directory = try TemporaryDirectory("kiln-blob-journal")
        let server = EmulatorServer(
            configuration: EmulatorConfiguration(), stateDirectory: directory.url, backend: InMemoryDiskBackend())
        let endpoints = try await server.start()
        let cloud = AzureCloud.emulator(
            arm: URL(string: endpoints.arm)!, login: URL(string: endpoints.login), imds: URL(string: endpoints.imds),
            blob: URL(string: endpoints.blob!)!)
        let env = [
            "AZURE_TENANT_ID": endpoints.credential.tenantId, "AZURE_CLIENT_ID": endpoints.credential.clientId,
            "AZURE_CLIENT_SECRET": endpoints.credential.clientSecret ?? ""
        ]
        let connection = try AzureConnection(cloud: cloud, credential: .environment, environment: env)
        let client = BlobClient(
            endpoint: cloud.blobService, transport: connection.transport, credential: connection.credential)
        let world = World(server: server, connection: connection, client: client, directory: directory)
        do {
            try await body(world)
        } catch {
            try? await connection.shutdown()
            await server.stop()
            directory.remove()
            throw error
        }
        try? await connection.shutdown()
        await server.stop()
        directory.remove()
    }

    static func entry(_ n: Int) -> JournalEntry {
        JournalEntry(actionID: "web/provision[s\(n)]", phase: .done(result: [:]))
    }

    @Test func aWriteOverAStaleETagIsRefusedAndOverwritesNothing() async throws {
        try await Self.withWorld { w in
            let a = w.store(vm: "vm-a")
            let b = w.store(vm: "vm-b")
            try await a.replace(BuildJournal(build: "web", header: JournalHeader(run: "r1")))
            // a reads the journal to change it; meanwhile b writes it: a's ETag is stale.
            var mine = try await a.load(build: "web")
            try await b.append(Self.entry(1), build: "web")
            mine.header.generation = 7
            await #expect {
                try await a.replace(mine)
            } throws: { error in
                guard case JournalError.raced(let build, let blob)? = error as? JournalError else { return false }
                return build == "web" && blob.hasSuffix("/kilnstate/journals/fleet/test/web.journal.json")
            }
            let now = try await w.store(vm: "vm-c").load(build: "web")
            #expect(now.header.generation == 0 && now.header.run == "r1")
            #expect(now.entries.map(\.actionID) == ["web/provision[s1]"])
            // Having read it again, a writes over the new ETag.
            mine = try await a.load(build: "web")
            mine.header.generation = 7
            try await a.replace(mine)
            #expect(try await b.load(build: "web").header.generation == 7)
        }
    }

    @Test func aLeaseExcludesOtherVMsAndNamesItsHolder() async throws {
        try await Self.withWorld { w in
            let a = w.store(vm: "vm-a")
            let b = w.store(vm: "vm-b")
            let lock = try await a.tryLock(build: "web", purpose: "kiln apply (build web)")
            #expect(lock.holder.vm == "vm-a")
            await #expect {
                _ = try await b.tryLock(build: "web", purpose: "kiln apply (build web)")
            } throws: { error in
                guard case JournalError.leaseHeld(_, _, let holder)? = error as? JournalError else { return false }
                return holder?.vm == "vm-a" && holder?.purpose == "kiln apply (build web)"
            }
            #expect(try await b.holder(build: "web")?.vm == "vm-a")
            #expect(try await a.holder(build: "web") == nil, "its own lease is not someone else's")
            // Writes under the lease go through; another VM's are refused by Azure.
            try await a.append(Self.entry(1), build: "web")
            await #expect(throws: JournalError.self) { try await b.append(Self.entry(9), build: "web") }
            await lock.releaseNow()
            #expect(try await b.holder(build: "web") == nil)
            let taken = try await b.tryLock(build: "web", purpose: "kiln apply (build web)")
            try await b.append(Self.entry(2), build: "web")
            #expect(
                try await b.load(build: "web").entries.map(\.actionID) == ["web/provision[s1]", "web/provision[s2]"])
            await taken.releaseNow()
        }
    }

    @Test func twoVMsRacingForOneBuildOneWins() async throws {
        try await Self.withWorld { w in
            for round in 0..<5 {
                let build = "race\(round)"
                let stores = [w.store(vm: "vm-a"), w.store(vm: "vm-b"), w.store(vm: "vm-c")]
                let results = await withTaskGroup(of: (any JournalLockHandle)?.self) { group in
                    for store in stores {
                        group.addTask { try? await store.tryLock(build: build, purpose: "race") }
                    }
                    var out: [(any JournalLockHandle)?] = []
                    for await r in group { out.append(r) }
                    return out
                }
                let winners = results.compactMap { $0 }
                #expect(winners.count == 1, "round \(round): \(winners.count) winners")
                for lock in winners { await lock.releaseNow() }
            }
        }
    }

    @Test func aLostLeaseStopsEveryLaterWrite() async throws {
        try await Self.withWorld { w in
            let lost = Mutex<[String]>([])
            let a = w.store(vm: "vm-a", leaseSeconds: 15) { build, reason in lost.withLock { $0.append(build) } }
            let lock = try await a.tryLock(build: "web", purpose: "kiln apply")
            try await a.append(Self.entry(1), build: "web")
            // Someone breaks a's lease (as an operator would) and another VM takes the build.
            try await w.client.lease(w.state, blob: w.state.journalBlob(build: "web"), .breakNow)
            let b = w.store(vm: "vm-b")
            let taken = try await b.tryLock(build: "web", purpose: "kiln apply")
            await #expect {
                try await a.append(Self.entry(2), build: "web")
            } throws: { error in
                if case JournalError.leaseLost? = error as? JournalError { return true }
                return false
            }
            #expect(lost.withLock { $0 } == ["web"])
            #expect(await a.lostLease(build: "web") != nil)
            // Refused from now on without asking Azure; b's journal is untouched by a.
            await #expect(throws: JournalError.self) { try await a.append(Self.entry(3), build: "web") }
            let journal = try await b.load(build: "web")
            #expect(journal.entries.map(\.actionID) == ["web/provision[s1]"])
            #expect(journal.header.holder?.vm == "vm-b")
            await lock.releaseNow()
            await taken.releaseNow()
        }
    }

    @Test func theLeaseIsRenewedWhileHeld() async throws {
        try await Self.withWorld { w in
            let a = w.store(vm: "vm-a", leaseSeconds: 15)
            let lock = try await a.tryLock(build: "web", purpose: "kiln apply")
            try await Task.sleep(for: .seconds(17))
            await #expect(throws: JournalError.self) {
                _ = try await w.store(vm: "vm-b").tryLock(build: "web", purpose: "kiln apply")
            }
            try await a.append(Self.entry(1), build: "web")
            await lock.releaseNow()
        }
    }
}
