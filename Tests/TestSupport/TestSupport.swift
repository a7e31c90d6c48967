import Foundation
import Model

/// Paths of the repository, found from this file's location so tests work from any directory.
public enum Repository {
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    public static let manifests = root.appendingPathComponent("manifests")
}

/// A temporary directory removed when the value is deinitialised... explicitly, by `remove()`;
/// tests call it in a `defer` so it goes even when an expectation fails.
public struct TemporaryDirectory: Sendable {
    public let url: URL
    public init(_ label: String = "kiln-test") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    @discardableResult
    public func write(_ relative: String, _ text: String, mode: Int? = nil) throws -> URL {
        let file = url.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: file)
        if let mode { try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file.path) }
        return file
    }
    public func remove() { try? FileManager.default.removeItem(at: url) }
}

/// Loads manifest text as if it were the file `name` inside `directory` (default: a fresh temp dir).
public func loadManifest(_ text: String, name: String = "kiln.yaml", in directory: TemporaryDirectory? = nil) throws
    -> ManifestLoader.Result
{
    let dir = try directory ?? TemporaryDirectory()
    defer { if directory == nil { dir.remove() } }
    let file = try dir.write(name, text)
    return ManifestLoader.load(path: file.path, displayName: name)
}

/// The output of one run of a program.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// The `kiln` executable built next to the test bundle.
public enum KilnBinary {
    public static var url: URL {
        var dir = Bundle.main.bundleURL
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("kiln")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return Repository.root.appendingPathComponent(".build/debug/kiln")
    }

    /// The environment kiln runs with in `directory`: `base` (default: this process's) with
    /// the host paths of `directory` (`TestHostPaths`) unless `base` sets them, so a test's
    /// kiln never mounts under /mnt/kiln nor locks under /run/kiln.
    public static func environment(_ base: [String: String]? = nil, in directory: URL) -> [String: String] {
        var environment = base ?? ProcessInfo.processInfo.environment
        let paths = TestHostPaths(for: directory)
        if environment["KILN_MOUNT_ROOT"] == nil { environment["KILN_MOUNT_ROOT"] = paths.mountRoot }
        if environment["KILN_RUN_DIR"] == nil { environment["KILN_RUN_DIR"] = paths.runDirectory }
        return environment
    }

    /// Runs kiln with `arguments` in `directory` (default: the repository root), no stdin,
    /// with `environment(_:in:)`.
    public static func run(
        _ arguments: [String], in directory: URL = Repository.root,
        environment: [String: String]? = nil
    ) async throws -> ProcessResult {
        try await runProcess(url, arguments, in: directory, environment: Self.environment(environment, in: directory))
    }
}

/// Where kiln run by a test in `directory` mounts builds and keeps its host-wide locks:
/// `<directory>.mnt` and `<directory>/run`. The mount root is beside the directory, not in
/// it, so removing the directory never walks into a mounted root (whose /dev is the host's).
public struct TestHostPaths: Sendable {
    public let mountRoot: String
    public let runDirectory: String

    public init(for directory: URL) {
        let path = directory.standardizedFileURL.path
        mountRoot = path + ".mnt"
        runDirectory = path + "/run"
    }

    /// Where the build `name` mounts by default.
    public func mountPath(_ build: String) -> String { mountRoot + "/" + build }
}

/// Runs a program to completion, capturing both streams, without holding a thread of the
/// cooperative pool (`ChildProcess`).
public func runProcess(
    _ executable: URL, _ arguments: [String], in directory: URL? = nil,
    environment: [String: String]? = nil
) async throws -> ProcessResult {
    try await ChildProcess.run(executable, arguments, in: directory, environment: environment)
}

/// Whether this process may mount, use loop devices and chroot.
public enum Privileges {
    public static var isRoot: Bool { getuid() == 0 }
}

/// A deterministic pseudo-random generator (SplitMix64): the same sequence for a seed on every
/// machine, so a generated case or a random crash moment can be replayed from its seed.
public struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
