import Foundation
import TestSupport
import Testing

/// The served-emulator fixture the end-to-end and robustness tests build on.
@Suite(.endToEnd, .enabled(if: Privileges.isRoot, "needs root: the emulator attaches loop devices"))
struct ServedEmulatorFixture {
    @Test func servesLogsRequestsAndStopsWithoutLeaks() async throws {
        let dir = try TemporaryDirectory("kiln-fixture")
        try TestScope.onExit(.files) { dir.remove() }
        let emulator = try await ServedEmulator(stateDirectory: dir.url.appendingPathComponent("emu"))
        try await emulator.setFaults("[]")
        #expect(try await emulator.resources(ofType: "Microsoft.Compute/virtualMachines").count == 1)
        #expect(try await emulator.resources(ofType: "Microsoft.Compute/disks").isEmpty)
        let requests = try await emulator.requests()
        #expect(
            requests.map(\.key) == ["PUT /_emulator/faults", "GET /_emulator/inventory", "GET /_emulator/inventory"])
        #expect(requests.filter(\.isMutatingARM).isEmpty)
        await emulator.crash()
        try await emulator.restart()
        await emulator.stop()
        #expect(await Leaks.loopDevices(backedUnder: dir.url).isEmpty)
    }
}

/// The child processes every end-to-end test starts programs with.
@Suite struct ChildProcessFixture {
    @Test func runCapturesBothStreamsAndTheStatus() async throws {
        let r = try await runProcess(URL(fileURLWithPath: "/bin/sh"), ["-c", "echo out; echo err >&2; exit 3"])
        #expect(r.status == 3)
        #expect(r.stdout == "out\n")
        #expect(r.stderr == "err\n")
    }

    @Test func killingTheSessionStopsWhatTheChildLeftBehindAndNothingElse() async throws {
        let bystander = try ChildProcess.spawn(URL(fileURLWithPath: "/bin/sleep"), ["300"])
        // The shell leaves a sleep running in a process group of its own (as kiln leaves a
        // step's processes when it is killed) and exits.
        let script = "set -m; sleep 300 >/dev/null 2>&1 & echo $!"
        let child = try ChildProcess.spawn(URL(fileURLWithPath: "/bin/sh"), ["-c", script])
        let output = await child.readPipes()
        #expect(await child.exit() == 0)
        let printed = String(decoding: output[0], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let orphan = try #require(pid_t(printed))
        #expect(child.sessionMembers == [orphan])
        #expect(await child.killSession(timeout: .seconds(10)).isEmpty)
        #expect(child.sessionMembers.isEmpty)
        #expect(bystander.isRunning)
        #expect(await bystander.killSession().isEmpty)
        #expect(await bystander.exit() == 128 + SIGKILL)
    }
}
