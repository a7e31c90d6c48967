import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Mounts through host commands (`mkdir -p`, `mount`, `umount`) run by a `CommandRunner`,
/// so the command wrapper applies to each, and reads the table from
/// `/proc/self/mountinfo`, the only source of truth for what is mounted.
public struct SystemMountManager: MountManager {
    public var runner: any CommandRunner
    public var mountInfoPath: String
    /// Time limit of each mount/umount command.
    public var commandTimeout: Duration

    public init(runner: any CommandRunner, mountInfoPath: String = "/proc/self/mountinfo", commandTimeout: Duration = .seconds(120)) {
        self.runner = runner
        self.mountInfoPath = mountInfoPath
        self.commandTimeout = commandTimeout
    }

    public func mountTable() async throws -> MountTable {
        // Read to the end, not in one go: procfs files have no size, and Foundation's
        // `String(contentsOfFile:)` returns only the first 4 KiB of them, so on a machine with
        // many mounts the build's own mount (listed last) was missing from the table.
        guard let handle = FileHandle(forReadingAtPath: mountInfoPath) else {
            throw MountError.mountTableUnreadable(path: mountInfoPath, reason: "it cannot be opened")
        }
        defer { try? handle.close() }
        let data: Data
        do { data = try handle.readToEnd() ?? Data() } catch {
            throw MountError.mountTableUnreadable(path: mountInfoPath, reason: "\(error)")
        }
        return try MountTable(mountInfo: String(decoding: data, as: UTF8.self))
    }

    public func makeDirectory(_ path: String) async throws {
        try await run("mkdir -p -- \(shellQuote(path))", operation: "creating directory \(path)")
    }

    public func mount(_ request: MountRequest) async throws {
        try await makeDirectory(request.target)
        try await run(request.commandLine, operation: "mounting \(request)")
    }

    public func unmount(_ mountPoint: String) async throws {
        try await run("umount \(shellQuote(mountPoint))", operation: "unmounting \(mountPoint)")
    }

    @discardableResult
    public func unmountAll(under path: String) async throws -> [MountEntry] {
        let canonical = Self.canonicalPath(path)
        return try await unmountAllDeepestFirst(under: canonical, table: mountTable, unmount: unmount)
    }

    /// `path` with symlinks resolved when it exists (mountinfo shows resolved paths), else
    /// `path` with a trailing slash removed.
    static func canonicalPath(_ path: String) -> String {
        if let resolved = realpath(path, nil) {
            defer { free(resolved) }
            return String(cString: resolved)
        }
        return path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
    }

    private func run(_ command: String, operation: String) async throws {
        do {
            try await runner.runChecked(CommandSpec(command, timeout: commandTimeout))
        } catch let error as CommandRunnerError {
            throw MountError.commandFailed(operation: operation, cause: error.description)
        }
    }
}
