import Foundation
import Providers
import TestSupport
import Testing

@Suite("Mounting")
struct MountManagerTests {
    @Test func mountCommandsAreQuotedAndWrappedIncludingMkdir() async throws {
        let runner = InMemoryCommandRunner(wrapper: CommandWrapper { "sudo " + $0 })
        let mounts = SystemMountManager(runner: runner)
        try await mounts.mount(
            MountRequest(
                source: "/dev/sdc1", target: "/mnt/kiln/a b", kind: .filesystem(type: "ext4"),
                options: ["noatime", "x=$(y)"]))
        try await mounts.mount(MountRequest(source: "/dev", target: "/mnt/kiln/a b/dev", kind: .bind(recursive: false)))
        try await mounts.unmount("/mnt/kiln/a b/dev")
        #expect(
            await runner.commands == [
                "sudo mkdir -p -- '/mnt/kiln/a b'",
                "sudo mount -t ext4 -o noatime -o 'x=$(y)' /dev/sdc1 '/mnt/kiln/a b'",
                "sudo mkdir -p -- '/mnt/kiln/a b/dev'",
                "sudo mount --bind /dev '/mnt/kiln/a b/dev'",
                "sudo umount '/mnt/kiln/a b/dev'"
            ])
    }

    @Test func aFailedMountCarriesTheCommandOutput() async throws {
        let runner = InMemoryCommandRunner()
        await runner.on("mount -t", respond: .exit(32, stderr: ["mount: /mnt/x: wrong fs type, bad option"]))
        let mounts = SystemMountManager(runner: runner)
        await #expect {
            try await mounts.mount(MountRequest(source: "/dev/sdz1", target: "/mnt/x", kind: .filesystem(type: "xfs")))
        } throws: { error in
            guard case MountError.commandFailed(let operation, let cause) = error else { return false }
            return operation.contains("/dev/sdz1 on /mnt/x") && cause.contains("wrong fs type")
                && cause.contains("status 32")
        }
    }

    @Test(.tags(.hostRoot), .enabled(if: Privileges.isRoot, rootSkipReason))
    func mountsALoopBackedExt4WithBindsAndUnmountsDeepestFirst() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let loop = try await TestLoopDevice.make(in: scratch.path)
        let target = "\(scratch.path)/mnt/kiln root"
        do {
            try await host("mkfs.ext4 -q -F \(shellQuote(loop.device))")
            try scratch.write("host-data/file.txt", "from the host")
            let wrapped = Collector<String>()
            let mounts = SystemMountManager(
                runner: ProcessCommandRunner(
                    wrapper: CommandWrapper {
                        wrapped.append($0)
                        return $0
                    }))

            try await mounts.mount(
                MountRequest(source: loop.device, target: target, kind: .filesystem(type: "ext4"), options: ["noatime"])
            )
            try await mounts.mount(
                MountRequest(
                    source: "tmpfs", target: "\(target)/run", kind: .filesystem(type: "tmpfs"), options: ["size=1m"]))
            try await mounts.mount(
                MountRequest(
                    source: "\(scratch.path)/host-data", target: "\(target)/run/deep/er/data",
                    kind: .bind(recursive: false)))
            try await mounts.mount(
                MountRequest(source: "proc", target: "\(target)/proc", kind: .filesystem(type: "proc")))

            #expect(wrapped.values.contains("mkdir -p -- \(shellQuote(target))"), "mkdir goes through the wrapper")
            let table = try await mounts.mountTable()
            let mounted = table.entries(under: target)
            #expect(
                mounted.map(\.mountPoint) == [target, "\(target)/run", "\(target)/run/deep/er/data", "\(target)/proc"])
            #expect(table.entry(at: target)?.source == loop.device)
            #expect(
                FileManager.default.contents(atPath: "\(target)/run/deep/er/data/file.txt")
                    == Data("from the host".utf8))
            #expect(table.entries(onDevice: loop.device).map(\.mountPoint) == [target])
            #expect(try await SystemBlockDevices().isInUse(loop.device), "a mounted device is in use")

            let unmounted = try await mounts.unmountAll(under: target)
            let order = unmounted.map(\.mountPoint)
            #expect(order.count == 4)
            #expect(order.first == "\(target)/run/deep/er/data")
            #expect(order.last == target)
            #expect(order.firstIndex(of: "\(target)/run")! > order.firstIndex(of: "\(target)/run/deep/er/data")!)
            #expect(try await mounts.mountTable().entries(under: target).isEmpty)
            #expect(try await !SystemBlockDevices().isInUse(loop.device), "free again once unmounted")
            // Nothing left: a second call is a no-op.
            #expect(try await mounts.unmountAll(under: target).isEmpty)
        } catch {
            await forceUnmount(target)
            await loop.detach()
            throw error
        }
        await forceUnmount(target)
        await loop.detach()
    }

    @Test(.tags(.hostRoot), .enabled(if: Privileges.isRoot, rootSkipReason))
    func aBusyMountIsReportedAsStillMountedThenUnmountsOnceFree() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let target = "\(scratch.path)/busy"
        let mounts = SystemMountManager(runner: ProcessCommandRunner())
        let runner = ProcessCommandRunner()
        var holder: Task<CommandResult, any Error>?
        do {
            try await mounts.mount(MountRequest(source: "tmpfs", target: target, kind: .filesystem(type: "tmpfs")))
            try await mounts.mount(
                MountRequest(source: "tmpfs", target: "\(target)/inner", kind: .filesystem(type: "tmpfs")))
            // A process whose working directory is inside keeps the inner mount busy.
            holder = Task {
                try await runner.run(
                    CommandSpec(
                        "touch ready; sleep 300", workingDirectory: "\(target)/inner", killGracePeriod: .seconds(1)))
            }
            #expect(await eventually { FileManager.default.fileExists(atPath: "\(target)/inner/ready") })
            await #expect {
                try await mounts.unmountAll(under: target)
            } throws: { error in
                guard case MountError.stillMounted(let path, let remaining, let failures) = error else { return false }
                return path == target && remaining.map(\.mountPoint) == [target, "\(target)/inner"]
                    && failures["\(target)/inner"]?.contains("busy") == true
                    && "\(error)".contains("still mounted: \(target)")
            }
            holder?.cancel()
            _ = try? await holder?.value
            try await mounts.unmountAll(under: target)
            #expect(try await mounts.mountTable().entries(under: target).isEmpty)
        } catch {
            holder?.cancel()
            _ = try? await holder?.value
            await forceUnmount(target)
            throw error
        }
        await forceUnmount(target)
    }
}

