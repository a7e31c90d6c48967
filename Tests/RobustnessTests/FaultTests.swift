import Foundation
import TestSupport
import Testing

/// The faults part of the robustness matrix: `kiln apply` of a quick-start copy against a
/// served emulator (loop devices) with faults injected. A transient fault must be ridden out
/// (the build succeeds, and no request is repeated sooner than `Retry-After` allows); any
/// other makes apply fail with a message naming what failed and why, and once the fault is
/// gone a re-run resumes the same run and converges with nothing left behind.
///
/// Serialized: one at a time keeps the machine's load bearable.
@Suite(
    .serialized, .endToEnd,
    .enabled(if: Privileges.isRoot, "needs root: the emulator attaches loop devices, kiln mounts and chroots"))
struct Faults {
    /// One transient fault (a set of emulator fault rules) and how long a throttled request
    /// must wait.
    struct Transient: Sendable, CustomTestStringConvertible {
        var label: String
        var rules: String
        var throttleSeconds: Double = 0
        var testDescription: String { label }
    }

    /// Each kind alone (full run) and all of them in one build (both runs: the reduced run
    /// has one case per fault kind this way, in the time of one build).
    static var transients: [Transient] {
        var cases = [
            Transient(
                label: "all-kinds",
                rules: """
                    [{"kind": "throttle", "path": "/subscriptions/*", "times": 4, "retryAfter": 2},
                     {"kind": "error", "status": 503, "method": "GET", "path": "/subscriptions/*", "skip": 6, "times": 2},
                     {"kind": "error", "status": 500, "method": "PUT", "path": "*/disks/*", "times": 2},
                     {"kind": "drop", "method": "GET", "path": "/subscriptions/*", "skip": 12, "times": 2},
                     {"kind": "drop", "method": "PUT", "path": "*/galleries/*", "times": 1},
                     {"kind": "tokenOutage", "times": 5}]
                    """, throttleSeconds: 2)
        ]
        guard Matrix.full else { return cases }
        cases += [
            Transient(
                label: "throttle",
                rules: #"[{"kind": "throttle", "path": "/subscriptions/*", "times": 6, "retryAfter": 2}]"#,
                throttleSeconds: 2),
            Transient(
                label: "errors",
                rules: """
                    [{"kind": "error", "status": 503, "method": "GET", "path": "/subscriptions/*", "times": 3},
                     {"kind": "error", "status": 500, "method": "PUT", "path": "*/disks/*", "times": 2},
                     {"kind": "error", "status": 500, "method": "DELETE", "path": "*/disks/*", "times": 2}]
                    """),
            Transient(
                label: "drops",
                rules: """
                    [{"kind": "drop", "method": "GET", "path": "/subscriptions/*", "skip": 2, "times": 3},
                     {"kind": "drop", "method": "PUT", "path": "*/galleries/*", "times": 1}]
                    """),
            Transient(label: "tokens", rules: #"[{"kind": "tokenOutage", "times": 3}]"#),
            Transient(
                label: "throttle-polls",
                rules:
                    #"[{"kind": "throttle", "method": "GET", "path": "*operations/*", "times": 5, "retryAfter": 1}]"#,
                throttleSeconds: 1),
            // 6 in a row on one request: Kiln makes 8 attempts at most (AzureRetryPolicy.arm).
            Transient(
                label: "throttle-writes",
                rules:
                    #"[{"kind": "throttle", "method": "PUT", "path": "/subscriptions/*", "times": 6, "retryAfter": 3}, {"kind": "throttle", "method": "POST", "path": "/subscriptions/*", "times": 2, "retryAfter": 3}]"#,
                throttleSeconds: 3),
            Transient(
                label: "errors-502-504",
                rules:
                    #"[{"kind": "error", "status": 502, "path": "/subscriptions/*", "skip": 5, "times": 2}, {"kind": "error", "status": 504, "method": "GET", "path": "/subscriptions/*", "skip": 10, "times": 3}]"#
            ),
            Transient(
                label: "drops-late",
                rules:
                    #"[{"kind": "drop", "method": "GET", "path": "/subscriptions/*", "skip": 20, "times": 4}, {"kind": "drop", "method": "DELETE", "path": "/subscriptions/*", "times": 1}]"#
            ),
            Transient(label: "tokens-long", rules: #"[{"kind": "tokenOutage", "times": 6}]"#)
        ]
        return cases
    }

    /// Slow enough operations that Kiln polls them (so poll spacing is checked too).
    static let pollingConfig =
        #"{"latency": {"diskCreate": 2, "snapshot": 2, "image": 1}, "retryAfterSeconds": 1, "tokenLifetimeSeconds": 30}"#

    @Test(arguments: Faults.transients)
    func aTransientFaultIsRiddenOut(_ fault: Transient) async throws {
        let build = try await FaultBuild(
            "t\(fault.label.replacingOccurrences(of: "-", with: ""))", config: Self.pollingConfig)
        defer { build.close() }
        try await build.emulator.setFaults(fault.rules)
        let apply = try await build.apply()
        #expect(apply.status == 0, "\(fault.label): \(apply.stdout)\n\(apply.stderr)")
        let log = try await build.timeline()
        // The fault really happened (else the case tests nothing).
        let faulted = log.filter { [0, 429, 500, 502, 503, 504].contains($0.status) }
        #expect(!faulted.isEmpty, "\(fault.label): no request was faulted")
        let early = earlyRepeats(
            in: log, throttleSeconds: fault.throttleSeconds, pollSeconds: 1,
            operationEnds: try await build.operationEnds())
        #expect(early.isEmpty, "\(fault.label): repeated too soon: \(early)")
        print(
            "faults: transient \(fault.label): exit \(apply.status), \(log.count) requests, \(faulted.count) faulted, \(early.count) too early"
        )
        try await build.emulator.setFaults("[]")
        try await build.expectConverged(fault.label)
    }

    /// An Azure operation that ends `Failed`: which request, and the action that issues it.
    struct FailedOperation: Sendable, CustomTestStringConvertible {
        var label: String
        var method: String
        var path: String
        var action: String
        var testDescription: String { label }
    }

    static var failedOperations: [FailedOperation] {
        // Not `*/images/*`: the image definition (`galleries/…/images/…`), made at the start, matches that too.
        let image = FailedOperation(
            label: "image", method: "PUT", path: "*/Microsoft.Compute/images/*", action: "image")
        guard Matrix.full else { return [image] }
        return [
            image,
            FailedOperation(label: "disk", method: "PUT", path: "*/disks/*", action: "create-disk[os]"),
            FailedOperation(label: "attach", method: "POST", path: "*/attachDetachDataDisks", action: "attach[os]"),
            FailedOperation(
                label: "definition", method: "PUT", path: "*/galleries/*/images/*", action: "gallery-definition"),
            FailedOperation(label: "version", method: "PUT", path: "*/versions/*", action: "gallery-version")
        ]
    }

    @Test(arguments: Faults.failedOperations)
    func anOperationEndingFailedFailsTheApplyAndAReRunConverges(_ op: FailedOperation) async throws {
        let build = try await FaultBuild("op\(op.label)")
        defer { build.close() }
        try await build.emulator.setFaults(
            #"[{"kind": "failOperation", "method": "\#(op.method)", "path": "\#(op.path)", "times": 1, "code": "InternalDiskManagementError", "message": "Injected failure."}]"#
        )
        let failed = try await build.apply()
        #expect(failed.status == 1, "\(op.label): \(failed.stdout)\n\(failed.stderr)")
        let text = failed.stdout + failed.stderr
        #expect(text.contains("\(build.name)/\(op.action)"), "\(op.label): the message names the action: \(text)")
        #expect(
            text.contains("InternalDiskManagementError") && text.contains("Injected failure"),
            "\(op.label): the message gives the cause: \(text)")
        try await build.emulator.setFaults("[]")
        let rerun = try await build.apply()
        #expect(rerun.status == 0, "\(op.label): \(rerun.stdout)\n\(rerun.stderr)")
        if ["image", "definition", "version"].contains(op.label) {
            #expect(
                !rerun.stdout.contains("\(build.name)/provision[motd]: running"),
                "\(op.label): the re-run resumed: \(rerun.stdout)")
        }
        try await build.expectConverged("operation Failed (\(op.label))")
        print(
            "faults: operation Failed (\(op.label)): exit \(failed.status), then \(rerun.status); \(failureLine(failed))"
        )
    }

