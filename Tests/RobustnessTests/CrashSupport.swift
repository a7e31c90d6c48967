import Foundation
import TestSupport
import Testing

// The crash matrix's rig: one served emulator for every case (so it outlives each killed
// kiln), one scratch copy of the examples, and per case a copy of the quick start with its
// own build name (so its own temporary resources, mount path and journal), image and gallery
// version. Sharing the emulator keeps the matrix fast; distinct names keep cases apart.

/// The quick start renamed for one case: build and image `name`, gallery version `version`
/// of the shared image definition `crash`. Mounts at `mountPath` (under the rig's mount root).
struct CrashBuild {
    let name: String
    let version: String
    let mountPath: String
    var manifest: String { "manifests/\(name).yaml" }

    /// Whether an ARM path names one of this build's resources: its temporary disks and
    /// snapshots (`kiln-<name>-…`), its image, image definition and gallery version.
    func owns(_ path: String) -> Bool {
        let p = path.lowercased()
        return p.contains("/kiln-\(name)-") || p.hasSuffix("/images/\(name)") || p.contains("/images/\(name)/")
    }

    /// Lines of /proc/self/mountinfo at or under the build's mount path (`crash1` must not
    /// match `crash10`).
    func leftoverMounts() async -> [String] { await Leaks.mounts(under: mountPath) }
}

/// How one case ended: the figures the matrix reports.
struct CrashCaseResult: Sendable, CustomStringConvertible {
    var label: String
    /// The killed run died as asked (exit 137); false when it finished or failed instead.
    var killed = false
    /// Resume exited 0 and a following `plan --detailed-exitcode` said nothing to do.
    var converged = false
    /// `PUT <path>` of a disk, snapshot, image or gallery version sent more than once.
    var createdTwice: [String] = []
    /// Temporary disks or snapshots of the build still in the emulator.
    var leftoverResources: [String] = []
    var leftoverMounts: [String] = []
    var leftoverLoopDevices: [String] = []
    /// Local steps (formatting, provisioning …) the resume ran again after the interrupted
    /// run had finished them.
    var stepsRerun: [String] = []
    /// What the resume printed.
    var resumeOutput = ""
    var seconds: Double = 0
    /// What went wrong, with the kiln output that shows it.
    var problems: [String] = []

    var clean: Bool {
        converged && createdTwice.isEmpty && leftoverResources.isEmpty && leftoverMounts.isEmpty
            && leftoverLoopDevices.isEmpty && stepsRerun.isEmpty && problems.isEmpty
    }

    var description: String {
        "\(label): killed=\(killed) converged=\(converged) twice=\(createdTwice) leftovers=\(leftoverResources + leftoverMounts + leftoverLoopDevices) rerun=\(stepsRerun) \(String(format: "%.1f", seconds)) s"
    }
}

/// Totals over the cases of one matrix, printed for docs/reliability.md.
struct CrashMatrixSummary: CustomStringConvertible {
    var title: String
    var results: [CrashCaseResult]
    var seconds: Double

    var description: String {
        let twice = results.reduce(0) { $0 + $1.createdTwice.count }
        let resources = results.reduce(0) { $0 + $1.leftoverResources.count }
        let mounts = results.reduce(0) { $0 + $1.leftoverMounts.count }
        let loops = results.reduce(0) { $0 + $1.leftoverLoopDevices.count }
        return
            "crash matrix \(title): cases \(results.count), killed \(results.filter(\.killed).count), converged \(results.filter(\.converged).count), "
            + "created twice \(twice), leftover resources \(resources), mounts \(mounts), loop devices \(loops), wall \(String(format: "%.0f", seconds)) s"
    }
}

/// The shared emulator and scratch directory of a crash suite run; both go when the test
/// ends (`TestScope`).
final class CrashRig: @unchecked Sendable {
    // Fields are set once in init, except `counter`, guarded by `lock`: cases of one matrix
    // run on several threads at once (each with its own build).
    let scratch: TemporaryDirectory
    let emulator: ServedEmulator
    private let lock = NSLock()
    private var counter = 0
    /// The example the builds copy, and the build name it has.
    private let base: (text: String, build: String)
    /// Tells this rig's builds from those of another run of the suite (in the emulator's
    /// request log and the loop devices' backing files).
    private let run = String(UUID().uuidString.lowercased().prefix(4))

    /// `configJSON`: the emulator configuration (e.g. a fixed port so a restarted emulator
    /// answers where the running kiln expects it).
    /// `example`: the manifest under `manifests/` the builds copy (`quickstart`, or
    /// `data-disks`: an OS disk and two data disks), whose build is named `exampleBuild`.
    init(
        _ label: String, configJSON: String? = nil, example: String = "quickstart", exampleBuild: String = "quickstart"
    ) async throws {
        scratch = try manifestScratch(label)
        emulator = try await ServedEmulator(
            stateDirectory: scratch.url.appendingPathComponent("emulator"), configJSON: configJSON)
        base = (scratch.read("manifests/\(example).yaml") ?? "", exampleBuild)
    }

