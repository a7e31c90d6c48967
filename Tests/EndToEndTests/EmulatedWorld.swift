import Foundation
import TestSupport
import Testing

/// One end-to-end world for the source-kind, failure and drift suites: a scratch copy of the
/// examples and a served emulator with real loop devices, with the checks every test ends on.
/// Both go when the test ends (`TestScope`).
final class EmulatedWorld: Sendable {
    let dir: TemporaryDirectory
    let emulator: ServedEmulator
    let resourceGroup = "kiln-rg"
    let location = "westus"
    static let diskAPI = "2024-03-02"
    static let computeAPI = "2024-07-01"
    static let galleryAPI = "2024-03-03"

    /// `configJSON`: the emulator's configuration (docs/emulator.md), e.g. preset disk encryption sets.
    init(_ label: String, configJSON: String? = nil) async throws {
        dir = try manifestScratch(label)
        emulator = try await ServedEmulator(
            stateDirectory: dir.url.appendingPathComponent("emu"), configJSON: configJSON)
    }

    /// Stops the emulator (it detaches every disk) and checks that nothing of this world is
    /// left on the machine (the scratch directory goes when the test ends).
    func close(builds: [String], sourceLocation: SourceLocation = #_sourceLocation) async {
        await emulator.stop()
        let loops = await Leaks.loopDevices(backedUnder: dir.url)
        #expect(loops.isEmpty, "loop devices left: \(loops)", sourceLocation: sourceLocation)
        for build in builds {
            let mounts = await Leaks.mounts(under: dir.hostPaths.mountPath(build))
            #expect(mounts.isEmpty, "mounts left for \(build)", sourceLocation: sourceLocation)
        }
    }

    /// `kiln COMMAND --emulator-endpoints … ARGS` in the scratch directory.
    func kiln(_ command: String, _ arguments: [String], environment: [String: String]? = nil) async throws
        -> ProcessResult
    {
        try await KilnBinary.run(
            [command, "--emulator-endpoints", emulator.endpointsFile] + arguments, in: dir.url, environment: environment
        )
    }

    func apply(_ manifest: String) async throws -> ProcessResult {
        try await kiln("apply", ["--auto-approve", manifest])
    }

    /// The id of a resource in the builder's resource group, e.g. `id("images", "web")`.
    func id(_ type: String, _ name: String) -> String {
        "/subscriptions/\(emulator.subscriptionID)/resourceGroups/\(resourceGroup)/providers/Microsoft.Compute/\(type)/\(name)"
    }

    func versionID(_ definition: String, _ version: String, gallery: String = "kiln_gallery") -> String {
        id("galleries", "\(gallery)/images/\(definition)/versions/\(version)")
    }

    /// The last sequence number of the request log (to look at what one command did).
    func lastRequest() async throws -> Int { try await emulator.requests().map(\.sequence).max() ?? 0 }

    /// The mutating ARM requests logged after `sequence`, as `METHOD path` keys.
    func mutations(since sequence: Int) async throws -> [String] {
        try await emulator.requests(since: sequence).filter(\.isMutatingARM).map(\.key)
    }

    /// GETs a resource through ARM; `[:]` when it is absent.
    func get(_ id: String, apiVersion: String) async throws -> [String: Any] {
        let answer = try await emulator.arm("GET", id, apiVersion: apiVersion)
        return answer.status == 200 ? answer.json : [:]
    }

    /// Kiln's digest tag of a published output (nil when absent or untagged).
    func digestTag(_ id: String, apiVersion: String) async throws -> String? {
        (try await get(id, apiVersion: apiVersion)["tags"] as? [String: String])?["kiln:digest"]
    }

    /// What every converged apply leaves: a second plan with nothing to do, no temporary
    /// disk or snapshot (disks in `keeping` are the test's own sources), no attachment to the
    /// builder VM, no mount under the builds' paths.
    func expectConverged(
        _ manifest: String, builds: [String], keeping: Set<String> = [],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let plan = try await kiln("plan", ["--detailed-exitcode", manifest])
        #expect(plan.status == 0, "second plan:\n\(plan.stdout)\n\(plan.stderr)", sourceLocation: sourceLocation)
        let disks = try await emulator.resources(ofType: "Microsoft.Compute/disks").filter {
            !keeping.contains($0.lowercased())
        }
        #expect(disks.isEmpty, "temporary disks left: \(disks)", sourceLocation: sourceLocation)
        let snapshots = try await emulator.resources(ofType: "Microsoft.Compute/snapshots")
        #expect(snapshots.isEmpty, "temporary snapshots left: \(snapshots)", sourceLocation: sourceLocation)
        let inventory = try await emulator.inventory()
        let devices = inventory["devices"] as? [Any] ?? []
        #expect(devices.isEmpty, "devices still attached: \(devices)", sourceLocation: sourceLocation)
        let vm = (inventory["resources"] as? [[String: Any]] ?? []).first {
            ($0["type"] as? String) == "Microsoft.Compute/virtualMachines"
        }
        let dataDisks = vm?["dataDisks"] as? [Any] ?? []
        #expect(dataDisks.isEmpty, "builder VM still has data disks: \(dataDisks)", sourceLocation: sourceLocation)
        let violations = inventory["violations"] as? [Any] ?? []
        #expect(violations.isEmpty, "emulator violations: \(violations)", sourceLocation: sourceLocation)
        for build in builds {
            let mounts = await Leaks.mounts(under: dir.hostPaths.mountPath(build))
            #expect(mounts.isEmpty, "mounts left for \(build)", sourceLocation: sourceLocation)
        }
    }

    /// An image and, when given, a gallery version exist and carry the same Kiln digest tag.
    func expectPublished(image: String?, version: String? = nil, sourceLocation: SourceLocation = #_sourceLocation)
        async throws
    {
        var digests: [String] = []
        if let image {
            let tag = try await digestTag(image, apiVersion: Self.computeAPI)
            #expect(
                tag?.hasPrefix("sha256:") == true, "image \(image): kiln:digest tag \(tag ?? "absent")",
                sourceLocation: sourceLocation)
            if let tag { digests.append(tag) }
        }
        if let version {
            let tag = try await digestTag(version, apiVersion: Self.galleryAPI)
            #expect(
                tag?.hasPrefix("sha256:") == true, "version \(version): kiln:digest tag \(tag ?? "absent")",
                sourceLocation: sourceLocation)
            if let tag { digests.append(tag) }
        }
        #expect(
            Set(digests).count <= 1, "outputs of one build with different digests: \(digests)",
            sourceLocation: sourceLocation)
    }

    /// The content of `path` in the OS disk (blob 0, `partition` when partitioned) or a data
    /// disk (`blob` n) of a published image or version.
    func read(_ path: String, in resource: String, blob: Int = 0, partition: Int? = 1) async throws -> String? {
        let files = try await emulator.blobFiles(of: resource)
        guard blob < files.count else { throw FixtureError("\(resource) has \(files.count) blobs, not \(blob + 1)") }
        return try await DiskImage.read(path, in: files[blob], partition: partition)
    }
}

/// Measures a test's wall-clock time and prints it (the suites' cost is reported, never asserted).
func timed<T>(_ name: String, _ body: () async throws -> T) async rethrows -> T {
    let start = Date()
    defer { print("[e2e timing] \(name): \(String(format: "%.1f", Date().timeIntervalSince(start))) s") }
    return try await body()
}
