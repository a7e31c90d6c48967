import Foundation
import TestSupport
import Testing

/// Issue 13's seeded randomised matrix: rounds of `kiln apply` (three at a time, sharing one
/// emulator) under Azure faults drawn at random (throttling, 5xx, dropped connections, token
/// outages, one operation ending `Failed`), with SIGKILLs of some of the kilns and, now and
/// then, of the emulator (restarted on its port and state) at random moments. Then the faults
/// go and each build's next plain apply must converge. Counted per round: converged, created
/// twice (an accepted PUT of the same resource more than once), steps run again after they
/// finished, leaked loop devices, links and mounts, and waits past their timeout (a kiln the
/// harness had to kill after its bound). The seed is printed; `KILN_CHAOS_SEED` replays the
/// same draws (the interleavings still vary with the machine).
@Suite(
    .serialized, .endToEnd,
    .enabled(if: Privileges.isRoot, "needs root: the emulator attaches loop devices, kiln mounts and chroots"))
struct ChaosTests {
    /// Rounds: 102 in the full matrix (`make robustness`), 6 in `make test`.
    static var rounds: Int {
        ProcessInfo.processInfo.environment["KILN_CHAOS_ROUNDS"].flatMap { Int($0) } ?? (Matrix.full ? 102 : 6)
    }

    @Test func randomKillsOfKilnAndTheEmulatorUnderAzureFaultsConverge() async throws {
        try await withChecks(Self.chaos)
    }

    /// What one wave draws: its fault rules (`%B` in a path: one of the wave's builds) and,
    /// per kiln, when to kill it (nil: let it run), and when to kill the emulator (nil: not).
    struct Wave: CustomStringConvertible {
        var rules: [String]
        var kills: [Double?]
        var emulatorKill: Double?
        var description: String {
            "faults \(rules.isEmpty ? "none" : rules.joined(separator: ", ")); kiln kills \(kills.map { $0.map { String(format: "%.1f s", $0) } ?? "-" }); emulator kill \(emulatorKill.map { String(format: "%.1f s", $0) } ?? "-")"
        }
    }

