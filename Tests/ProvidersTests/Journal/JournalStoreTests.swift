import Foundation
import Providers
import Testing

@Suite("Journal store")
struct JournalStoreTests {
    static let date = Date(timeIntervalSince1970: 1_790_000_000.25)

    @Test func appendsRoundTripAndTheLatestPhaseWins() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let store = FileJournalStore(stateDirectory: "\(scratch.path)/.kiln")
        #expect(try await store.load(build: "web").entries.isEmpty)
        let entries = [
            JournalEntry(
                actionID: "create-disk(os)", phase: .intent,
                resourceID: "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/disks/d",
                recordedAt: Self.date),
            JournalEntry(
                actionID: "create-disk(os)",
                phase: .started(operationURL: "https://management.azure.com/op/1?api-version=x"), recordedAt: Self.date),
            JournalEntry(actionID: "attach(os)", phase: .failed(message: "409 Conflict"), recordedAt: Self.date),
            JournalEntry(actionID: "create-disk(os)", phase: .done(result: ["diskID": "d"]), recordedAt: Self.date)
        ]
        for entry in entries { try await store.append(entry, build: "web") }
        let loaded = try await FileJournalStore(stateDirectory: "\(scratch.path)/.kiln").load(build: "web")
        #expect(loaded.version == 2)
        #expect(loaded.entries == entries)
        #expect(loaded.latest(for: "create-disk(os)")?.phase == .done(result: ["diskID": "d"]))
        #expect(loaded.latestByAction["attach(os)"]?.phase == .failed(message: "409 Conflict"))

