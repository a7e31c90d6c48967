import Foundation
import TestSupport
import Testing

/// A copy of the quick start renamed `fault<label>`, with an emulator of its own and switches
/// for a provisioning step that fails or hangs. Its scratch directory and emulator go when
/// the test ends (`TestScope`).
///
/// The switches are files in the host's `/dev`, which the chroot sees through its `/dev`
/// bind mount: they change what the step does without changing the manifest, so the build's
/// digest (and its run id) stays the same and a re-run resumes the failed run.
final class FaultBuild: @unchecked Sendable {
    // Used by one test at a time (each test makes its own).
    let name: String
    let dir: TemporaryDirectory
    let emulator: ServedEmulator
    let switchPrefix: String
    let manifest = "manifests/quickstart.yaml"

    /// `edits`: further (old, new) replacements in the manifest; `config`: the emulator's.
    init(_ label: String, config: String? = nil, edits: [(String, String)] = []) async throws {
        let name = "fault\(label)"
        let dir = try manifestScratch("kiln-\(name)")
        let switchPrefix = "/dev/kiln-fault-\(UUID().uuidString.prefix(8).lowercased())"
        let manifest = "manifests/quickstart.yaml"
        try dir.edit(manifest, replacing: "  - name: quickstart\n", with: "  - name: \(name)\n")
        // A step that fails or hangs on demand; its timeout is short so a hang ends soon.
        try dir.edit(
            manifest, replacing: "      - name: setup\n",
            with: """
                      - name: fault
                        timeout: 4s
                        shell:
                          - if [ -e \(switchPrefix)-fail ]; then echo "injected failure" >&2; exit 7; fi
                          - while [ -e \(switchPrefix)-hang ]; do sleep 1; done
                      - name: setup

                """)
        for (old, new) in edits { try dir.edit(manifest, replacing: old, with: new) }
        emulator = try await ServedEmulator(stateDirectory: dir.url.appendingPathComponent("emu"), configJSON: config)
        self.name = name
        self.dir = dir
        self.switchPrefix = switchPrefix
    }

    var mountPath: String { dir.hostPaths.mountPath(name) }

    func kiln(_ command: String, _ extra: [String] = []) async throws -> ProcessResult {
        var arguments = [command, "--emulator-endpoints", emulator.endpointsFile]
        if command == "apply" { arguments.append("--auto-approve") }
        if command == "plan" { arguments.append("--detailed-exitcode") }
        return try await KilnBinary.run(arguments + extra + [manifest], in: dir.url)
    }

    func apply() async throws -> ProcessResult { try await kiln("apply") }

    /// Turns the provisioning step's failure (`fail`) or hang (`hang`) on or off.
    func setSwitch(_ which: String, _ on: Bool) {
        let path = "\(switchPrefix)-\(which)"
        if on {
            FileManager.default.createFile(atPath: path, contents: Data("kiln fault test\n".utf8))
        } else {
            unlink(path)
        }
    }

    /// Temporary disks and snapshots still in the emulator, mounts under the build's path,
    /// and loop devices backed by this test's files.
    func leftovers() async throws -> [String] {
        var found: [String] = []
        found += try await emulator.resources(ofType: "Microsoft.Compute/disks").map { "disk \($0)" }
        found += try await emulator.resources(ofType: "Microsoft.Compute/snapshots").map { "snapshot \($0)" }
        found += await Leaks.mounts(under: mountPath).map { "mount \($0)" }
        found += await Leaks.loopDevices(backedUnder: dir.url).map { "loop device \($0)" }
        return found
    }

