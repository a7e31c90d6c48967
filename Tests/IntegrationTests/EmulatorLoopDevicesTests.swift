import AzureEmulator
import Foundation
import Model
import Providers
import TestSupport
import Testing

/// The emulator over HTTP with real loop devices: what a client writes through an attached
/// disk's partition link is in the disk after detach; a detach while mounted is a recorded
/// violation; a restart re-attaches; a reset leaves no device or link behind.
@Suite(.serialized, .enabled(if: Privileges.isRoot, "needs root: attaches disks as loop devices and mounts them"))
struct EmulatorLoopDevices {
    let runner = ProcessCommandRunner()

    func sh(_ command: String) async throws -> String {
        try await runner.runChecked(CommandSpec(command, captureStdout: true)).stdout.trimmingCharacters(
            in: .whitespacesAndNewlines)
    }

    func control(_ emulator: LoopEmulator, _ method: AzureHTTPMethod, _ path: String) async throws -> [String: Any] {
        let response = try await emulator.connection.transport.send(
            AzureHTTPRequest(method: method, url: URL(string: emulator.endpoints.control + path)!))
        try #require(response.isSuccess, "\(method) \(path): HTTP \(response.status)")
        return (try? JSONSerialization.jsonObject(with: response.body) as? [String: Any]) ?? [:]
    }

    func link(_ emulator: LoopEmulator, _ name: String) -> String {
        emulator.endpoints.deviceRoot + "/disk/azure/scsi1/" + name
    }

    @Test func aFileWrittenThroughThePartitionLinkIsInTheDiskAfterDetach() async throws {
        let emulator = try await LoopEmulator.start()
        let mountPoint = emulator.state.url.appendingPathComponent("mnt").path
        defer {
            Task { _ = try? await runner.run(CommandSpec("umount -R \(shellQuote(mountPoint)) 2>/dev/null || true")) }
        }
        do {
            let arm = emulator.connection.arm
            let lock = InProcessLUNLock()
            let id = try await emulator.platformDisk("os")
            // As large as the image says (the catalog's 30 GB), though the file standing in
            // for the image is smaller: the disk's file grows sparse.
            #expect(try await arm.getDisk(id)?.properties?.diskSizeGB == 30)
            let lun = try await arm.attachDataDisk(
                id, to: emulator.vm, maxDataDisks: 4, lock: lock, timeout: .seconds(60))
            #expect(FileManager.default.fileExists(atPath: link(emulator, "lun\(lun)-part1")))
            _ = try await sh(
                "mkdir -p \(shellQuote(mountPoint)) && mount \(shellQuote(link(emulator, "lun\(lun)-part1"))) \(shellQuote(mountPoint))"
            )
            try "through lun0-part1\n".write(toFile: mountPoint + "/root/marker", atomically: false, encoding: .utf8)
            _ = try await sh("umount \(shellQuote(mountPoint))")
            try await arm.detachDataDisk(id, from: emulator.vm, timeout: .seconds(60))
            #expect(!FileManager.default.fileExists(atPath: link(emulator, "lun\(lun)")))
            // Attach again and read the file back from the disk.
            let again = try await arm.attachDataDisk(
                id, to: emulator.vm, maxDataDisks: 4, lock: lock, timeout: .seconds(60))
            _ = try await sh("mount -o ro \(shellQuote(link(emulator, "lun\(again)-part1"))) \(shellQuote(mountPoint))")
            #expect(try String(contentsOfFile: mountPoint + "/root/marker", encoding: .utf8) == "through lun0-part1\n")
            _ = try await sh("umount \(shellQuote(mountPoint))")
            try await arm.detachDataDisk(id, from: emulator.vm, timeout: .seconds(60))
        } catch {
            await emulator.stop()
            throw error
        }
        await emulator.stop()
    }

    @Test func aDetachWhileMountedIsAViolationInTheInventory() async throws {
        let emulator = try await LoopEmulator.start()
        let mountPoint = emulator.state.url.appendingPathComponent("busy").path
        do {
            let arm = emulator.connection.arm
            let id = try await emulator.platformDisk("busy")
            let lun = try await arm.attachDataDisk(
                id, to: emulator.vm, maxDataDisks: 4, lock: InProcessLUNLock(), timeout: .seconds(60))
            let device = try await sh("readlink -f \(shellQuote(link(emulator, "lun\(lun)-part1")))")
            _ = try await sh(
                "mkdir -p \(shellQuote(mountPoint)) && mount \(shellQuote(device)) \(shellQuote(mountPoint))")
            // Azure does not know about mounts: the raw ARM detach goes through, and the emulator records it.
            try await arm.detachDataDisk(id, from: emulator.vm, timeout: .seconds(60))
            let inventory = try await control(emulator, .get, "/inventory")
            let violations = try #require(inventory["violations"] as? [[String: Any]])
            #expect(violations.contains { ($0["message"] as? String)?.contains("mounted") == true })
            _ = try await sh("umount \(shellQuote(mountPoint))")
        } catch {
            _ = try? await runner.run(CommandSpec("umount -l \(shellQuote(mountPoint)) 2>/dev/null || true"))
            await emulator.stop()
            throw error
        }
        await emulator.stop()
    }

    @Test func aRestartReattachesAndAResetLeavesNothingBehind() async throws {
        var emulator = try await LoopEmulator.start()
        do {
            let arm = emulator.connection.arm
            let lock = InProcessLUNLock()
            let a = try await emulator.platformDisk("a")
            let b = try await emulator.platformDisk("b")
            _ = try await arm.attachDataDisk(a, to: emulator.vm, maxDataDisks: 4, lock: lock, timeout: .seconds(60))
            _ = try await arm.attachDataDisk(b, to: emulator.vm, maxDataDisks: 4, lock: lock, timeout: .seconds(60))
            let blobs = emulator.state.url.appendingPathComponent("disks/blobs").path
            #expect(try await sh("losetup -a | grep -c \(shellQuote(blobs)) || true") == "2")
            // Stop (detaches everything) and start again on the same state: attachments come back.
            emulator = try await emulator.restarted()
            #expect(try await sh("losetup -a | grep -c \(shellQuote(blobs)) || true") == "2")
            #expect(
                FileManager.default.fileExists(atPath: link(emulator, "lun0"))
                    && FileManager.default.fileExists(atPath: link(emulator, "lun1")))
            _ = try await control(emulator, .post, "/reset")
            #expect(try await sh("losetup -a | grep -c \(shellQuote(blobs)) || true") == "0")
            let links =
                (try? FileManager.default.contentsOfDirectory(
                    atPath: emulator.endpoints.deviceRoot + "/disk/azure/scsi1")) ?? []
            #expect(links.isEmpty)
            #expect(try await emulator.connection.arm.getDisk(a) == nil)
        } catch {
            await emulator.stop()
            throw error
        }
        await emulator.stop()
    }
}

extension LoopEmulator {
    /// Stops this emulator (keeping its state) and starts a new one on the same directory.
    func restarted() async throws -> LoopEmulator {
        try? await connection.shutdown()
        await server.stop()
        return try await LoopEmulator.start(reusing: state)
    }
}
