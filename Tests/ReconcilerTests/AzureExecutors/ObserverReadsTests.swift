import Foundation
import Model
@testable import Planner
import Providers
@testable import Reconciler
import TestSupport
import Testing

/// How many reads the observer spends on a build's temporary disk and snapshot: none when
/// this run's journal records them deleted and the build's tag listing does not show them
/// (a converged build then costs only its outputs and the listing; issue 6, no-op plan),
/// and a GET as before whenever they may exist.
@Suite struct ObserverReadsTests {
    static func deletedJournal(_ d: DesiredBuild) -> BuildJournal {
        BuildJournal(build: d.name, attributes: ["run": d.runID], entries: [
            JournalEntry(actionID: ActionID(d.name, .deleteDisk, .os).description, phase: .done(result: [:])),
            JournalEntry(actionID: ActionID(d.name, .deleteSnapshot, .os).description, phase: .done(result: [:])),
        ])
    }

    static func observe(_ h: AzureExecutorHarness, journal: BuildJournal?) async throws -> ObservedBuild {
        let store = InMemoryJournalStore(journals: journal.map { [$0] } ?? [])
        let mounts = InMemoryMountManager()
        let observer = Observer(arm: h.arm, devices: h.devices, mounts: mounts, journals: store)
        return try await observer.observe(h.desired, attached: [:], table: try await mounts.mountTable())
    }

    /// GETs of the build's temporary disk or snapshot in the emulator's request log.
    static func temporaryReads(_ h: AzureExecutorHarness) async throws -> Int {
        let names = [h.desired.diskID(.os), h.desired.snapshotID(.os)].map { $0.lowercased() }
        return try await h.requests().filter { $0.method == "GET" && names.contains($0.path.lowercased()) }.count
    }

    @Test func temporariesThisRunDeletedAreNotRead() async throws {
        try await AzureExecutorHarness.with { h in
            let o = try await Self.observe(h, journal: Self.deletedJournal(h.desired))
            #expect(o.disks.isEmpty && o.snapshots.isEmpty)
            #expect(try await Self.temporaryReads(h) == 0)
        }
    }

    @Test func withoutTheJournalTheTemporariesAreRead() async throws {
        try await AzureExecutorHarness.with { h in
            let o = try await Self.observe(h, journal: nil)
            #expect(o.disks.isEmpty && o.snapshots.isEmpty)
            #expect(try await Self.temporaryReads(h) == 2)
        }
    }

    @Test func aDiskMadeAgainIsReadDespiteTheJournal() async throws {
        try await AzureExecutorHarness.with { h in
            let created = await h.run([h.action(.createDisk, "os")])
            #expect(created.succeeded, "\(created.failureText)")
            let o = try await Self.observe(h, journal: Self.deletedJournal(h.desired))
            #expect(o.disks[.os] != nil, "the disk carries the build's tag, so the listing shows it and it is read")
            #expect(o.snapshots.isEmpty)
        }
    }

    @Test func anotherRunsJournalDoesNotSkipReads() async throws {
        try await AzureExecutorHarness.with { h in
            var journal = Self.deletedJournal(h.desired)
            journal.attributes["run"] = "0000000000"
            _ = try await Self.observe(h, journal: journal)
            #expect(try await Self.temporaryReads(h) == 2)
        }
    }
}