        var withRun = loaded
        withRun.header.run = "r1a2"
        try await store.replace(withRun)
        #expect(try await store.load(build: "web") == withRun)
    }

    @Test func aMinimalVersion1FileLoads() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try scratch.write(
            "old.journal.json",
            #"{"version": 1, "build": "old", "entries": [{"actionID": "a", "phase": {"kind": "intent"}, "recordedAt": "2026-11-27T09:00:00Z"}]}"#
        )
        let journal = try await FileJournalStore(stateDirectory: scratch.path).load(build: "old")
        #expect(journal.header == JournalHeader())
        #expect(journal.entries.map(\.phase) == [.intent])
    }

    @Test func theFileIsVersionedJSONMode0600InA0700DirectoryWithNoTempFilesLeft() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let stateDirectory = "\(scratch.path)/.kiln"
        let store = FileJournalStore(stateDirectory: stateDirectory)
        let previous = umask(0o022)
        defer { umask(previous) }
        try await store.append(JournalEntry(actionID: "a", phase: .intent), build: "web")
        let path = store.journalPath(build: "web")
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)
        #expect(try FileManager.default.attributesOfItem(atPath: stateDirectory)[.posixPermissions] as? Int == 0o700)
        let json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
        #expect(json?["version"] as? Int == 2)
        #expect(try FileManager.default.contentsOfDirectory(atPath: stateDirectory) == ["web.journal.json"])
    }

    @Test func readersNeverSeeAHalfWrittenJournal() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let store = FileJournalStore(stateDirectory: scratch.path)
        let path = store.journalPath(build: "big")
        let big = String(repeating: "x", count: 64 * 1024)
        try await store.append(JournalEntry(actionID: "seed", phase: .done(result: ["blob": big])), build: "big")
        let reader = Task.detached {
            var reads = 0
            // Keep reading until cancelled, and at least once: on a loaded machine the
            // writer can finish before this task is first scheduled.
            while !Task.isCancelled || reads == 0 {
                let data = try Data(contentsOf: URL(fileURLWithPath: path))
                _ = try JSONSerialization.jsonObject(with: data)
                reads += 1
            }
            return reads
        }
        for index in 0..<100 {
            try await store.append(
                JournalEntry(actionID: "step-\(index)", phase: .done(result: ["blob": big])), build: "big")
        }
        reader.cancel()
        #expect(try await reader.value > 0)
        #expect(try await store.load(build: "big").entries.count == 101)
    }

    @Test func aFailedWriteLeavesThePreviousJournal() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let path = "\(scratch.path)/j.json"
        try AtomicFile.write(Data("old".utf8), to: path)
        // A directory where the temp file's rename must land makes the write fail late.
        try FileManager.default.createDirectory(
            atPath: "\(scratch.path)/dir.json/child", withIntermediateDirectories: true)
        #expect(throws: AtomicFileError.self) { try AtomicFile.write(Data("new".utf8), to: "\(scratch.path)/dir.json") }
        #expect(throws: AtomicFileError.self) {
            try AtomicFile.write(Data("new".utf8), to: "\(scratch.path)/missing/j.json")
        }
        #expect(FileManager.default.contents(atPath: path) == Data("old".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).sorted() == ["dir.json", "j.json"])
    }

    @Test func unknownVersionsAndGarbageAreClearErrors() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let store = FileJournalStore(stateDirectory: scratch.path)
        try scratch.write("future.journal.json", #"{"version": 3, "build": "future", "entries": []}"#)
        try scratch.write("junk.journal.json", "not json")
        await #expect {
            try await store.load(build: "future")
        } throws: { error in
            guard case JournalError.unsupportedVersion(let build, _, let version) = error else { return false }
            return build == "future" && version == 3 && "\(error)".contains("versions 1 to 2")
                && "\(error)".contains("move the journal aside")
        }
        await #expect {
            try await store.load(build: "junk")
        } throws: { error in
            if case JournalError.unreadable = error { return true }
            return false
        }
        await #expect(throws: JournalError.self) { try await store.load(build: "../escape") }
        await #expect(throws: JournalError.self) {
            try await store.append(JournalEntry(actionID: "a", phase: .intent), build: "a/b")
        }
    }

    @Test func aHeldLockNamesItsHolderAndIsFreeAgainAfterRelease() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let store = FileJournalStore(stateDirectory: scratch.path)
        let first = try await store.tryLock(build: "web", purpose: "kiln apply web")
        let recorded = try #require(FileLock.readHolder(path: store.lockPath(build: "web")))
        #expect(recorded.pid == getpid())
        #expect(recorded.host == HostIdentity.hostname())
        await #expect {
            _ = try await store.tryLock(build: "web", purpose: "second")
        } throws: { error in
            guard case JournalError.locked(let build, _, let holder, nil) = error else { return false }
            let text = "\(error)"
            return build == "web" && holder?.pid == getpid() && text.contains("pid \(getpid())")
                && text.contains(HostIdentity.hostname()) && text.contains("kiln apply web")
        }
        // Other builds are independent.
        let other = try await store.tryLock(build: "api", purpose: "other")
        other.release()
        first.release()
        let again = try await store.tryLock(build: "web", purpose: "again")
        again.release()
    }

    @Test func theWaitingLockGetsTheLockOnceReleasedOrTimesOut() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let store = FileJournalStore(stateDirectory: scratch.path)
        let first = try await store.tryLock(build: "web", purpose: "first")
        await #expect {
            _ = try await store.lock(build: "web", purpose: "impatient", timeout: .milliseconds(200))
        } throws: { error in
            guard case JournalError.locked(_, _, let holder, let waited?) = error else { return false }
            return holder?.purpose == "first" && waited >= .milliseconds(200)
        }
        let waiter = Task { try await store.lock(build: "web", purpose: "patient", timeout: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(200))
        first.release()
        let second = try await waiter.value
        #expect(second.holder.purpose == "patient")
        second.release()
    }

    @Test func aLockHeldByAnotherProcessIsRefused() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let store = FileJournalStore(stateDirectory: scratch.path)
        let lockPath = store.lockPath(build: "web")
        #expect(FileManager.default.createFile(atPath: lockPath, contents: nil))
        let ready = "\(scratch.path)/ready"
        let other = Task {
            try await ProcessCommandRunner().run(
                CommandSpec(
                    "flock -x \(shellQuote(lockPath)) sh -c 'touch \(shellQuote(ready)); sleep 300'",
                    killGracePeriod: .seconds(1)))
        }
        #expect(await eventually { FileManager.default.fileExists(atPath: ready) })
        await #expect {
            _ = try await store.tryLock(build: "web", purpose: "me")
        } throws: { error in
            guard case JournalError.locked(_, let path, _, _) = error else { return false }
            return path == lockPath
        }
        other.cancel()
        _ = try? await other.value
        let mine = try await store.lock(build: "web", purpose: "me", timeout: .seconds(30))
        mine.release()
    }

    @Test func theHostLUNLockExcludesASecondTaker() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let path = "\(scratch.path)/run/kiln/lun.lock"
        let first = try await HostLUNLock.acquire(path: path, purpose: "attach lun 0", timeout: .seconds(1))
        await #expect {
            _ = try await HostLUNLock.acquire(path: path, purpose: "attach lun 1", timeout: .milliseconds(100))
        } throws: { error in
            "\(error)".contains("attach lun 0")
        }
        first.release()
        let second = try await HostLUNLock.acquire(path: path, purpose: "attach lun 1", timeout: .seconds(1))
        second.release()
        #expect(HostLUNLock.defaultPath == "/run/kiln/lun.lock")
    }
}

@Suite("InMemoryJournalStore")
struct InMemoryJournalStoreTests {
    @Test func errorPaths() async throws {
        let store = InMemoryJournalStore()
        try await store.append(JournalEntry(actionID: "a", phase: .intent), build: "web")
        await store.setFailWrites("disk full")
        await #expect {
            try await store.append(JournalEntry(actionID: "a", phase: .done(result: [:])), build: "web")
        } throws: { error in
            "\(error)".contains("disk full")
        }
        #expect(try await store.load(build: "web").entries.map(\.phase) == [.intent])
        await #expect(throws: JournalError.self) { try await store.load(build: "") }

        let held = try await store.tryLock(build: "web", purpose: "holder")
        await #expect {
            _ = try await store.tryLock(build: "web", purpose: "other")
        } throws: { error in
            "\(error)".contains("holder")
        }
        await #expect(throws: JournalError.self) {
            _ = try await store.lock(build: "web", purpose: "other", timeout: .milliseconds(30))
        }
        held.release()
        let next = try await store.lock(build: "web", purpose: "other", timeout: .seconds(1))
        next.release()
    }
}
