import Foundation
import Providers
import Testing

@Suite("ProcessCommandRunner")
struct ProcessCommandRunnerTests {
    let runner = ProcessCommandRunner()

    @Test func reportsTheExitStatusAndCheckNamesCommandStatusAndTail() async throws {
        let result = try await runner.run(CommandSpec("echo about to fail; exit 3"))
        #expect(result.termination == .exited(3))
        #expect(!result.succeeded)
        #expect(throws: CommandRunnerError.self) { try result.check() }
        do {
            try result.check()
        } catch {
            #expect(error.description.contains("echo about to fail; exit 3"))
            #expect(error.description.contains("exited with status 3"))
            #expect(error.description.contains("about to fail"))
        }
    }

    /// A descriptor the host process opened without close-on-exec (as a test runner or a
    /// library may) is not inherited: it would keep a file, or a mount, busy.
    @Test func childrenDoNotInheritTheHostsDescriptors() async throws {
        let fd = open("/dev/null", O_RDONLY)
        #expect(fd > 2)
        defer { close(fd) }
        let result = try await runner.run(
            CommandSpec("if [ -e /proc/$$/fd/\(fd) ]; then echo inherited; else echo closed; fi", captureStdout: true))
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "closed")
    }

    @Test func streamsBothStreamsLineByLineAndCapturesStdout() async throws {
        let lines = Collector<CommandOutputLine>()
        let result = try await runner.run(
            CommandSpec("echo one; echo two >&2; printf 'no newline'", captureStdout: true),
            output: { lines.append($0) })
        #expect(result.succeeded)
        #expect(lines.values.filter { $0.stream == .stdout }.map(\.text) == ["one", "no newline"])
        #expect(lines.values.filter { $0.stream == .stderr }.map(\.text) == ["two"])
        #expect(result.stdout == "one\nno newline")
    }

    @Test func keepsOnlyTheLastLinesAsTail() async throws {
        let result = try await runner.run(
            CommandSpec("i=1; while [ $i -le 100 ]; do echo line$i; i=$((i+1)); done; exit 1", tailLines: 5))
        #expect(result.tail == ["line96", "line97", "line98", "line99", "line100"])
        #expect(throws: CommandRunnerError.failed(command: result.command, termination: .exited(1), tail: result.tail))
        {
            try result.check()
        }
    }

    @Test func reportsASignalDeath() async throws {
        let result = try await runner.run(CommandSpec("kill -9 $$"))
        #expect(result.termination == .signaled(9))
        #expect(result.termination.description.contains("SIGKILL"))
    }

    @Test func timeoutKillsTheWholeProcessGroupIncludingChildren() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let pidFile = "\(scratch.path)/child.pid"
        let spec = CommandSpec(
            "sleep 300 & echo $! > \(shellQuote(pidFile)); echo started; wait", timeout: .seconds(1),
            killGracePeriod: .seconds(2))
        await #expect {
            try await runner.run(spec)
        } throws: { error in
            guard case CommandRunnerError.timedOut(_, _, let tail) = error else { return false }
            return tail == ["started"] && "\(error)".contains("did not finish within")
        }
        let pid = try #require(
            Int32(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(await eventually { !processIsAlive(pid) }, "the child sleep \(pid) must die with its group")
    }

    @Test func cancellationKillsTheWholeProcessGroup() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let pidFile = "\(scratch.path)/child.pid"
        let runner = self.runner
        let task = Task {
            try await runner.run(
                CommandSpec("sleep 300 & echo $! > \(shellQuote(pidFile)); wait", killGracePeriod: .seconds(2)))
        }
        #expect(
            await eventually {
                FileManager.default.fileExists(atPath: pidFile)
                    && ((try? String(contentsOfFile: pidFile, encoding: .utf8))?.hasSuffix("\n") ?? false)
            })
        task.cancel()
        await #expect {
            try await task.value
        } throws: { error in
            if case CommandRunnerError.cancelled = error { return true }
            return false
        }
        let pid = try #require(
            Int32(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(await eventually { !processIsAlive(pid) })
    }

    /// With both pipes closed, the reader waits on its wake-up pipe: the exit is still seen,
    /// and a timeout still ends the command at once.
    @Test func aCommandThatClosesItsOutputIsWaitedForAndCanStillTimeOut() async throws {
        let finished = try await runner.run(CommandSpec("exec >&- 2>&-; sleep 0.3; exit 4"))
        #expect(finished.termination == .exited(4))
        let started = ContinuousClock.now
        await #expect(throws: CommandRunnerError.self) {
            let spec = CommandSpec(
                "exec >&- 2>&-; sleep 300", timeout: .milliseconds(300),
                killGracePeriod: .seconds(5))
            try await runner.run(spec)
        }
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test func sigtermIgnoringCommandsGetSigkillAfterTheGracePeriod() async throws {
        let spec = CommandSpec(
            "trap '' TERM; echo ready; while :; do sleep 1; done", timeout: .milliseconds(500),
            killGracePeriod: .milliseconds(500))
        await #expect(throws: CommandRunnerError.self) { try await runner.run(spec) }
    }

    @Test func passesEnvironmentValuesVerbatim() async throws {
        let result = try await runner.runChecked(
            CommandSpec(
                "printf '%s|%s' \"$KILN_TEST_A\" \"$KILN_TEST_B\"",
                environment: ["KILN_TEST_A": "a b $HOME", "KILN_TEST_B": "it's"], captureStdout: true))
        #expect(result.stdout == "a b $HOME|it's")
    }

    @Test func withoutInheritanceOnlyTheGivenEnvironmentIsSet() async throws {
        let result = try await runner.runChecked(
            CommandSpec(
                "/usr/bin/env", environment: ["KILN_ONLY": "1"], inheritEnvironment: false, captureStdout: true))
        let names = Set(result.stdout.split(separator: "\n").map { String($0.prefix { $0 != "=" }) })
        #expect(names.contains("KILN_ONLY"))
        #expect(!names.contains("HOME"))
        #expect(names.isSubset(of: ["KILN_ONLY", "PWD", "SHLVL", "_", "OLDPWD"]))
    }

    @Test func runsInTheWorkingDirectory() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let result = try await runner.runChecked(
            CommandSpec("pwd -P", workingDirectory: scratch.path, captureStdout: true))
        let expected = URL(fileURLWithPath: scratch.path).resolvingSymlinksInPath().path
        #expect(result.stdout.trimmingCharacters(in: .newlines) == expected)
    }

    @Test func appliesTheWrapperToTheCommandLine() async throws {
        let seen = Collector<String>()
        let wrapped = ProcessCommandRunner(
            wrapper: CommandWrapper { command in
                seen.append(command)
                return "echo wrapped; " + command
            })
        let result = try await wrapped.runChecked(CommandSpec("echo inner", captureStdout: true))
        #expect(result.stdout == "wrapped\ninner\n")
        #expect(seen.values == ["echo inner"])
    }

    @Test func aMissingShellIsALaunchFailure() async throws {
        let broken = ProcessCommandRunner(shell: "/nonexistent/kiln-sh")
        await #expect {
            try await broken.run(CommandSpec("true"))
        } throws: { error in
            guard case CommandRunnerError.launchFailed(let command, _) = error else { return false }
            return command == "true"
        }
    }

    @Test func doesNotWaitForBackgroundProcessesThatKeepTheOutputOpen() async throws {
        let fast = ProcessCommandRunner(lingeringOutputLimit: .milliseconds(300))
        let result = try await fast.runChecked(CommandSpec("sleep 30 & echo $!", captureStdout: true))
        let pid = try #require(Int32(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        kill(pid, SIGKILL)
    }

    @Test func displayCommandHidesTheRealCommandLineInErrors() async throws {
        let result = try await runner.run(CommandSpec("SECRET=hunter2; exit 1", displayCommand: "set secret"))
        #expect(result.command == "set secret")
        do {
            try result.check()
        } catch {
            #expect(!error.description.contains("hunter2"))
        }
    }
}

