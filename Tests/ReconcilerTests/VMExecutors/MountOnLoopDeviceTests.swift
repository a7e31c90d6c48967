import Foundation
import Model
import Planner
import Providers
import TestSupport
import Testing

@testable import Reconciler

#if canImport(Glibc)
    import Glibc
#endif

/// The VM-side chain on real parts: an ext4 loop device (standing in for the attached OS
/// disk), the system mount manager and the real chroot executor.
@Suite(
    .tags(.vmRoot),
    .enabled(if: getuid() == 0, "needs root (losetup, mount, chroot); run the tests as root, as CI does"),
    .enabled(if: VMBusybox.path != nil, "needs busybox-static (apt-get install -y busybox-static)"))
struct VMMountOnLoopDeviceTests {
    @Test func mountChrootMountsProvisionAndUnmountAWholeDiskThenMountItAgain() async throws {
        let dir = try TemporaryDirectory("kiln-vmx-loop")
        defer { dir.remove() }
        let host = ProcessCommandRunner()
        let image = dir.url.appendingPathComponent("disk.img").path
        try await host.runChecked(
            CommandSpec(
                "truncate -s 64M \(shellQuote(image)) && mkfs.ext4 -q -F \(shellQuote(image))", timeout: .seconds(120)))
        let device = try await host.runChecked(
            CommandSpec("losetup -f --show \(shellQuote(image))", timeout: .seconds(60), captureStdout: true)
        )
        .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let root = canonicalPath(dir.url.path) + "/mnt"
        defer {
            // Runs even when an expectation failed: nothing may stay mounted or attached.
            let cleanup =
                "if mountpoint -q \(shellQuote(root)); then umount -R \(shellQuote(root)); fi; losetup -d \(shellQuote(device))"
            _ = Glibc.system(cleanup)
        }

        var f = try await VMExecutorFixture(
            build: """
                    mount:
                      path: '\(root)'
                      partition: whole
                      chrootMounts: [{type: proc, source: proc, target: /proc}, {type: bind, source: /dev, target: /dev}]
                      copyFiles: []
                    provision:
                      - name: check
                        shell: ['test -r /proc/self/status && test -c /dev/null && echo "$KILN_DEVICE" > /root/ok']
                """, osDevice: device)
        f.env.local.mounts = SystemMountManager(runner: host)
        f.env.local.chroot = SystemChrootExecutor(runner: host)

        #expect(try await f.run(.mount).device == device)
        try await f.run(.mount)
        #expect(try await f.env.local.mounts.mountTable().entries(under: root).map(\.source) == [device])
        try await VMBusybox.makeRoot(at: root)

        try await f.run(.chrootMounts)
        try await f.run(.chrootMounts)
        #expect(
            try await f.env.local.mounts.mountTable().entries(under: root).map(\.mountPoint) == [
                root, root + "/proc", root + "/dev"
            ])

        try await f.run(.provision, "check")
        try await f.run(.unmount)
        #expect(try await f.env.local.mounts.mountTable().entries(under: root).isEmpty)

        // A resume after a reboot mounts the same disk again and finds what provisioning wrote.
        try await f.run(.mount)
        #expect(try String(contentsOfFile: root + "/root/ok", encoding: .utf8) == device + "\n")
        try await f.run(.unmount)
        #expect(try await f.env.local.mounts.mountTable().entries(under: root).isEmpty)
    }
}