    /// A fresh build for the next case: build, image and gallery image definition
    /// `crash<run><prefix><n>`, gallery version 1.0.<n>.
    func nextBuild(_ prefix: String = "") throws -> CrashBuild {
        let n = lock.withLock {
            counter += 1
            return counter
        }
        let name = "crash\(run)\(prefix)\(n)"
        let build = CrashBuild(name: name, version: "1.0.\(n)", mountPath: scratch.hostPaths.mountPath(name))
        let text =
            base.text
            .replacingOccurrences(of: "name: \(base.build)", with: "name: \(build.name)")
            .replacingOccurrences(of: "images/\(base.build)", with: "images/\(build.name)")
            .replacingOccurrences(of: "imageDefinition: \(base.build)", with: "imageDefinition: \(build.name)")
            .replacingOccurrences(of: "version: 1.0.0", with: "version: \(build.version)")
        guard text.contains(build.name), text.contains(build.version) else {
            throw FixtureError("the example of build \(base.build) changed shape; update CrashRig.nextBuild")
        }
        try scratch.write(build.manifest, text)
        return build
    }

    /// The environment for kiln: this process's, with `KILN_CRASH_AT` set or removed.
    func environment(crashAt: String?) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["KILN_CRASH_AT"] = crashAt
        return env
    }

    var target: [String] { ["--emulator-endpoints", emulator.endpointsFile] }

    /// `kiln apply` in the background.
    func startApply(_ build: CrashBuild, crashAt: String? = nil, extra: [String] = []) throws -> BackgroundKiln {
        try BackgroundKiln(
            ["apply"] + target + ["--auto-approve"] + extra + [build.manifest], in: scratch.url,
            environment: environment(crashAt: crashAt))
    }

    /// `kiln apply` to its end (bounded: a hang is killed and reported as exit 999).
    func apply(_ build: CrashBuild, crashAt: String? = nil, timeout: Duration = .seconds(600)) async throws -> (
        status: Int32, output: String
    ) {
        let kiln = try startApply(build, crashAt: crashAt)
        let status = await Self.finish(kiln, timeout: timeout)
        // What a killed kiln left running (its session) goes with it, as in a machine crash.
        await kiln.stop()
        return (status, kiln.output)
    }

    /// Waits for `kiln` to exit; 999 when it had to be killed after `timeout`.
    static func finish(_ kiln: BackgroundKiln, timeout: Duration = .seconds(600)) async -> Int32 {
        guard let status = await kiln.process.exit(within: timeout) else {
            await kiln.stop()
            return 999
        }
        return status
    }

    /// `kiln plan --detailed-exitcode` (0: nothing to do).
    func plan(_ build: CrashBuild) async throws -> ProcessResult {
        try await KilnBinary.run(
            ["plan"] + target + ["--detailed-exitcode", build.manifest], in: scratch.url,
            environment: environment(crashAt: nil))
    }

    /// The pending action ids of a fresh build's plan, in plan order, without the build
    /// name (`attach[os]`), from `kiln plan --json`.
    func pendingActions(of build: CrashBuild) async throws -> [String] {
        let result = try await KilnBinary.run(
            ["plan"] + target + ["--json", build.manifest], in: scratch.url, environment: environment(crashAt: nil))
        guard let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
            let plan = object["plan"] as? [String: Any], let actions = plan["actions"] as? [[String: Any]]
        else {
            throw FixtureError("kiln plan --json gave no actions: \(result.stdout)\n\(result.stderr)")
        }
        return actions.compactMap { action -> String? in
            guard let id = action["id"] as? String, (action["status"] as? String) != "done" else { return nil }
            return String(id.dropFirst(build.name.count + 1))
        }
    }

    /// The last request number so far (to wait for a case's requests).
    func requestMark() async throws -> Int { try await emulator.requests().last?.sequence ?? 0 }

    /// PUTs creating the same disk, snapshot, image, gallery image definition or version
    /// of `build` more than once in `requests` (default: the whole log), with their count.
    func createdTwice(_ build: CrashBuild, in requests: [LoggedRequest]? = nil) async throws -> [String] {
        let all: [LoggedRequest]
        if let requests { all = requests } else { all = try await emulator.requests() }
        let creating = all.filter { request in
            request.method == "PUT" && request.isMutatingARM && request.status != 0
                && build.owns(request.key.lowercased())
        }
        var seen: [String: Int] = [:]
        for request in creating { seen[request.key, default: 0] += 1 }
        return seen.filter { $0.value > 1 }.map { "\($0.key) ×\($0.value)" }.sorted()
    }

    /// The build's temporary disks and snapshots still in the emulator.
    func leftoverResources(of build: CrashBuild) async throws -> [String] {
        let fragment = "kiln-\(build.name)-"
        return
            (try await emulator.resources(ofType: "Microsoft.Compute/disks")
            + (try await emulator.resources(ofType: "Microsoft.Compute/snapshots")))
            .filter { $0.lowercased().contains(fragment) }
    }

    /// Resume, plan and leak checks after a case's interruption, filled into `result`;
    /// `interrupted`: the output of the interrupted run(s), to tell steps run again.
    func checkResume(_ build: CrashBuild, into result: inout CrashCaseResult, interrupted: String? = nil)
        async throws
    {
        let resumed = try await apply(build)
        result.resumeOutput = resumed.output
        if let interrupted {
            result.stepsRerun = Self.stepsRerun(build, finishedIn: interrupted, resume: resumed.output)
        }
        let plan = try await plan(build)
        result.converged = resumed.status == 0 && plan.status == 0
        if resumed.status != 0 { result.problems.append("resume exited \(resumed.status):\n\(resumed.output)") }
        if plan.status != 0 {
            result.problems.append("plan after the resume exited \(plan.status):\n\(plan.stdout)\(plan.stderr)")
        }
        result.createdTwice = try await createdTwice(build)
        result.leftoverResources = try await leftoverResources(of: build)
        result.leftoverMounts = await build.leftoverMounts()
        // The emulator names a disk's blob after the disk (`…kiln-<build>-<run>-os-<hash>.img`).
        result.leftoverLoopDevices = await Leaks.loopDevices(backedUnder: emulator.stateDirectory).filter {
            $0.contains("kiln-\(build.name)-")
        }
    }
}

