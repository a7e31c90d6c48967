import AzureEmulator
import Foundation
import Model
import Providers
import Reconciler
import TestSupport
import Testing

/// `kiln … --emulator-endpoints EP --emulator-vm I`: the target is builder VM I's IMDS (a
/// base URL with a path) and device root; an index the emulator does not have is an error.
@Suite struct EmulatorBuilderVMTarget {
    @Test func vm2sTargetReadsVM2sInstanceAndIdentityThroughItsIMDSPath() async throws {
        let state = try TemporaryDirectory("kiln-builder-vms")
        defer { state.remove() }
        var configuration = EmulatorConfiguration()
        configuration.builderVMCount = 3
        configuration.tls = false
        configuration.proxy = false
        let server = EmulatorServer(
            configuration: configuration, stateDirectory: state.url, backend: InMemoryDiskBackend())
        _ = try await server.start()
        do {
            let file = state.url.appendingPathComponent("endpoints.json").path
            let target = try AzureTarget.emulator(endpointsFile: file, vm: 2)
            #expect(target.cloud.imds.path == "/_vm/2")
            #expect(target.deviceRoot == state.url.appendingPathComponent("dev-vm2").path)
            // The managed identity Kiln would use is VM 2's; its instance is VM 2.
            let connection = try AzureConnection(
                cloud: target.cloud, credential: .managedIdentity, environment: [:], caFile: target.caFile)
            let instance = try await connection.imds.instance()
            #expect(instance.compute.name == "kiln-builder-2")
            let vm = try #require(instance.virtualMachineID)
            #expect(try await connection.arm.getVirtualMachine(vm)?.name == "kiln-builder-2")
            try await connection.shutdown()

            #expect(
                try AzureTarget.emulator(endpointsFile: file).deviceRoot == state.url.appendingPathComponent("dev").path
            )
            let error = try #require(throws: SessionError.self) { try AzureTarget.emulator(endpointsFile: file, vm: 3) }
            #expect(error.message.contains("has 3 builder VMs (0…2)"))
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    @Test func anEndpointsFileWithoutBuilderVMsHasOnlyVM0() throws {
        let dir = try TemporaryDirectory("kiln-target")
        defer { dir.remove() }
        let file = try dir.write(
            "endpoints.json",
            """
            {"arm": "http://127.0.0.1:1", "login": "http://127.0.0.1:1", "imds": "http://127.0.0.1:1", "deviceRoot": "/tmp/x",
             "credential": {"tenantId": "t", "clientId": "c", "clientSecret": "s"}}
            """)
        #expect(try AzureTarget.emulator(endpointsFile: file.path, vm: 0).deviceRoot == "/tmp/x")
        let error = try #require(throws: SessionError.self) {
            try AzureTarget.emulator(endpointsFile: file.path, vm: 1)
        }
        #expect(error.message.contains("has 1 builder VM (0…0)"))
    }
}
