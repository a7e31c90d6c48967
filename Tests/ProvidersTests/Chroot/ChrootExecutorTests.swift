import Foundation
import Providers
import TestSupport
import Testing

@Suite("Chroot execution")
struct ChrootExecutorTests {
    @Test func theCommandLineQuotesEverythingAndHidesValuesInTheDisplay() throws {
        let command = ChrootCommand(
            root: "/mnt/kiln/a b", command: "echo $(id -u) \"$HOME\"", environment: ["SECRET": "hunter2 'x'"],
            device: "/dev/sdc1")
        let (line, display) = try SystemChrootExecutor.commandLine(for: command)
        #expect(
            line
                == "env -i 'DEVICE=/dev/sdc1' 'MOUNT_PATH=/mnt/kiln/a b' 'PATH=\(ChrootCommand.defaultPath)' 'SECRET=hunter2 '\\''x'\\''' chroot '/mnt/kiln/a b' /bin/sh -c 'echo $(id -u) \"$HOME\"'"
        )
        #expect(!display.contains("hunter2"))
        #expect(display.contains("SECRET=…"))
    }

    @Test func kilnVariablesWinOverTheStepsAndBadNamesAreRefused() throws {
        let command = ChrootCommand(
            root: "/r", command: "true", environment: ["MOUNT_PATH": "/elsewhere", "PATH": "/bin"], device: "/dev/sdc1")
        #expect(command.effectiveEnvironment == ["MOUNT_PATH": "/r", "PATH": "/bin", "DEVICE": "/dev/sdc1"])
        for bad in ["1ABC", "A B", "A=B", "-x", ""] {
            #expect(throws: ChrootError.self) {
                try SystemChrootExecutor.commandLine(
                    for: ChrootCommand(root: "/r", command: "true", environment: [bad: "v"]))
            }
        }
    }

    @Test(.tags(.hostRoot), .enabled(if: Privileges.isRoot, rootSkipReason))
    func exitStatusOutputAndEnvironmentComeThroughFromABusyboxRoot() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let root = "\(scratch.path)/root"
        try await makeBusyboxRoot(at: root)
        let executor = SystemChrootExecutor(runner: ProcessCommandRunner())
        let lines = Collector<CommandOutputLine>()
        let result = try await executor.run(
            ChrootCommand(
                root: root,
                command:
                    "printf '%s|%s|%s|%s\\n' \"$GREETING\" \"$TRICKY\" \"$DEVICE\" \"$MOUNT_PATH\"; echo to-stderr >&2; exit 7",
                environment: ["GREETING": "hello world", "TRICKY": "it's $x `y`"], device: "/dev/loop99p1"),
            output: { lines.append($0) })
        #expect(result.termination == .exited(7))
        #expect(
            lines.values.filter { $0.stream == .stdout }.map(\.text) == [
                "hello world|it's $x `y`|/dev/loop99p1|\(root)"
            ])
        #expect(lines.values.filter { $0.stream == .stderr }.map(\.text) == ["to-stderr"])
        #expect(result.tail == ["hello world|it's $x `y`|/dev/loop99p1|\(root)", "to-stderr"])
    }

    @Test(.tags(.hostRoot), .enabled(if: Privileges.isRoot, rootSkipReason))
    func commandSubstitutionIsExpandedOnlyInsideTheChroot() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let root = "\(scratch.path)/root"
        try await makeBusyboxRoot(at: root)
        let marker = "\(scratch.path)/host-marker"
        try "the chroot\n".write(toFile: "\(root)/etc/whoami", atomically: true, encoding: .utf8)
        let executor = SystemChrootExecutor(runner: ProcessCommandRunner())
        // Were the host shell to expand this, it would create the marker on the host and
        // read the host's /etc/whoami (which does not exist).
        let lines = Collector<String>()
        let result = try await executor.run(
            ChrootCommand(
                root: root,
                command: "echo \"$(touch \(marker) 2>/dev/null; echo hi from $(cat /etc/whoami))\" \"[$HOME]\""),
            output: { lines.append($0.text) })
        #expect(result.succeeded)
        #expect(lines.values == ["hi from the chroot []"], "the chroot's shell expands $(…) and sees no host HOME")
        #expect(!FileManager.default.fileExists(atPath: marker), "the host shell must not run $(…)")
    }

    @Test(.tags(.hostRoot), .enabled(if: Privileges.isRoot, rootSkipReason))
    func theHostEnvironmentDoesNotLeakIntoTheChroot() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let root = "\(scratch.path)/root"
        try await makeBusyboxRoot(at: root)
        let executor = SystemChrootExecutor(runner: ProcessCommandRunner())
        let lines = Collector<String>()
        let result = try await executor.run(
            ChrootCommand(root: root, command: "env", environment: ["STEP_VAR": "1"]), output: { lines.append($0.text) }
        )
        #expect(result.succeeded)
        let names = Set(lines.values.map { String($0.prefix { $0 != "=" }) })
        #expect(names.isSuperset(of: ["PATH", "MOUNT_PATH", "STEP_VAR"]))
        #expect(!names.contains("HOME"))
        // Only what we passed plus what sh itself maintains.
        #expect(names.subtracting(["PATH", "MOUNT_PATH", "STEP_VAR", "PWD", "SHLVL", "_"]).isEmpty, "leaked: \(names)")
    }

    @Test(.tags(.hostRoot), .enabled(if: Privileges.isRoot, rootSkipReason))
    func aTimeoutEndsTheChrootCommandAndItsChildren() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let root = "\(scratch.path)/root"
        try await makeBusyboxRoot(at: root)
        let executor = SystemChrootExecutor(runner: ProcessCommandRunner())
        await #expect {
            _ = try await executor.run(
                ChrootCommand(root: root, command: "sleep 300 & echo $! > /tmp/child.pid; wait", timeout: .seconds(1)),
                output: { _ in })
        } throws: { error in
            if case CommandRunnerError.timedOut(let command, _, _) = error { return command.hasPrefix("env -i") }
            return false
        }
        let pid = try #require(
            Int32(
                String(contentsOfFile: "\(root)/tmp/child.pid", encoding: .utf8).trimmingCharacters(
                    in: .whitespacesAndNewlines)))
        #expect(await eventually { !processIsAlive(pid) })
    }

    @Test func uploadsAFileAtomicallyWithItsMode() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let root = "\(scratch.path)/root"
        try FileManager.default.createDirectory(atPath: "\(root)/etc", withIntermediateDirectories: true)
        try scratch.write("src/app.conf", "key = value\n", mode: 0o600)
        try scratch.write("root/etc/app/app.conf", "old\n")
        let executor = SystemChrootExecutor(runner: ProcessCommandRunner())

        try await executor.upload(
            from: "\(scratch.path)/src/app.conf", to: "/etc/app/app.conf", root: root, mode: 0o640)
        #expect(try String(contentsOfFile: "\(root)/etc/app/app.conf", encoding: .utf8) == "key = value\n")
        #expect(
            try FileManager.default.attributesOfItem(atPath: "\(root)/etc/app/app.conf")[.posixPermissions] as? Int
                == 0o640)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: "\(root)/etc/app") == ["app.conf"],
            "no temp file left behind")

        // Without a mode, the host file's mode is kept; new directories are created.
        try await executor.upload(
            from: "\(scratch.path)/src/app.conf", to: "/opt/new dir/copy.conf", root: root, mode: nil)
        #expect(
            try FileManager.default.attributesOfItem(atPath: "\(root)/opt/new dir/copy.conf")[.posixPermissions] as? Int
                == 0o600)
    }

    @Test func uploadsADirectoryMergingIntoTheDestination() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let root = "\(scratch.path)/root"
        try scratch.write("tree/a.txt", "a")
        try scratch.write("tree/sub dir/b.sh", "#!/bin/sh\n", mode: 0o755)
        try FileManager.default.createSymbolicLink(atPath: "\(scratch.path)/tree/link", withDestinationPath: "a.txt")
        try scratch.write("root/srv/existing.txt", "kept")
        let executor = SystemChrootExecutor(runner: ProcessCommandRunner())

        try await executor.upload(from: "\(scratch.path)/tree", to: "/srv", root: root, mode: nil)
        #expect(try String(contentsOfFile: "\(root)/srv/a.txt", encoding: .utf8) == "a")
        #expect(try String(contentsOfFile: "\(root)/srv/existing.txt", encoding: .utf8) == "kept")
        #expect(
            try FileManager.default.attributesOfItem(atPath: "\(root)/srv/sub dir/b.sh")[.posixPermissions] as? Int
                == 0o755)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(root)/srv/link") == "a.txt")
        let leftovers = try FileManager.default.subpathsOfDirectory(atPath: "\(root)/srv").filter {
            $0.contains(".kiln-upload")
        }
        #expect(leftovers.isEmpty)
    }

    @Test func imageSymlinksResolveInsideTheRootNotOnTheHost() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let root = "\(scratch.path)/root"
        try FileManager.default.createDirectory(atPath: "\(root)/run", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(root)/usr/bin", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(root)/var", withIntermediateDirectories: true)
        // As in real images: an absolute link (dangerous if followed on the host) and a
        // relative one (usr-merge).
        try FileManager.default.createSymbolicLink(atPath: "\(root)/var/run", withDestinationPath: "/run")
        try FileManager.default.createSymbolicLink(atPath: "\(root)/bin", withDestinationPath: "usr/bin")
        try FileManager.default.createSymbolicLink(atPath: "\(root)/loop-a", withDestinationPath: "loop-b")
        try FileManager.default.createSymbolicLink(atPath: "\(root)/loop-b", withDestinationPath: "/loop-a")
        let name = "kiln-test-\(UInt32.random(in: 0...UInt32.max))"
        try scratch.write("src/file", "payload")
        try scratch.write("tree/bin/tool", "#!/bin/sh\n", mode: 0o755)
        let executor = SystemChrootExecutor(runner: ProcessCommandRunner())

        try await executor.upload(from: "\(scratch.path)/src/file", to: "/var/run/\(name)", root: root, mode: nil)
        #expect(FileManager.default.fileExists(atPath: "\(root)/run/\(name)"))
        #expect(!FileManager.default.fileExists(atPath: "/run/\(name)"), "must not write to the host's /run")
        try await executor.copyHostFile("\(scratch.path)/src/file", to: "/var/run/\(name).copy", root: root)
        #expect(FileManager.default.fileExists(atPath: "\(root)/run/\(name).copy"))
        #expect(!FileManager.default.fileExists(atPath: "/run/\(name).copy"))
        #expect(try await executor.restoreHostFile(at: "/var/run/\(name).copy", root: root) == .removedCopy)

        try await executor.upload(from: "\(scratch.path)/tree", to: "/", root: root, mode: nil)
        #expect(FileManager.default.fileExists(atPath: "\(root)/usr/bin/tool"))
        #expect(
            try FileManager.default.destinationOfSymbolicLink(atPath: "\(root)/bin") == "usr/bin",
            "the image's link stays")

        await #expect {
            try await executor.upload(from: "\(scratch.path)/src/file", to: "/loop-a/x", root: root, mode: nil)
        } throws: { error in
            if case ChrootError.symlinkLoop = error { return true }
            return false
        }
    }

    @Test func uploadRefusesPathsThatLeaveTheRootAndMissingSources() async throws {
        let executor = SystemChrootExecutor(runner: InMemoryCommandRunner())
        await #expect(throws: ChrootError.self) {
            try await executor.upload(from: "/etc/hostname", to: "/../etc/x", root: "/r", mode: nil)
        }
        await #expect(throws: ChrootError.self) {
            try await executor.upload(from: "/etc/hostname", to: "relative", root: "/r", mode: nil)
        }
        await #expect(throws: ChrootError.self) {
            try await executor.upload(from: "/nonexistent/kiln", to: "/x", root: "/r", mode: nil)
        }
    }

    @Test func aFailingCopyCommandIsAFileOperationError() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try scratch.write("f", "x")
        let runner = InMemoryCommandRunner(wrapper: CommandWrapper { "sudo " + $0 })
        await runner.on("cp -L", respond: .exit(1, stderr: ["cp: cannot create regular file: Read-only file system"]))
        let executor = SystemChrootExecutor(runner: runner)
        await #expect {
            try await executor.upload(from: "\(scratch.path)/f", to: "/etc/f", root: "/r", mode: nil)
        } throws: { error in
            guard case ChrootError.fileOperationFailed(let operation, let cause) = error else { return false }
            return operation.contains("/etc/f") && cause.contains("Read-only file system")
        }
        #expect(
            await runner.commands.allSatisfy { $0.hasPrefix("sudo /bin/sh -c ") },
            "file operations go through the wrapper")
    }
}