@Suite("InMemoryMountManager")
struct InMemoryMountManagerTests {
    @Test func unmountsDeepestFirstEvenWhenMountedOutOfOrder() async throws {
        let mounts = InMemoryMountManager()
        try await mounts.mount(MountRequest(source: "/dev/sdc1", target: "/mnt/k", kind: .filesystem(type: "ext4")))
        try await mounts.mount(MountRequest(source: "proc", target: "/mnt/k/proc", kind: .filesystem(type: "proc")))
        try await mounts.mount(MountRequest(source: "/dev", target: "/mnt/k/dev", kind: .bind(recursive: false)))
        try await mounts.mount(
            MountRequest(source: "devpts", target: "/mnt/k/dev/pts", kind: .filesystem(type: "devpts")))
        let order = try await mounts.unmountAll(under: "/mnt/k").map(\.mountPoint)
        #expect(order == ["/mnt/k/dev/pts", "/mnt/k/dev", "/mnt/k/proc", "/mnt/k"])
        #expect(await mounts.table.entries(under: "/mnt/k").isEmpty)
        #expect(await mounts.directories == ["/mnt/k", "/mnt/k/proc", "/mnt/k/dev", "/mnt/k/dev/pts"])
    }

    @Test func aBusyMountFailsVerificationAndNamesWhatIsLeft() async throws {
        let mounts = InMemoryMountManager()
        try await mounts.mount(MountRequest(source: "/dev/sdc1", target: "/mnt/k", kind: .filesystem(type: "ext4")))
        try await mounts.mount(MountRequest(source: "proc", target: "/mnt/k/proc", kind: .filesystem(type: "proc")))
        await mounts.setBusy(["/mnt/k/proc"])
        await #expect {
            try await mounts.unmountAll(under: "/mnt/k")
        } throws: { error in
            guard case MountError.stillMounted(_, let remaining, let failures) = error else { return false }
            return remaining.map(\.mountPoint) == ["/mnt/k", "/mnt/k/proc"]
                && failures["/mnt/k/proc"]?.contains("busy") == true
        }
        await mounts.setBusy([])
        try await mounts.unmountAll(under: "/mnt/k")
    }

    @Test func mountFailuresAndUnmountingNothingAreErrors() async throws {
        let mounts = InMemoryMountManager()
        await mounts.setFailMounts("mount: wrong fs type")
        await #expect(throws: MountError.self) {
            try await mounts.mount(MountRequest(source: "/dev/sdz", target: "/mnt/z", kind: .filesystem(type: nil)))
        }
        await #expect {
            try await mounts.unmount("/mnt/none")
        } throws: { error in
            guard case MountError.notMounted(let path) = error else { return false }
            return path == "/mnt/none"
        }
    }
}