extension CrashRig {
    /// `lun<N>` links under the emulator's device root (only meaningful while no build of
    /// the rig has a disk attached).
    func strayDeviceLinks() async -> [String] {
        let directory = emulator.stateDirectory.appendingPathComponent("dev/disk/azure/scsi1").path
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix("lun") }.sorted().map { "link \(directory)/\($0)" }
    }

    /// The local steps of `build` that `resume` started although `interrupted` had
    /// finished them (`✓ B/provision[x]` there, `B/provision[x]: running` here).
    static func stepsRerun(_ build: CrashBuild, finishedIn interrupted: String, resume: String) -> [String] {
        let steps = ["pre-mount", "post-mount", "copy-files", "provision[", "pre-unmount", "restore-files"]
        let finished = interrupted.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("✓ \(build.name)/") else { return nil }
            let id = line.dropFirst("✓ \(build.name)/".count).prefix { $0 != ":" }
            return steps.contains { id.hasPrefix($0) } ? String(id) : nil
        }
        return finished.filter { resume.contains("\(build.name)/\($0): running") }
    }
}

/// Runs `body(0..<count)`, up to `width` at once; the results in index order.
/// (The cases wait mostly on Azure-style polling, so a few at a time cut the wall time
/// nearly by as much.)
func runConcurrently<T: Sendable>(_ count: Int, width: Int, _ body: @escaping @Sendable (Int) async -> T) async -> [T] {
    await withTaskGroup(of: (Int, T).self) { group in
        var next = 0
        var results: [Int: T] = [:]
        func startNext() {
            guard next < count else { return }
            let index = next
            next += 1
            group.addTask { (index, await body(index)) }
        }
        for _ in 0..<max(1, min(width, count)) { startNext() }
        while let (index, result) = await group.next() {
            results[index] = result
            startNext()
        }
        return (0..<count).compactMap { results[$0] }
    }
}

/// A TCP port free at the moment of asking (for an emulator that must keep its port
/// across a restart).
func freeLocalPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw FixtureError("socket: errno \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard bound else { throw FixtureError("bind: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Expectations gathered by a crash test's cases (run concurrently) and reported as issues
/// of the test when it ends.
final class Checks: @unchecked Sendable {
    // Guarded by `lock`.
    private let lock = NSLock()
    private var failures: [(String, SourceLocation)] = []

    func expect(
        _ condition: Bool, _ message: @autoclosure () -> String = "", sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard !condition else { return }
        let text = message()
        lock.withLock { failures.append((text, sourceLocation)) }
    }

    func report() {
        for (text, location) in lock.withLock({ failures }) {
            Issue.record(Comment(rawValue: text), sourceLocation: location)
        }
    }
}

/// Runs a crash test's body, then reports what its `Checks` gathered, however it ended.
func withChecks(_ body: (Checks) async throws -> Void) async throws {
    let checks = Checks()
    defer { checks.report() }
    try await body(checks)
}
