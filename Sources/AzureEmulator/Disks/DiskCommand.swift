import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs the host tools the disk layer needs (losetup, partx, sfdisk, mkfs.ext4).
///
/// Each run happens on a Dispatch thread, not on the Swift concurrency pool: waiting for a
/// child blocks its thread, and on a 2-core machine two blocked pool threads would stall
/// the whole emulator.
enum DiskCommand {
    struct Output: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Where the tools live on Debian; PATH is searched after these because a service may
    /// run with a minimal PATH that lacks the sbin directories.
    private static let searchDirectories = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]

    /// The Debian package that provides each tool, for the "install X" hint.
    private static let packages = [
        "losetup": "util-linux", "partx": "util-linux", "sfdisk": "fdisk",
        "mkfs.ext4": "e2fsprogs", "debugfs": "e2fsprogs", "busybox": "busybox-static"
    ]

    static func locate(_ tool: String) throws -> String {
        if tool.contains("/") {
            guard access(tool, X_OK) == 0 else {
                throw DiskBackendError.systemCall(call: "access(X_OK)", path: tool, errno: errno)
            }
            return tool
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let dirs = searchDirectories + path.split(separator: ":").map(String.init)
        for dir in dirs where !dir.isEmpty {
            let candidate = dir + "/" + tool
            if access(candidate, X_OK) == 0 { return candidate }
        }
        throw DiskBackendError.toolMissing(tool: tool, package: packages[tool] ?? tool)
    }

    /// Runs `tool args…` and returns its output whatever the exit status.
    /// `stdinFile`, when set, is opened as the child's standard input.
    static func run(_ tool: String, _ arguments: [String], stdinFile: String? = nil) async throws -> Output {
        let executable = try locate(tool)
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try runBlocking(executable, arguments, stdinFile: stdinFile) })
            }
        }
    }

    /// Runs `tool args…` and throws `commandFailed` unless it exits 0.
    @discardableResult
    static func check(_ tool: String, _ arguments: [String], stdinFile: String? = nil) async throws -> Output {
        let output = try await run(tool, arguments, stdinFile: stdinFile)
        guard output.status == 0 else {
            throw DiskBackendError.commandFailed(
                command: ([tool] + arguments).joined(separator: " "), status: output.status, stderr: output.stderr)
        }
        return output
    }

    private static func runBlocking(_ executable: String, _ arguments: [String], stdinFile: String?) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["LC_ALL"] = "C"  // messages are matched in a few places
        process.environment = environment
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        var input: FileHandle?
        if let stdinFile {
            guard let handle = FileHandle(forReadingAtPath: stdinFile) else {
                throw DiskBackendError.systemCall(call: "open", path: stdinFile, errno: errno)
            }
            input = handle
            process.standardInput = handle
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        defer { try? input?.close() }
        try process.run()
        // Both pipes are drained at the same time so that a child filling one of them
        // never blocks while we wait on the other.
        let errBox = DataBox()
        let group = DispatchGroup()
        let errHandle = err.fileHandleForReading
        DispatchQueue.global().async(group: group) {
            errBox.set(errHandle.readDataToEndOfFile())
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus,
            stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errBox.get(), as: UTF8.self))
    }
}

/// Hands the stderr bytes from the reader thread to the waiting thread.
/// `@unchecked Sendable` is safe: the only state is guarded by `lock`.
private final class DataBox: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ value: Data) { lock.withLock { data = value } }
    func get() -> Data { lock.withLock { data } }
}

/// Runs blocking file work (copies of gigabytes, syscalls) off the Swift concurrency pool,
/// for the same reason as `DiskCommand`.
func offloadBlocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}