    /// Checks the build converged: the plan is empty, outputs exist, nothing is left.
    func expectConverged(_ context: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let plan = try await kiln("plan")
        #expect(
            plan.status == 0, "\(context): plan after the re-run: \(plan.stdout)\(plan.stderr)",
            sourceLocation: sourceLocation)
        #expect(
            try await emulator.resources(ofType: "Microsoft.Compute/images").count == 1, "\(context)",
            sourceLocation: sourceLocation)
        #expect(
            try await emulator.resources(ofType: "Microsoft.Compute/galleries/images/versions").count == 1,
            "\(context)", sourceLocation: sourceLocation)
        let left = try await leftovers()
        #expect(left.isEmpty, "\(context): left behind: \(left)", sourceLocation: sourceLocation)
    }

    /// Every request the emulator logged, with its time.
    func timeline() async throws -> [TimedRequest] {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let raw =
            try JSONSerialization.jsonObject(with: await emulator.call("GET", "requests")) as? [[String: Any]] ?? []
        return raw.compactMap { e in
            guard let seq = e["sequence"] as? Int, let t = (e["time"] as? String).flatMap(formatter.date(from:)),
                let method = e["method"] as? String, let path = e["path"] as? String, let status = e["status"] as? Int
            else { return nil }
            return TimedRequest(sequence: seq, time: t, method: method, path: path, status: status)
        }.sorted { $0.sequence < $1.sequence }
    }

    /// When each operation of the emulator ends (lower-cased id → start + duration).
    func operationEnds() async throws -> [String: Date] {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let operations = (try await emulator.inventory())["operations"] as? [[String: Any]] ?? []
        var ends: [String: Date] = [:]
        for op in operations {
            guard let id = op["id"] as? String, let start = (op["startTime"] as? String).flatMap(formatter.date(from:))
            else { continue }
            ends[id.lowercased()] = start.addingTimeInterval((op["durationSeconds"] as? NSNumber)?.doubleValue ?? 0)
        }
        return ends
    }

    /// Removes the switches (the scratch directory, its mounts and the emulator go when the
    /// test ends).
    func close() {
        setSwitch("fail", false)
        setSwitch("hang", false)
    }
}

/// One request of the emulator's log, with the time it arrived.
struct TimedRequest: Sendable {
    var sequence: Int
    var time: Date
    var method: String
    var path: String
    var status: Int

    var key: String { "\(method) \(path)" }
    var isTokenRequest: Bool {
        path.lowercased().contains("/oauth2/") || path.lowercased().hasPrefix("/metadata/identity/")
    }
    var isOperationPoll: Bool {
        let p = path.lowercased()
        return method == "GET"
            && (p.contains("/diskoperations/") || p.contains("/operations/") || p.contains("/capsoperations/"))
    }
}

/// Requests repeated sooner than the server allowed: after a 429 with `Retry-After:
/// throttleSeconds`, the same request again; and after a poll answered "in progress" (a 2xx
/// before the operation's end, `operationEnds` by lower-cased operation id), the
/// next poll of that URL sooner than the answer's `Retry-After: pollSeconds`. Times are when
/// the emulator received each request, so a gap measured is at least the client's wait.
func earlyRepeats(in log: [TimedRequest], throttleSeconds: Double, pollSeconds: Double, operationEnds: [String: Date])
    -> [String]
{
    let slack = 0.05  // the log keeps milliseconds
    var found: [String] = []
    for (i, r) in log.enumerated() {
        let wait: Double
        if r.status == 429 {
            wait = throttleSeconds
        } else if r.isOperationPoll, (200..<300).contains(r.status),
            let end = operationEnds[r.path.split(separator: "/").last.map { $0.lowercased() } ?? ""], r.time < end
        {
            // Only an "in progress" answer carries the Retry-After to honour: after a dropped
            // connection (status 0) or a 5xx the client retries on its own backoff.
            wait = pollSeconds
        } else {
            continue
        }
        guard let next = log[(i + 1)...].first(where: { $0.key == r.key }) else { continue }
        let gap = next.time.timeIntervalSince(r.time)
        if gap + slack < wait {
            found.append(
                "\(next.key) #\(next.sequence) came \(String(format: "%.3f", gap)) s after #\(r.sequence) (status \(r.status)), wanted ≥ \(wait) s"
            )
        }
    }
    return found
}
