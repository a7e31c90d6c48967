import Foundation
import Model
import Planner
import Providers
import TestSupport
import Testing

@testable import Reconciler

/// The Azure executors and the observer against `InMemoryCompute` on virtual time: no
/// emulator, no HTTP, no waiting on the wall clock. The desired build is the emulator
/// harness's (a managed image and a gallery version in two regions).
struct ComputeTwinHarness {
    static let subscription = "00000000-0000-0000-0000-0000000000aa"
    static let resourceGroup = "kiln-builder"
    static let location = "westus2"
    static let platformVersion = AzureExecutorHarness.platformVersion

    let clock: VirtualClock
    let azure: InMemoryCompute<VirtualClock>
    let vm: ResourceID
    let devices: InMemoryBlockDevices
    let desired: DesiredBuild
    var location: String { Self.location }

    /// `dataDisks` and `source` as for `AzureExecutorHarness.start`.
    static func make(dataDisks: String? = nil, source: String? = nil) async throws -> ComputeTwinHarness {
        let clock = VirtualClock()
        let azure = InMemoryCompute(clock: clock)
        let vm = try ResourceID(
            parsing:
                "/subscriptions/\(subscription)/resourceGroups/\(resourceGroup)/providers/Microsoft.Compute/virtualMachines/builder"
        )
        await azure.addVirtualMachine(vm)
        for (sku, generation) in [("server", "V2"), ("server-gen1", "V1")] {
            await azure.addPlatformImage(
                PlatformImageURN(publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: sku, version: nil),
                location: location, versions: ["24.04.202412010", platformVersion], hyperVGeneration: generation)
        }
        let desired = try AzureExecutorHarness.makeDesired(
            subscription: subscription, resourceGroup: resourceGroup, location: location,
            dataDisks: dataDisks, source: source)
        return ComputeTwinHarness(clock: clock, azure: azure, vm: vm, devices: InMemoryBlockDevices(), desired: desired)
    }

    var environment: ExecutorEnvironment {
        ExecutorEnvironment(
            desired: [desired], vm: BuilderVM(id: vm, location: location), azure: azure,
            disks: BuilderDisks(azure: azure, vm: vm, devices: devices, lock: InProcessLUNLock(), maxDataDisks: 4),
            local: .inMemory(), processEnvironment: [:])
    }

    /// Runs hand-made actions through the real scheduler, on the virtual clock, with an
    /// in-memory journal.
    func run(
        _ actions: [Action], store: InMemoryJournalStore = InMemoryJournalStore(),
        events: CollectingEventSink = CollectingEventSink(),
        interrupts: InterruptController = InterruptController()
    ) async -> ApplyResult {
        let scheduler = Scheduler(
            executor: Executors(environment, manifestDirectory: URL(fileURLWithPath: "/nonexistent")), journals: store,
            events: events,
            interrupts: interrupts, clock: clock)
        return await scheduler.run(plan(actions))
    }

    func action(
        _ kind: ActionKind, _ target: String? = nil, after: [ActionID] = [], change: Change = .create,
        status: ActionStatus = .todo, resource: String? = nil, operation: String? = nil
    ) -> Action {
        act(
            desired.name, kind, target, after: after, status: status, change: change, resource: resource,
            operation: operation)
    }

    func diskID(_ role: DiskRole) throws -> ResourceID { desired.diskID(role) }
    func snapshotID(_ role: DiskRole) throws -> ResourceID { desired.snapshotID(role) }
    func imageID() throws -> ResourceID { try #require(desired.imageID) }
    func versionID() throws -> ResourceID { try #require(desired.gallery?.id) }

    /// An id in the builder VM's resource group.
    func id(_ type: String, _ name: String) throws -> ResourceID {
        try ResourceID(
            parsing:
                "/subscriptions/\(Self.subscription)/resourceGroups/\(Self.resourceGroup)/providers/Microsoft.Compute/\(type)/\(name)"
        )
    }

    /// Creates an empty disk (or, for a snapshot id, a snapshot of one) with `tags` and
    /// waits for it.
    func createEmpty(
        _ id: ResourceID, tags: [String: String]? = nil, sizeGB: Int = 1, hyperVGeneration: String? = nil
    ) async throws {
        if id.isType("Microsoft.Compute/snapshots") {
            let source = try self.id("disks", id.name + "-source")
            try await createEmpty(source)
            try await azure.beginCreateSnapshot(
                id,
                AzureSnapshot(
                    location: location, tags: tags, sku: "Standard_LRS",
                    source: .copy(sourceID: source.description))
            )
            .waitUntilDone(timeout: .seconds(60))
        } else {
            try await azure.beginCreateDisk(
                id,
                AzureDisk(
                    location: location, tags: tags, sku: "Standard_LRS", source: .empty, sizeGB: sizeGB,
                    hyperVGeneration: hyperVGeneration)
            )
            .waitUntilDone(timeout: .seconds(60))
        }
    }

    /// Attaches `disk` to the builder VM and returns its LUN.
    func attach(_ disk: ResourceID) async throws -> Int {
        let luns = try await azure.updateDataDisks(
            [.attach(DataDiskAttachment(disk: disk))], on: vm, maxDataDisks: 4,
            lock: InProcessLUNLock(), timeout: .seconds(60))
        return try #require(luns.first ?? nil)
    }
}
