import Foundation
import TestSupport
import Testing

/// The crash part of the robustness matrix (docs/reliability.md, "Crashes"): `kiln apply`
/// killed with SIGKILL at every action boundary (`KILN_CRASH_AT`), the emulator killed in
/// the middle of an operation, SIGINT once and twice, and (full matrix) SIGKILL at random
/// moments; after each, a plain `kiln apply` must converge with no Azure resource created
/// twice and nothing left behind. Build names start with `crash`.
@Suite(
    .serialized, .endToEnd,
    .enabled(if: Privileges.isRoot, "needs root: the emulator attaches loop devices, kiln mounts and chroots"))
struct CrashTests {
    /// Every action of the quick start's plan: killed right after its completion is
    /// journaled (reduced matrix) and also right after its intent is (full matrix).
    @Test func aKillAtEveryActionBoundaryResumesToTheSameResult() async throws {
        try await withChecks(Self.everyBoundary)
    }

    static func everyBoundary(_ checks: Checks) async throws {
        let rig = try await CrashRig("kiln-crash-matrix")
        let start = Date()
        let actions = try await rig.pendingActions(of: try rig.nextBuild("plan"))
        checks.expect(actions.count > 10, "\(actions)")
        let moments = Matrix.full ? ["before", "after"] : ["after"]
        let cases = moments.flatMap { moment in actions.map { "\(moment):\($0)" } }
        // Each case has its own build, so a few run at once (KILN_CRASH_WIDTH, default 3).
        let width = ProcessInfo.processInfo.environment["KILN_CRASH_WIDTH"].flatMap { Int($0) } ?? 3
        let results = await runConcurrently(cases.count, width: width) { index in
            await Self.boundaryCase(cases[index], rig: rig)
        }
        for result in results {
            checks.expect(result.clean && result.killed, "\(result)\n\(result.problems.joined(separator: "\n"))")
        }
        print(
            CrashMatrixSummary(
                title: "boundaries (\(Matrix.full ? "full" : "reduced"), \(width) at a time)", results: results,
                seconds: Date().timeIntervalSince(start)))
    }

    /// One boundary case: `point` is `before:<action>` or `after:<action>` without the
    /// build name; a fresh build is killed there, then resumed.
    static func boundaryCase(_ point: String, rig: CrashRig) async -> CrashCaseResult {
        let caseStart = Date()
        var result = CrashCaseResult(label: point)
        do {
            let build = try rig.nextBuild()
            let (moment, action) = (point.prefix { $0 != ":" }, point.drop { $0 != ":" }.dropFirst())
            let crashAt = "\(moment):\(build.name)/\(action)"
            let killed = try await rig.apply(build, crashAt: crashAt)
            result.killed = killed.status == 128 + SIGKILL
            if !result.killed {
                result.problems.append(
                    "the run with KILN_CRASH_AT=\(crashAt) exited \(killed.status):\n\(killed.output)")
            }
            try await rig.checkResume(build, into: &result)
        } catch {
            result.problems.append("\(error)")
        }
        result.seconds = Date().timeIntervalSince(caseStart)
        print(result)
        return result
    }

    /// The emulator SIGKILLed while a disk is being created (and, in the full matrix, while
    /// the image is), restarted on the same port and state: the running apply rides it
    /// out or fails; a plain apply afterwards converges, with the disk created once.
    @Test func theEmulatorKilledMidOperationThenRestartedAResumeConverges() async throws {
        try await withChecks(Self.emulatorKilled)
    }

