import Foundation
import Providers
import TestSupport
import Testing

/// The pieces together, as a build uses them: a loop-backed ext4 disk found through a
/// LUN link, mounted, given chroot mounts, provisioned in a busybox chroot with the host's
/// resolv.conf, then restored, unmounted deepest-first and verified free.
@Suite("Provisioning a loop-backed disk")
struct ChrootOnLoopDiskTests {
    @Test(.tags(.hostRoot), .enabled(if: Privileges.isRoot, rootSkipReason))
    func mountProvisionRestoreAndUnmount() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let loop = try await TestLoopDevice.make(in: scratch.path)
        let mountPath = "\(scratch.path)/mnt/web"
        let runner = ProcessCommandRunner()
        let mounts = SystemMountManager(runner: runner)
        do {
            try await host("mkfs.ext4 -q -F \(shellQuote(loop.device))")
            let devRoot = "\(scratch.path)/dev"
            try FileManager.default.createDirectory(
                atPath: "\(devRoot)/disk/azure/scsi1", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(
                atPath: "\(devRoot)/disk/azure/scsi1/lun0", withDestinationPath: loop.device)
            let devices = SystemBlockDevices(deviceRoot: devRoot, pollInterval: .milliseconds(20))
            let device = try await devices.waitForDevice(lun: 0, timeout: .seconds(10))
            let partition = try await devices.waitForPartition(nil, of: device, timeout: .seconds(1))

            try await mounts.mount(MountRequest(source: partition, target: mountPath, kind: .filesystem(type: "ext4")))
            try await makeBusyboxRoot(at: mountPath)
            try FileManager.default.createSymbolicLink(
                atPath: "\(mountPath)/etc/resolv.conf", withDestinationPath: "../run/resolv.conf")
            try await mounts.mount(
                MountRequest(source: "proc", target: "\(mountPath)/proc", kind: .filesystem(type: "proc")))
            try await mounts.mount(
                MountRequest(source: "tmpfs", target: "\(mountPath)/run", kind: .filesystem(type: "tmpfs")))

            try scratch.write("host-resolv.conf", "nameserver 192.0.2.53\n")
            let chroot = SystemChrootExecutor(runner: runner)
            try await chroot.copyHostFile("\(scratch.path)/host-resolv.conf", to: "/etc/resolv.conf", root: mountPath)
            let lines = Collector<String>()
            let result = try await chroot.run(
                ChrootCommand(
                    root: mountPath,
                    command:
                        "cat /etc/resolv.conf; test -r /proc/self/status && echo proc-ok; echo \"$DEVICE\" > /etc/provisioned-from",
                    device: partition, timeout: .seconds(60)),
                output: { lines.append($0.text) })
            #expect(result.succeeded)
            #expect(lines.values == ["nameserver 192.0.2.53", "proc-ok"])
            #expect(try await chroot.restoreHostFile(at: "/etc/resolv.conf", root: mountPath) == .restoredOriginal)
            #expect(
                try FileManager.default.destinationOfSymbolicLink(atPath: "\(mountPath)/etc/resolv.conf")
                    == "../run/resolv.conf")

            #expect(try await devices.isInUse(loop.device))
            let unmounted = try await mounts.unmountAll(under: mountPath)
            #expect(unmounted.last?.mountPoint == mountPath)
            #expect(try await !devices.isInUse(loop.device), "free to detach")

            // What the provisioner wrote is on the disk.
            try await mounts.mount(
                MountRequest(source: partition, target: mountPath, kind: .filesystem(type: "ext4"), options: ["ro"]))
            #expect(
                try String(contentsOfFile: "\(mountPath)/etc/provisioned-from", encoding: .utf8) == partition + "\n")
            try await mounts.unmountAll(under: mountPath)
        } catch {
            await forceUnmount(mountPath)
            await loop.detach()
            throw error
        }
        await forceUnmount(mountPath)
        await loop.detach()
    }

    @Test(.tags(.hostRoot), .enabled(if: Privileges.isRoot, rootSkipReason))
    func cancellingAChrootCommandEndsItsProcessGroup() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let root = "\(scratch.path)/root"
        try await makeBusyboxRoot(at: root)
        let chroot = SystemChrootExecutor(runner: ProcessCommandRunner())
        let task = Task {
            try await chroot.run(
                ChrootCommand(root: root, command: "sleep 300 & echo $! > /tmp/pid; wait"), output: { _ in })
        }
        #expect(
            await eventually {
                ((try? String(contentsOfFile: "\(root)/tmp/pid", encoding: .utf8)) ?? "").hasSuffix("\n")
            })
        task.cancel()
        await #expect {
            _ = try await task.value
        } throws: { error in
            if case CommandRunnerError.cancelled = error { return true }
            return false
        }
        let pid = try #require(
            Int32(
                String(contentsOfFile: "\(root)/tmp/pid", encoding: .utf8).trimmingCharacters(
                    in: .whitespacesAndNewlines)))
        #expect(await eventually { !processIsAlive(pid) })
    }
}
