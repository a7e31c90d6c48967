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
public func loadManifest(_ text: String, name: String = "kiln.yaml", in directory: TemporaryDirectory? = nil) throws -> ManifestLoader.Result {
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

    /// Runs kiln with `arguments` in `directory` (default: the repository root), no stdin.
    public static func run(_ arguments: [String], in directory: URL = Repository.root, environment: [String: String]? = nil) throws -> ProcessResult {
        try runProcess(url, arguments, in: directory, environment: environment)
    }
}

/// Runs a program to completion, capturing both streams (read concurrently, so a full pipe
/// never blocks the child).
public func runProcess(_ executable: URL, _ arguments: [String], in directory: URL? = nil, environment: [String: String]? = nil) throws -> ProcessResult {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = directory }
    if let environment { process.environment = environment }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let group = DispatchGroup()
    nonisolated(unsafe) var outData = Data(), errData = Data()
    group.enter()
    DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    group.enter()
    DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    group.wait()
    process.waitUntilExit()
    return ProcessResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
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