    static func draw(_ g: inout SeededRandom, width: Int, span: Double, builds: [String]) -> Wave {
        var rules: [String] = []
        let pool: [(inout SeededRandom) -> String] = [
            { g in
                #"{"kind": "throttle", "path": "/subscriptions/*", "skip": \#(Int.random(in: 0..<20, using: &g)), "times": \#(Int.random(in: 1...4, using: &g)), "retryAfter": 1}"#
            },
            { g in
                #"{"kind": "error", "status": \#([500, 502, 503, 504].randomElement(using: &g)!), "method": "GET", "path": "/subscriptions/*", "skip": \#(Int.random(in: 0..<30, using: &g)), "times": \#(Int.random(in: 1...3, using: &g))}"#
            },
            { g in
                #"{"kind": "error", "status": 500, "method": "PUT", "path": "*/disks/*", "times": \#(Int.random(in: 1...2, using: &g))}"#
            },
            { g in
                #"{"kind": "drop", "method": "GET", "path": "/subscriptions/*", "skip": \#(Int.random(in: 0..<30, using: &g)), "times": \#(Int.random(in: 1...2, using: &g))}"#
            },
            { g in #"{"kind": "tokenOutage", "times": \#(Int.random(in: 1...4, using: &g))}"# },
            { g in
                let build = builds.randomElement(using: &g)!
                let target = [
                    ("PUT", "*/disks/kiln-\(build)-*"), ("POST", "*/attachdetachdatadisks"),
                    ("PUT", "*/microsoft.compute/images/\(build)"), ("PUT", "*/images/\(build)/versions/*"),
                    ("DELETE", "*/disks/kiln-\(build)-*")
                ].randomElement(using: &g)!
                return
                    #"{"kind": "failOperation", "method": "\#(target.0)", "path": "\#(target.1)", "times": 1, "code": "InternalExecutionError", "message": "Injected failure."}"#
            }
        ]
        for rule in pool where Double.random(in: 0..<1, using: &g) < 0.35 { rules.append(rule(&g)) }
        let kills = (0..<width).map { _ in
            Double.random(in: 0..<1, using: &g) < 0.6 ? Double.random(in: 0.3..<max(0.5, span), using: &g) : nil
        }
        let emulatorKill =
            Double.random(in: 0..<1, using: &g) < 0.35 ? Double.random(in: 0.5..<max(1, span), using: &g) : nil
        return Wave(rules: rules, kills: kills, emulatorKill: emulatorKill)
    }

    static func chaos(_ checks: Checks) async throws {
        let port = try freeLocalPort()
        let rig = try await CrashRig("kiln-chaos", configJSON: #"{"port": \#(port)}"#)
        let seed =
            ProcessInfo.processInfo.environment["KILN_CHAOS_SEED"].flatMap { UInt64($0) }
            ?? UInt64(Date().timeIntervalSince1970 * 1000)
        print("chaos: seed \(seed) (KILN_CHAOS_SEED=\(seed) replays the draws), \(rounds) rounds")
        var generator = SeededRandom(seed: seed)
        let latency =
            #"{"diskCreate": 1, "image": 1, "gallery": 1, "versionPerRegion": 1, "attach": 1, "detach": 1, "delete": 1}"#
        try await rig.emulator.setLatency(latency)
        // One undisturbed run gives the span the moments are drawn from.
        let reference = try rig.nextBuild("ref")
        let referenceStart = Date()
        let undisturbed = try await rig.apply(reference)
        checks.expect(undisturbed.status == 0, "\(undisturbed.output)")
        let span = Date().timeIntervalSince(referenceStart)
        let width = 3
        var results: [CrashCaseResult] = []
        let start = Date()
        var round = 0
        while round < rounds {
            let builds = try (0..<min(width, rounds - round)).map { _ in try rig.nextBuild("chaos") }
            let wave = draw(&generator, width: builds.count, span: span, builds: builds.map(\.name))
            print("chaos wave at round \(round + 1): \(wave)")
            results += await run(wave, builds: builds, rig: rig, latency: latency, firstRound: round + 1)
            round += builds.count
        }
        for result in results {
            checks.expect(result.clean, "\(result)\n\(result.problems.joined(separator: "\n"))")
        }
        let stray = await rig.strayDeviceLinks()
        checks.expect(stray.isEmpty, "device links no disk owns: \(stray)")
        let hung = results.filter { $0.problems.contains { $0.contains("exited 999") } }.count
        print(
            CrashMatrixSummary(
                title: "chaos, seed \(seed)", results: results, seconds: Date().timeIntervalSince(start)
            )
            .description
                + ", steps rerun \(results.reduce(0) { $0 + $1.stepsRerun.count }), waits past their timeout \(hung)"
        )
    }

    /// One wave: its builds started together under its faults, killed as drawn, then
    /// resumed one by one with the faults gone.
    static func run(_ wave: Wave, builds: [CrashBuild], rig: CrashRig, latency: String, firstRound: Int) async
        -> [CrashCaseResult]
    {
        var results = builds.enumerated().map { CrashCaseResult(label: "round \(firstRound + $0.offset)") }
        var sent: [LoggedRequest] = []
        var outputs = Array(repeating: "", count: builds.count)
        let waveStart = Date()
        do {
            let mark = try await rig.requestMark()
            try await rig.emulator.setFaults("[" + wave.rules.joined(separator: ", ") + "]")
            let kilns = try builds.map { try rig.startApply($0) }
            var statuses: [Int32?] = Array(repeating: nil, count: builds.count)
            // Kill as drawn, in time order; the emulator's kill restarts it on its state.
            var moments: [(Double, Int?)] = wave.kills.enumerated().compactMap { i, t in t.map { ($0, i) } }
            if let t = wave.emulatorKill { moments.append((t, nil)) }
            for (moment, target) in moments.sorted(by: { $0.0 < $1.0 }) {
                let wait = moment - Date().timeIntervalSince(waveStart)
                if wait > 0 { try? await Task.sleep(for: .seconds(wait)) }
                if let i = target {
                    results[i].killed = kilns[i].process.isRunning
                    await kilns[i].stop()
                } else {
                    sent += (try? await rig.emulator.requests(since: mark)) ?? []
                    await rig.emulator.crash()
                    try await rig.emulator.restart()
                }
            }
            for (i, kiln) in kilns.enumerated() {
                statuses[i] = await CrashRig.finish(kiln, timeout: .seconds(400))
                outputs[i] = kiln.output
                if statuses[i] == 999 { results[i].problems.append("the disturbed run exited 999 (hung)") }
                await kiln.stop()
            }
            sent += (try? await rig.emulator.requests(since: wave.emulatorKill == nil ? mark : 0)) ?? []
            try await rig.emulator.setFaults("[]")
        } catch {
            for i in results.indices { results[i].problems.append("wave: \(error)") }
        }
        for (i, build) in builds.enumerated() {
            do {
                let mark = try await rig.requestMark()
                try await rig.checkResume(build, into: &results[i], interrupted: outputs[i])
                // Accepted creations only: a PUT answered 5xx or dropped is sent again, as it
                // should be; so is one whose operation the wave made end `Failed`.
                let accepted = (sent + ((try? await rig.emulator.requests(since: mark)) ?? [])).filter {
                    (200..<300).contains($0.status)
                }
                let failedOnPurpose = wave.rules.filter {
                    $0.contains("failOperation") && $0.contains(#""PUT""#) && $0.contains(build.name)
                }.map { $0.contains("/disks/") ? "/disks/kiln-\(build.name)-" : "/\(build.name)" }
                results[i].createdTwice = try await rig.createdTwice(build, in: Array(Set(accepted))).filter { entry in
                    !(entry.hasSuffix("×2")
                        && failedOnPurpose.contains { entry.lowercased().contains($0.lowercased()) })
                }
                if !results[i].clean {
                    results[i].problems.append("disturbed run:\n\(outputs[i])")
                }
            } catch {
                results[i].problems.append("\(error)")
            }
            results[i].seconds = Date().timeIntervalSince(waveStart)
            print(results[i])
        }
        return results
    }
}

/// SIGKILL of `kiln apply` while the builder VM's attach is in flight, that operation then
/// ending `Failed`: the resume re-joins the journaled operation, shows Azure's reason and
/// attaches afresh, instead of taking the disk Azure listed for attached and waiting its
/// whole device timeout for a device that never comes (issue 13).
extension CrashTests {
    @Test func aKillDuringAnAttachWhoseOperationThenFailsShowsAzuresReasonAndTheResumeConverges() async throws {
        try await withChecks { checks in
            let rig = try await CrashRig("kiln-crash-attachfail")
            let build = try rig.nextBuild("attachfail")
            var result = CrashCaseResult(label: "killed during an attach that then fails")
            try await rig.emulator.setLatency(#"{"attach": 4}"#)
            try await rig.emulator.setFaults(
                #"[{"kind": "failOperation", "method": "POST", "path": "*/attachDetachDataDisks", "times": 1, "code": "AttachDiskWhileBeingDetached", "message": "Injected failure."}]"#
            )
            let kiln = try rig.startApply(build)
            let inFlight = await waitUntil(timeout: .seconds(300)) {
                ((try? await rig.emulator.requests()) ?? []).contains {
                    $0.method == "POST" && $0.path.contains("attachDetachDataDisks")
                } || !kiln.process.isRunning
            }
            checks.expect(inFlight && kiln.process.isRunning, "\(kiln.output)")
            await kiln.stop()
            result.killed = true
            let resumeStart = Date()
            let resumed = try await rig.apply(build)
            let seconds = Date().timeIntervalSince(resumeStart)
            checks.expect(resumed.status == 0, "the resume exited \(resumed.status):\n\(resumed.output)")
            checks.expect(
                resumed.output.contains(
                    "\(build.name)/attach[os]: the operation an interrupted run started did not succeed")
                    && resumed.output.contains("AttachDiskWhileBeingDetached")
                    && resumed.output.contains("trying again"),
                "the resume shows Azure's reason for the failed attach:\n\(resumed.output)")
            checks.expect(!resumed.output.contains("no block device appeared"), "\(resumed.output)")
            try await rig.emulator.setFaults("[]")
            try await rig.emulator.setLatency("{}")
            try await rig.checkResume(build, into: &result, interrupted: kiln.output)
            print("\(result); the first resume took \(String(format: "%.1f", seconds)) s")
            checks.expect(result.clean, "\(result)\n\(result.problems.joined(separator: "\n"))")
        }
    }
}