    /// Throttling that outlasts Kiln's retries (8 attempts per request) is not transient:
    /// apply stops with Azure's words and the wait it asked for, and a later run resumes.
    @Test(.enabled(if: Matrix.full, "full matrix only (make robustness)"))
    func endlessThrottlingFailsClearlyAndAReRunConverges() async throws {
        let build = try await FaultBuild("throttleforever", config: Self.pollingConfig)
        defer { build.close() }
        try await build.emulator.setFaults(
            #"[{"kind": "throttle", "method": "GET", "path": "*operations/*", "times": 0, "retryAfter": 1}]"#)
        let failed = try await build.apply()
        #expect(failed.status == 1, "\(failed.stdout)\n\(failed.stderr)")
        let text = failed.stdout + failed.stderr
        #expect(text.contains("\(build.name)/create-disk[os]"), "the message names the action: \(text)")
        #expect(
            text.contains("429 TooManyRequests") && text.contains("asks to wait 1 s"),
            "the message gives the cause: \(text)")
        let early = earlyRepeats(
            in: try await build.timeline(), throttleSeconds: 1, pollSeconds: 1,
            operationEnds: try await build.operationEnds())
        #expect(early.isEmpty, "repeated too soon: \(early)")
        try await build.emulator.setFaults("[]")
        let rerun = try await build.apply()
        #expect(rerun.status == 0, "\(rerun.stdout)\n\(rerun.stderr)")
        try await build.expectConverged("endless throttling")
        print("faults: endless throttling: exit \(failed.status), then \(rerun.status); \(failureLine(failed))")
    }