    static func emulatorKilled(_ checks: Checks) async throws {
        let port = try freeLocalPort()
        let rig = try await CrashRig("kiln-crash-emulator", configJSON: #"{"port": \#(port)}"#)
        // Every kind of operation the emulator runs (the n-th request of the build matching
        // method and path is the one in flight); `make test` keeps a disk's creation and the
        // detach (whose device the emulator once leaked across its restart).
        let cases: [(latency: String, method: String, path: String, nth: Int)] = [
            ("diskCreate", "PUT", "/disks/kiln-", 1), ("detach", "POST", "/attachdetachdatadisks", 2),
            ("attach", "POST", "/attachdetachdatadisks", 1), ("image", "PUT", "/microsoft.compute/images/", 1),
            ("gallery", "PUT", "/galleries/", 1), ("versionPerRegion", "PUT", "/versions/", 1),
            ("delete", "DELETE", "/disks/kiln-", 1)
        ]
        var results: [CrashCaseResult] = []
        let start = Date()
        for (latency, method, path, nth) in Matrix.full ? cases : Array(cases.prefix(2)) {
            let caseStart = Date()
            let build = try rig.nextBuild("emu")
            var result = CrashCaseResult(label: "emulator killed during \(latency)")
            let mark = try await rig.requestMark()
            try await rig.emulator.setLatency(#"{"\#(latency)": 5}"#)
            let kiln = try rig.startApply(build)
            var sent: [LoggedRequest] = []
            let inFlight = await waitUntil(timeout: .seconds(300)) {
                sent = (try? await rig.emulator.requests(since: mark)) ?? sent
                return sent.filter { $0.method == method && $0.path.lowercased().contains(path) }.count >= nth
                    || !kiln.process.isRunning
            }
            checks.expect(
                inFlight && kiln.process.isRunning,
                "the apply never reached \(method) …\(path) #\(nth):\n\(kiln.output)")
            // The request log dies with the emulator: keep what was sent before the crash.
            sent = (try? await rig.emulator.requests(since: mark)) ?? sent
            await rig.emulator.crash()
            try await rig.emulator.restart()
            try await rig.emulator.setLatency("{}")
            let first = await CrashRig.finish(kiln)
            result.killed = true
            print("emulator killed during \(latency): the running apply exited \(first)")
            try await rig.checkResume(build, into: &result, interrupted: kiln.output)
            // The restarted emulator keeps no device or link that no disk owns.
            result.leftoverLoopDevices += await rig.strayDeviceLinks()
            // A restarted emulator starts a new request log, numbered from 1 again.
            result.createdTwice = try await rig.createdTwice(build, in: sent + (try await rig.emulator.requests()))
            result.seconds = Date().timeIntervalSince(caseStart)
            print(result)
            checks.expect(
                result.clean, "\(result)\n\(result.problems.joined(separator: "\n"))\nfirst run:\n\(kiln.output)")
            results.append(result)
            await kiln.stop()
        }
        print(CrashMatrixSummary(title: "emulator killed", results: results, seconds: Date().timeIntervalSince(start)))
    }

    /// SIGINT once while a provisioning step runs: the step finishes, nothing new starts,
    /// kiln exits non-zero saying how to resume, the journal records the step done; a plain
    /// apply then converges. Twice: kiln exits at once; a plain apply converges.
    @Test(arguments: [1, 2])
    func anInterruptedApplyResumes(signals: Int) async throws {
        try await withChecks { try await Self.interrupted(signals: signals, $0) }
    }

    static func interrupted(signals: Int, _ checks: Checks) async throws {
        let rig = try await CrashRig("kiln-crash-sigint")
        try rig.scratch.edit(
            "manifests/scripts/setup.sh", replacing: "set -eu\n", with: "set -eu\necho kiln-test: sleeping\nsleep 4\n")
        let build = try rig.nextBuild("int")
        var result = CrashCaseResult(label: "SIGINT ×\(signals)")
        let start = Date()
        let kiln = try rig.startApply(build)
        // The step's own output says its command runs (the `running` event comes before it starts).
        checks.expect(await kiln.wait(for: "\(build.name)/provision[setup]: | kiln-test: sleeping"), "\(kiln.output)")
        for _ in 0..<signals {
            kiln.signal(SIGINT)
            // The second only after the first was taken in (the scheduler said so).
            _ = await kiln.wait(for: "Interrupt received", timeout: .seconds(30))
        }
        let status = await CrashRig.finish(kiln)
        result.killed = status != 0
        checks.expect(status != 0, "\(kiln.output)")
        checks.expect(kiln.output.contains("run kiln apply again to resume"), "\(kiln.output)")
        let journal = rig.scratch.read(".kiln/\(build.name).journal.json") ?? ""
        checks.expect(
            (try? JSONSerialization.jsonObject(with: Data(journal.utf8))) != nil, "the journal is not JSON: \(journal)")
        if signals == 1 {
            // The running step finished: its `done` is journaled, and nothing after it ran.
            checks.expect(kiln.output.contains("✓ \(build.name)/provision[setup]"), "\(kiln.output)")
            checks.expect(!kiln.output.contains("\(build.name)/restore-files: running"), "\(kiln.output)")
        }
        try await rig.checkResume(build, into: &result)
        result.seconds = Date().timeIntervalSince(start)
        print(result)
        checks.expect(result.clean, "\(result)\n\(result.problems.joined(separator: "\n"))")
    }

    /// Full matrix only: SIGKILL after a random delay, inside whatever runs then (20
    /// moments, seeded; the seed is printed and `KILN_CRASH_SEED` replays it), with the
    /// emulator's realistic latencies scaled down so the moments fall inside operations.
    @Test(.enabled(if: Matrix.full, "full robustness matrix only (KILN_ROBUSTNESS=full)"))
    func aKillAtRandomMomentsInsideOperationsResumes() async throws { try await withChecks(Self.randomMoments) }

    static func randomMoments(_ checks: Checks) async throws {
        let rig = try await CrashRig("kiln-crash-random")
        let seed =
            ProcessInfo.processInfo.environment["KILN_CRASH_SEED"].flatMap { UInt64($0) }
            ?? UInt64(Date().timeIntervalSince1970 * 1000)
        print("random crash moments: seed \(seed) (KILN_CRASH_SEED=\(seed) replays them)")
        var generator = SeededRandom(seed: seed)
        try await rig.emulator.setLatency(
            #"{"diskCreate": 1, "snapshot": 1, "image": 1, "gallery": 1, "versionPerRegion": 1, "attach": 1, "detach": 1, "delete": 1}"#
        )
        // One uninterrupted run gives the span to draw the moments from.
        let reference = try rig.nextBuild("ref")
        let referenceStart = Date()
        let uninterrupted = try await rig.apply(reference)
        checks.expect(uninterrupted.status == 0, "\(uninterrupted.output)")
        let span = Date().timeIntervalSince(referenceStart)
        let delays = (0..<20).map { _ in Double.random(in: 0.5..<max(1, span), using: &generator) }
        let start = Date()
        let width = ProcessInfo.processInfo.environment["KILN_CRASH_WIDTH"].flatMap { Int($0) } ?? 3
        let results = await runConcurrently(delays.count, width: width) { index in
            let caseStart = Date()
            var result = CrashCaseResult(label: "random \(index + 1) at \(String(format: "%.2f", delays[index])) s")
            do {
                let build = try rig.nextBuild("rnd")
                let kiln = try rig.startApply(build)
                try? await Task.sleep(for: .seconds(delays[index]))
                result.killed = kiln.process.isRunning
                await kiln.stop()
                try await rig.checkResume(build, into: &result)
                if !result.clean { result.problems.append("killed run:\n\(kiln.output)") }
            } catch {
                result.problems.append("\(error)")
            }
            result.seconds = Date().timeIntervalSince(caseStart)
            print(result)
            return result
        }
        for result in results {
            checks.expect(result.clean, "\(result)\n\(result.problems.joined(separator: "\n"))")
        }
        print(
            CrashMatrixSummary(
                title: "random moments, seed \(seed)", results: results, seconds: Date().timeIntervalSince(start)))
    }
}

/// SIGKILL of `kiln apply` while the builder VM's attach or detach operation is in flight
/// (the emulator's `attach`/`detach` latency keeps it open): the resume must re-join or
/// re-check it, not take our own VM for "another VM" nor wait for a device that an
/// unfinished attach has not made yet. (Found by the random-moment matrix.)
extension CrashTests {
    // The reduced matrix keeps the case that found the bug; the full one adds attach.
    @Test(arguments: Matrix.full ? ["attach", "detach"] : ["detach"])
    func aKillWhileTheVMOperationIsInFlightResumes(operation: String) async throws {
        try await withChecks { try await Self.vmOperation(operation, $0) }
    }

    static func vmOperation(_ operation: String, _ checks: Checks) async throws {
        let rig = try await CrashRig("kiln-crash-vmop")
        let build = try rig.nextBuild("vm\(operation)")
        var result = CrashCaseResult(label: "killed during \(operation)")
        let start = Date()
        try await rig.emulator.setLatency(#"{"\#(operation)": 4}"#)
        let kiln = try rig.startApply(build)
        // attach is the build's first attachDetachDataDisks POST, detach its second.
        let wanted = operation == "attach" ? 1 : 2
        let inFlight = await waitUntil(timeout: .seconds(300)) {
            ((try? await rig.emulator.requests()) ?? []).filter {
                $0.method == "POST" && $0.path.contains("attachDetachDataDisks")
            }.count >= wanted
                || !kiln.process.isRunning
        }
        checks.expect(inFlight && kiln.process.isRunning, "\(kiln.output)")
        await kiln.stop()
        result.killed = true
        try await rig.checkResume(build, into: &result)
        result.seconds = Date().timeIntervalSince(start)
        print(result)
        let log = (try? String(contentsOf: rig.emulator.logFile, encoding: .utf8)) ?? ""
        checks.expect(
            result.clean,
            "\(result)\n\(result.problems.joined(separator: "\n"))\nkilled run:\n\(kiln.output)\nemulator:\n\(log.suffix(3000))"
        )
    }
}
