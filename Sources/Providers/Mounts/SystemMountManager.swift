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

    public init(
        runner: any CommandRunner, mountInfoPath: String = "/proc/self/mountinfo",
        commandTimeout: Duration = .seconds(120)
    ) {
        self.runner = runner
        self.mountInfoPath = mountInfoPath
        self.commandTimeout = commandTimeout
    }

    public func mountTable() async throws -> MountTable {
        return try MountTable(mountInfo: Self.readToEnd(mountInfoPath))
    }

    /// The whole file, read until end of file. `/proc` files say their size is 0 and are
    /// made a page at a time, and `String(contentsOfFile:)` on Linux returns only the first
    /// page (about 4 KB of mountinfo: some 40 mounts, fewer than a busy host has), so the
    /// mounts listed after it were invisible.
    static func readToEnd(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw MountError.mountTableUnreadable(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw MountError.mountTableUnreadable(path: path, reason: String(cString: strerror(errno)))
            }
            if n == 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: data, as: UTF8.self)
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
