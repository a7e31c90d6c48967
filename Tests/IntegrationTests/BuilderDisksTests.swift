import AzureEmulator
import Foundation
import Model
import Providers
import TestSupport
import Testing

/// An emulator in this process with real loop devices, and Kiln's providers talking to it
/// over HTTP: attach and detach as Kiln does them on a builder VM.
struct LoopEmulator {
    let server: EmulatorServer
    let endpoints: EmulatorEndpoints
    let connection: AzureConnection
    let state: TemporaryDirectory
    let vm: ResourceID

    static func start(reusing existing: TemporaryDirectory? = nil) async throws -> LoopEmulator {
        let state = try existing ?? TemporaryDirectory("kiln-integration")
        let configuration = EmulatorConfiguration()
        let deviceRoot = EmulatorServer.deviceRoot(for: configuration, stateDirectory: state.url)
        let backend = try LoopDiskBackend(
            stateDirectory: state.url.appendingPathComponent("disks").path, deviceRoot: deviceRoot.path,
            imageCacheDirectory: state.url.appendingPathComponent("images").path)
        let server = EmulatorServer(configuration: configuration, stateDirectory: state.url, backend: backend)
        let endpoints = try await server.start()
        let cloud = AzureCloud.emulator(
            arm: URL(string: endpoints.arm)!, login: URL(string: endpoints.login), imds: URL(string: endpoints.imds))
        let env = [
            "AZURE_TENANT_ID": endpoints.credential.tenantId, "AZURE_CLIENT_ID": endpoints.credential.clientId,
            "AZURE_CLIENT_SECRET": endpoints.credential.clientSecret ?? ""
        ]
        let connection = try AzureConnection(
            cloud: cloud, credential: .environment, environment: env, caFile: endpoints.caFile)
        return LoopEmulator(
            server: server, endpoints: endpoints, connection: connection, state: state,
            vm: try ResourceID(parsing: endpoints.builderVMId))
    }

    func stop() async {
        try? await connection.shutdown()
        await server.stop()
        state.remove()
    }

    func disk(_ name: String) throws -> ResourceID {
        try ResourceID(
            parsing:
                "/subscriptions/\(vm.subscription)/resourceGroups/\(vm.resourceGroup)/providers/Microsoft.Compute/disks/\(name)"
        )
    }

    /// A disk made from the catalog's first platform image.
    func platformDisk(_ name: String) async throws -> ResourceID {
        let id = try disk(name)
        let image =
            "/subscriptions/\(vm.subscription)/providers/Microsoft.Compute/locations/\(endpoints.location)/publishers/Canonical/artifacttypes/vmimage/offers/ubuntu-24_04-lts/skus/server/versions/24.04.202501010"
        _ = try await connection.arm.beginCreateDisk(
            id,
            ArmDisk(
                location: endpoints.location,
                properties: .init(creationData: .init(createOption: "FromImage", imageReference: .init(id: image))))
        )
        .wait(timeout: .seconds(120))
        return id
    }

    func builderDisks(lockPath: String) -> BuilderDisks {
        BuilderDisks(
            azure: connection.compute, vm: vm, devices: SystemBlockDevices(deviceRoot: endpoints.deviceRoot),
            lock: HostFileLUNLock(path: lockPath, timeout: .seconds(60)), maxDataDisks: 4)
    }
}

@Suite(.serialized, .enabled(if: Privileges.isRoot, "needs root: attaches disks as loop devices and mounts them"))
struct BuilderDisksOnLoopDevices {
    @Test func attachGivesADeviceAndDetachIsRefusedWhileMounted() async throws {
        let emulator = try await LoopEmulator.start()
        let mountPoint = emulator.state.url.appendingPathComponent("mnt").path
        let runner = ProcessCommandRunner()
        do {
            let disks = emulator.builderDisks(lockPath: emulator.state.url.appendingPathComponent("lun.lock").path)
            let id = try await emulator.platformDisk("root")
            let device = try await disks.attach(id, timeout: .seconds(60), deviceTimeout: .seconds(30))
            #expect(device.lun == 0)
            #expect(device.path.hasPrefix("/dev/loop"))
            let partition = try await disks.devices.waitForPartition(1, of: device, timeout: .seconds(10))
            let mounts = SystemMountManager(runner: runner)
            try await mounts.mount(MountRequest(source: partition, target: mountPoint, kind: .filesystem(type: "ext4")))
            await #expect(throws: BuilderDiskError.stillInUse(disk: "root", lun: 0, device: device.path)) {
                try await disks.detach(id, timeout: .seconds(60), deviceTimeout: .seconds(30))
            }
            #expect(try await emulator.connection.arm.getDisk(id)?.properties?.diskState == "Attached")
            _ = try await mounts.unmountAll(under: mountPoint)
            try await disks.detach(id, timeout: .seconds(60), deviceTimeout: .seconds(30))
            #expect(try await disks.devices.device(lun: 0) == nil)
            #expect(try await emulator.connection.arm.getDisk(id)?.properties?.diskState == "Unattached")
        } catch {
            _ = try? await runner.run(CommandSpec("umount -R \(shellQuote(mountPoint)) 2>/dev/null || true"))
            await emulator.stop()
            throw error
        }
        await emulator.stop()
    }

    @Test func twoKilnProcessesNeverPickTheSameLUN() async throws {
        let emulator = try await LoopEmulator.start()
        do {
            let lockPath = emulator.state.url.appendingPathComponent("lun.lock").path
            let a = try await emulator.platformDisk("a")
            let b = try await emulator.platformDisk("b")
            // Two BuilderDisks with their own file-lock handles stand for two processes.
            let first = emulator.builderDisks(lockPath: lockPath)
            let second = emulator.builderDisks(lockPath: lockPath)
            async let x = first.attach(a, timeout: .seconds(60), deviceTimeout: .seconds(30))
            async let y = second.attach(b, timeout: .seconds(60), deviceTimeout: .seconds(30))
            let (da, db) = try await (x, y)
            #expect(Set([da.lun, db.lun]) == [0, 1])
            #expect(da.path != db.path)
            // A re-run adopts the attachment instead of attaching twice.
            #expect(try await first.attach(a, timeout: .seconds(60), deviceTimeout: .seconds(30)).lun == da.lun)
            try await first.detach(a, timeout: .seconds(60), deviceTimeout: .seconds(30))
            try await second.detach(b, timeout: .seconds(60), deviceTimeout: .seconds(30))
        } catch {
            await emulator.stop()
            throw error
        }
        await emulator.stop()
    }
}

@Suite struct SizeLimits {
    @Test func dataDiskLimitsFollowTheSizeName() {
        #expect(VMSizeLimits.maxDataDisks(forSize: "Standard_D2s_v5") == 4)
        #expect(VMSizeLimits.maxDataDisks(forSize: "Standard_B1s") == 2)
        #expect(VMSizeLimits.maxDataDisks(forSize: "Standard_D64s_v5") == 32)
        #expect(VMSizeLimits.maxDataDisks(forSize: "Standard_M128s") == 64)
        #expect(VMSizeLimits.maxDataDisks(forSize: nil) == 64)
        #expect(VMSizeLimits.maxDataDisks(forSize: "weird") == 64)
    }
}
