import Foundation
import Testing

@testable import AzureEmulator

/// The emulator killed (SIGKILL: no orderly stop) and started again on the same state: it
/// reconciles what the kernel kept with what its state says, so no device is left that no
/// disk owns, a detach that was in flight still frees its device when it completes, and
/// fault rules keep their counts. (Issue 13: a crash during a detach leaked a loop device.)
@Suite("Emulator restart recovery")
struct RestartRecoveryTests {
    @Test func aDetachInFlightAtACrashFreesItsDeviceAfterTheRestartAndStrayDevicesGo() async throws {
        let dir = Harness.freshDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let disks = InMemoryDiskBackend(deviceRoot: dir.appendingPathComponent("dev").path)
        let backend = CrashableBackend(disks)
        let first = try await Harness.start(stateDirectory: dir, backend: backend)
        let token = first.token
        do {
            try await first.createDisk("stays")
            try await first.createDisk("leaves")
            let attach = try await first.send(
                "POST", first.attachDetachPath,
                json: [
                    "dataDisksToAttach": [
                        ["diskId": .string(first.diskID("stays")), "lun": 0],
                        ["diskId": .string(first.diskID("leaves")), "lun": 1]
                    ]
                ])
            _ = try await first.waitForOperation(attach)
            // A device nobody owns, as a crash between making it and recording it leaves.
            try await disks.createEmpty(id: "stray", sizeGB: 1)
            _ = try await disks.attach(id: "stray", lun: 7)
            _ = try await first.send("PUT", "/_emulator/latency", json: ["detach": 2], auth: false)
            let detach = try await first.send(
                "POST", first.attachDetachPath,
                json: ["dataDisksToDetach": [["diskId": .string(first.diskID("leaves"))]]])
            #expect(detach.status == 202)
        } catch {
            await first.stop(removeState: false)
            throw error
        }
        await backend.crash()  // the kernel keeps every device through the stop that follows
        await first.stop(removeState: false)
        #expect(await disks.attachedBlobs().count == 3)

        await backend.recover()
        var second = try await Harness.start(stateDirectory: dir, backend: backend, getToken: false)
        second.token = token
        do {
            let leaves = Emulator.normalizeID(second.diskID("leaves"))
            let stays = Emulator.normalizeID(second.diskID("stays"))
            // Right after the start: the stray device is freed, the detaching disk is kept
            // for its operation to free.
            #expect(await disks.blob(atLUN: 7) == nil)
            #expect(await disks.blob(atLUN: 1) == leaves)
            #expect(await disks.blob(atLUN: 0) == stays)
            var released = false
            for _ in 0..<100 where !released {
                let disk = try await second.send("GET", second.diskPath("leaves"))
                released = disk.json?.at("properties", "diskState")?.stringValue == "Unattached"
                if !released { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(released)
            #expect(await disks.blob(atLUN: 1) == nil)
            #expect(await disks.attachedBlobs() == [BuilderLUN(vm: 0, lun: 0): stays])
            let inventory = try await second.send("GET", "/_emulator/inventory", auth: false)
            #expect(inventory.json?["violations"]?.arrayValue?.isEmpty ?? true)
        } catch {
            await second.stop(removeState: false)
            throw error
        }
        await second.stop(removeState: false)
    }

    @Test func faultRulesKeepTheirCountsThroughARestart() async throws {
        let dir = Harness.freshDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let disks = InMemoryDiskBackend(deviceRoot: dir.appendingPathComponent("dev").path)
        let first = try await Harness.start(stateDirectory: dir, backend: disks)
        let token = first.token
        _ = try await first.send(
            "PUT", "/_emulator/faults",
            json: [["kind": "error", "status": 503, "method": "GET", "path": "*/virtualMachines/*", "times": 2]],
            auth: false)
        #expect(try await first.vm().status == 503)
        await first.stop(removeState: false)

        var second = try await Harness.start(stateDirectory: dir, backend: disks, getToken: false)
        second.token = token
        // One of the rule's two left, then none: 2 in all, not 2 per start.
        #expect(try await second.vm().status == 503)
        #expect(try await second.vm().status == 200)
        await second.stop()
    }

    @Test func aFaultRuleCanMatchTheRequestBody() async throws {
        try await withEmulator { h in
            try await h.createDisk("a")
            try await h.createDisk("b")
            _ = try await h.send(
                "PUT", "/_emulator/faults",
                json: [
                    ["kind": "failOperation", "method": "POST", "body": "*dataDisksToAttach*/disks/b\"*", "times": 1]
                ],
                auth: false)
            let a = try await h.send(
                "POST", h.attachDetachPath, json: ["dataDisksToAttach": [["diskId": .string(h.diskID("a")), "lun": 0]]])
            #expect(try await h.waitForOperation(a).json?["status"]?.stringValue == "Succeeded")
            let b = try await h.send(
                "POST", h.attachDetachPath, json: ["dataDisksToAttach": [["diskId": .string(h.diskID("b")), "lun": 1]]])
            #expect(try await h.waitForOperation(b).json?["status"]?.stringValue == "Failed")
        }
    }
}

/// A disk backend whose devices survive the emulator's stop while `crashed`, as loop
/// devices survive a SIGKILL of the emulator.
actor CrashableBackend: WrappedDiskBackend {
    let inner: InMemoryDiskBackend
    var crashed = false
    init(_ inner: InMemoryDiskBackend) { self.inner = inner }
    func crash() { crashed = true }
    func recover() { crashed = false }
    func detachAll() async { if !crashed { await inner.detachAll() } }
}
