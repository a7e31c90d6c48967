import Foundation
import Model
import Planner
import Providers
import Testing

@testable import Reconciler

@Suite struct VMProvisionTests {
    static let steps = """
            provision:
              - name: motd
                shell: ['echo {{.BuildName}} > /etc/motd', 'cat {{.MountPath}}/etc/motd']
                env: {GREETING: 'hello {{.BuildName}}', SPACED: 'a b'}
                timeout: 90s
              - name: setup
                script: setup.sh
                args: [--level, '2 3', '{{.Device}}']
              - name: banner
                upload: {source: files/motd, destination: /etc/banner, mode: '0600'}
              - name: keep-mode
                upload: {source: files/motd, destination: /etc/motd2}
        """

    @Test func aShellStepRunsEachLineInTheChrootWithTheStepEnvironment() async throws {
        let f = try await VMExecutorFixture(build: Self.steps)
        try await f.mountRoot()
        try await f.run(.provision, "motd")
        let commands = await f.chroot.commands
        #expect(commands.map(\.command) == ["echo vmx > /etc/motd", "cat \(f.root)/etc/motd"])
        for command in commands {
            #expect(command.root == f.root)
            #expect(command.device == "/dev/sdc1")
            #expect(command.timeout == .seconds(90))
            #expect(command.environment["GREETING"] == "hello vmx")
            #expect(command.environment["SPACED"] == "a b")
            #expect(command.environment["KILN_DEVICE"] == "/dev/sdc")
            #expect(command.environment["KILN_MOUNT_PATH"] == f.root)
            #expect(command.effectiveEnvironment["MOUNT_PATH"] == f.root)
            #expect(command.effectiveEnvironment["DEVICE"] == "/dev/sdc1")
        }
        #expect(f.progress.details == ["[1/2] echo vmx > /etc/motd", "[2/2] cat \(f.root)/etc/motd"])
    }

    @Test func aScriptIsUploadedExecutableThenRunWithQuotedArgumentsAndRemoved() async throws {
        let f = try await VMExecutorFixture(build: Self.steps)
        try await f.mountRoot()
        try await f.run(.provision, "setup")
        #expect(
            await f.chroot.files[f.root + "/tmp/kiln-setup.sh"]
                == .file(contents: "#!/bin/sh\necho setup \"$@\"\n", mode: 0o755))
        #expect(
            await f.chroot.commands.map(\.command) == [
                "/tmp/kiln-setup.sh --level '2 3' /dev/sdc", "rm -f /tmp/kiln-setup.sh"
            ])
    }

    @Test func anUploadKeepsTheStepModeOrTheSourceMode() async throws {
        let f = try await VMExecutorFixture(build: Self.steps)
        try await f.mountRoot()
        try await f.run(.provision, "banner")
        try await f.run(.provision, "keep-mode")
        #expect(await f.chroot.files[f.root + "/etc/banner"] == .file(contents: "welcome\n", mode: 0o600))
        #expect(await f.chroot.files[f.root + "/etc/motd2"] == .file(contents: "welcome\n", mode: 0o640))
        #expect(await f.chroot.commands.isEmpty)
    }

    @Test func aFailingCommandCarriesTheCommandAndItsOutputTailAndStopsTheStep() async throws {
        let f = try await VMExecutorFixture(build: Self.steps)
        try await f.mountRoot()
        await f.chroot.on(
            "echo vmx",
            respond: .exit(2, stdout: ["one", "two"], stderr: ["sh: cannot create /etc/motd: Read-only file system"]))
        let error = await #expect(throws: CommandRunnerError.self) { try await f.run(.provision, "motd") }
        let failure = ActionFailure(action: ActionID("vmx", .provision(step: "motd")), error: try #require(error))
        #expect(failure.command?.contains("chroot \(shellQuote(f.root)) /bin/sh -c 'echo vmx > /etc/motd'") == true)
        #expect(failure.command?.contains("hello") == false, "the display hides environment values")
        #expect(failure.outputTail == ["one", "two", "sh: cannot create /etc/motd: Read-only file system"])
        #expect(failure.message.contains("exited with status 2"))
        #expect(await f.chroot.commands.count == 1)
    }

    @Test func aFailingScriptIsStillRemoved() async throws {
        let f = try await VMExecutorFixture(build: Self.steps)
        try await f.mountRoot()
        await f.chroot.on("kiln-setup.sh --level", respond: .exit(1, stdout: ["bad level"]))
        await #expect(throws: CommandRunnerError.self) { try await f.run(.provision, "setup") }
        #expect(await f.chroot.commands.map(\.command).last == "rm -f /tmp/kiln-setup.sh")
    }

    @Test func provisioningRefusesAnUnmountedRootAndAnUnknownStep() async throws {
        let f = try await VMExecutorFixture(build: Self.steps)
        let unmounted = await #expect(throws: ExecutorError.self) { try await f.run(.provision, "motd") }
        #expect(unmounted?.message.contains("not mounted") == true)
        try await f.mountRoot()
        let unknown = await #expect(throws: ExecutorError.self) { try await f.run(.provision, "gone") }
        #expect(unknown?.message.contains("no provisioning step named gone") == true)
        #expect(await f.chroot.commands.isEmpty)
    }

    @Test func copiedFilesAreRestoredToWhatTheImageHad() async throws {
        let f = try await VMExecutorFixture()
        try await f.mountRoot()
        await f.chroot.setFile(f.root + "/etc/resolv.conf", .symlink(target: "../run/systemd/resolve/stub-resolv.conf"))
        try await f.run(.copyFiles)
        #expect(
            await f.chroot.files[f.root + "/etc/resolv.conf"] == .file(contents: "nameserver 10.0.0.1\n", mode: 0o644))
        // A re-run (after a crash) keeps the image's own file saved, not Kiln's copy.
        try await f.run(.copyFiles)
        try await f.run(.restoreFiles)
        #expect(
            await f.chroot.files[f.root + "/etc/resolv.conf"]
                == .symlink(target: "../run/systemd/resolve/stub-resolv.conf"))
        // Nothing recorded any more: restoring again changes nothing.
        try await f.run(.restoreFiles)
        #expect(
            await f.chroot.files[f.root + "/etc/resolv.conf"]
                == .symlink(target: "../run/systemd/resolve/stub-resolv.conf"))
    }

    @Test func restoringRefusesAnUnmountedRoot() async throws {
        let f = try await VMExecutorFixture()
        await #expect(throws: ExecutorError.self) { try await f.run(.restoreFiles) }
    }
}
