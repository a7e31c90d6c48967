import Foundation
import Model
import TestSupport
import Testing

/// Issue 13's matrix for builds of several disks: Azure's operation ending `Failed` for one
/// disk of the 2-data-disk example (its creation, its attach, its detach, its deletion) or for
/// an output. The apply fails naming the action and Azure's reason; once the fault is gone a
/// plain apply converges, redoing only what the failure invalidated: no disk whose work is
/// captured is formatted or provisioned again, nothing is created twice, nothing is left.
@Suite(
    .serialized, .endToEnd,
    .enabled(if: Privileges.isRoot, "needs root: the emulator attaches loop devices, kiln mounts and chroots"))
struct MultiDiskFaultTests {
    /// One operation to fail: the requests it matches (`%B` stands for the build's name;
    /// every matching request of the faulted apply fails, so Kiln's own retry of a failed
    /// batch change by change fails too) and the action whose failure names it.
    struct Case: Sendable, CustomStringConvertible {
        var action: String
        var method: String
        var path: String
        var body: String?
        /// The failure comes after provisioning: the re-run must not provision again.
        var afterProvisioning: Bool

        var description: String { action }

        func rule(for build: String) -> String {
            let fill = { (s: String) in s.replacingOccurrences(of: "%B", with: build) }
            let body = self.body.map { #", "body": "\#(fill($0))""# } ?? ""
            return
                #"[{"kind": "failOperation", "method": "\#(method)", "path": "\#(fill(path))"\#(body), "times": 0, "code": "InternalDiskManagementError", "message": "Injected failure."}]"#
        }
    }

    static let roles = ["os", "lun0", "lun1"]

    /// Every operation kind for every disk (full matrix); one of each place in the build
    /// (before, at and after provisioning) in `make test`.
    static var cases: [Case] {
        var all: [Case] = []
        for role in roles {
            all.append(
                Case(
                    action: "create-disk[\(role)]", method: "PUT", path: "*/disks/kiln-%B-*-\(role)",
                    afterProvisioning: false))
            all.append(
                Case(
                    action: "attach[\(role)]", method: "POST", path: "*/attachDetachDataDisks",
                    body: "*datadiskstoattach*kiln-%B-*-\(role)\\\"*", afterProvisioning: false))
            all.append(
                Case(
                    action: "detach[\(role)]", method: "POST", path: "*/attachDetachDataDisks",
                    body: "*datadiskstodetach*kiln-%B-*-\(role)\\\"*", afterProvisioning: true))
            all.append(
                Case(
                    action: "delete-disk[\(role)]", method: "DELETE", path: "*/disks/kiln-%B-*-\(role)",
                    afterProvisioning: true))
        }
        all += [
            Case(action: "image", method: "PUT", path: "*/microsoft.compute/images/%B", afterProvisioning: true),
            Case(
                action: "gallery-definition", method: "PUT", path: "*/galleries/*/images/%B", afterProvisioning: false),
            Case(action: "gallery-version", method: "PUT", path: "*/images/%B/versions/*", afterProvisioning: true)
        ]
        guard !Matrix.full else { return all }
        return all.filter { ["attach[lun1]", "detach[lun0]", "delete-disk[lun1]"].contains($0.action) }
    }

    @Test func anOperationFailingForOneDiskIsRedoneAloneByTheNextApply() async throws {
        try await withChecks { checks in
            let rig = try await CrashRig("kiln-multidisk", example: "data-disks", exampleBuild: "with-data")
            var results: [CrashCaseResult] = []
            let start = Date()
            for c in Self.cases {
                let result = await Self.run(c, rig: rig, checks: checks)
                checks.expect(result.clean, "\(result)\n\(result.problems.joined(separator: "\n"))")
                results.append(result)
            }
            print(
                CrashMatrixSummary(
                    title: "failed operations, 2-data-disk build (\(Matrix.full ? "full" : "reduced"))",
                    results: results,
                    seconds: Date().timeIntervalSince(start)))
        }
    }

    static func run(_ c: Case, rig: CrashRig, checks: Checks) async -> CrashCaseResult {
        let caseStart = Date()
        var result = CrashCaseResult(label: "\(c.action) ends Failed")
        do {
            let build = try rig.nextBuild("md")
            try await rig.emulator.setFaults(c.rule(for: build.name))
            let failed = try await rig.apply(build)
            try await rig.emulator.setFaults("[]")
            result.killed = failed.status == 1
            checks.expect(
                failed.status == 1, "\(c.action): the faulted apply exited \(failed.status):\n\(failed.output)")
            checks.expect(
                failed.output.contains("✗ \(build.name)/\(c.action)")
                    && failed.output.contains("InternalDiskManagementError")
                    && failed.output.contains("Injected failure"),
                "\(c.action): the failure names the action and Azure's reason:\n\(failed.output)")
            try await rig.checkResume(build, into: &result, interrupted: failed.output)
            // The PUT whose operation failed is sent again, as it must be; any other twice is a fault.
            if c.method == "PUT" {
                let failedPath = c.path.replacingOccurrences(of: "%B", with: build.name).lowercased()
                result.createdTwice.removeAll { entry in
                    let path = entry.dropFirst("PUT ".count).prefix { $0 != " " }.lowercased()
                    return entry.hasSuffix("×2") && Glob.matches(pattern: failedPath, text: path)
                }
            }
            if c.afterProvisioning {
                let resumed = result.resumeOutput
                for step in ["pre-mount", "provision["] where resumed.contains("\(build.name)/\(step)") {
                    result.problems.append("\(c.action): the re-run ran \(step) again:\n\(resumed)")
                }
            }
        } catch {
            result.problems.append("\(error)")
        }
        result.seconds = Date().timeIntervalSince(caseStart)
        print(result)
        return result
    }
}