@Suite("InMemoryCommandRunner")
struct InMemoryCommandRunnerTests {
    @Test func recordsWrappedCommandsAndAnswersFromRules() async throws {
        let runner = InMemoryCommandRunner(wrapper: CommandWrapper { "sudo " + $0 })
        await runner.on("mount", respond: .exit(32, stderr: ["mount: wrong fs type"]))
        let ok = try await runner.run(CommandSpec("mkdir -p /x"))
        #expect(ok.succeeded)
        let failed = try await runner.run(CommandSpec("mount /dev/x /x"))
        #expect(failed.termination == .exited(32))
        #expect(failed.tail == ["mount: wrong fs type"])
        #expect(await runner.commands == ["sudo mkdir -p /x", "sudo mount /dev/x /x"])
    }

    @Test func scriptedTimeoutsSignalsAndLaunchFailuresSurface() async throws {
        let runner = InMemoryCommandRunner()
        await runner.on("slow", respond: .timeout)
        await runner.on("crash", respond: .signal(11))
        await runner.on("missing", respond: .launchFailure("no such file"))
        await #expect(throws: CommandRunnerError.timedOut(command: "slow", timeout: .seconds(5), tail: [])) {
            try await runner.run(CommandSpec("slow", timeout: .seconds(5)))
        }
        #expect(try await runner.run(CommandSpec("crash")).termination == .signaled(11))
        await #expect(throws: CommandRunnerError.launchFailed(command: "missing", reason: "no such file")) {
            try await runner.run(CommandSpec("missing"))
        }
    }
}