    @Test func aDeviceThatNeverAppearsFailsTheApplyAndAReRunConverges() async throws {
        let build = try await FaultBuild(
            "nodevice", edits: [("    tags:\n", "    timeouts:\n      deviceWait: 5s\n    tags:\n")])
        defer { build.close() }
        try await build.emulator.setFaults(#"[{"kind": "noDevice"}]"#)
        let failed = try await build.apply()
        #expect(failed.status == 1, "\(failed.stdout)\n\(failed.stderr)")
        let text = failed.stdout + failed.stderr
        #expect(
            text.contains("\(build.name)/device[os]") || text.contains("\(build.name)/attach[os]"),
            "the message names the action: \(text)")
        #expect(text.contains("no block device appeared for LUN 0"), "the message gives the cause: \(text)")
        try await build.emulator.setFaults("[]")
        let rerun = try await build.apply()
        #expect(rerun.status == 0, "\(rerun.stdout)\n\(rerun.stderr)")
        #expect(
            !rerun.stdout.contains("\(build.name)/create-disk[os]: creating"), "the re-run resumed: \(rerun.stdout)")
        try await build.expectConverged("device never appears")
        print("faults: device never appears: exit \(failed.status), then \(rerun.status); \(failureLine(failed))")
    }

    @Test func aMountThatFailsFailsTheApplyAndTheFixedManifestConverges() async throws {
        let build = try await FaultBuild(
            "mount", edits: [("    provision:\n", "    mount:\n      options: [kiln_no_such_option]\n    provision:\n")]
        )
        defer { build.close() }
        let failed = try await build.apply()
        #expect(failed.status == 1, "\(failed.stdout)\n\(failed.stderr)")
        let text = failed.stdout + failed.stderr
        #expect(text.contains("\(build.name)/mount"), "the message names the action: \(text)")
        #expect(
            text.contains("mount") && text.contains("kiln_no_such_option"), "the message shows the command: \(text)")
        // The fix changes the mount settings, hence the digest: a new run, which must also
        // clean up what the failed run left attached.
        try build.dir.edit(build.manifest, replacing: "    mount:\n      options: [kiln_no_such_option]\n", with: "")
        let rerun = try await build.apply()
        #expect(rerun.status == 0, "\(rerun.stdout)\n\(rerun.stderr)")
        try await build.expectConverged("mount fails")
        print("faults: mount fails: exit \(failed.status), then \(rerun.status); \(failureLine(failed))")
    }

    @Test func aFailingProvisioningCommandFailsTheApplyAndAReRunResumes() async throws {
        let build = try await FaultBuild("step")
        defer { build.close() }
        build.setSwitch("fail", true)
        let failed = try await build.apply()
        #expect(failed.status == 1, "\(failed.stdout)\n\(failed.stderr)")
        let text = failed.stdout + failed.stderr
        #expect(text.contains("\(build.name)/provision[fault]"), "the message names the step: \(text)")
        #expect(
            text.contains("7") && text.contains("injected failure"),
            "the message gives the exit status and the step's output: \(text)")
        build.setSwitch("fail", false)
        let rerun = try await build.apply()
        #expect(rerun.status == 0, "\(rerun.stdout)\n\(rerun.stderr)")
        #expect(
            !rerun.stdout.contains("\(build.name)/provision[motd]: running"), "motd is not run again: \(rerun.stdout)")
        #expect(
            rerun.stdout.contains("\(build.name)/provision[fault]: running"),
            "the failed step runs again: \(rerun.stdout)")
        try await build.expectConverged("step fails")
        print("faults: provisioning command fails: exit \(failed.status), then \(rerun.status); \(failureLine(failed))")
    }

    @Test func aHangingProvisioningCommandTimesOutAndAReRunResumes() async throws {
        let build = try await FaultBuild("hang")
        defer { build.close() }
        build.setSwitch("hang", true)
        let failed = try await build.apply()
        #expect(failed.status == 1, "\(failed.stdout)\n\(failed.stderr)")
        let text = failed.stdout + failed.stderr
        #expect(text.contains("\(build.name)/provision[fault]"), "the message names the step: \(text)")
        #expect(
            text.lowercased().contains("timed out") || text.lowercased().contains("timeout"),
            "the message says it timed out: \(text)")
        #expect(text.contains("4s") || text.contains("4 s"), "the message gives the timeout: \(text)")
        build.setSwitch("hang", false)
        let rerun = try await build.apply()
        #expect(rerun.status == 0, "\(rerun.stdout)\n\(rerun.stderr)")
        #expect(
            !rerun.stdout.contains("\(build.name)/provision[motd]: running"), "motd is not run again: \(rerun.stdout)")
        try await build.expectConverged("step hangs")
        print("faults: provisioning command hangs: exit \(failed.status), then \(rerun.status); \(failureLine(failed))")
    }
}

/// The first "✗ action: failed …" line of a failed apply, for the report.
func failureLine(_ result: ProcessResult) -> String {
    (result.stdout + result.stderr).split(separator: "\n").first { $0.contains("✗") }.map {
        $0.trimmingCharacters(in: .whitespaces)
    } ?? "(no ✗ line)"
}
