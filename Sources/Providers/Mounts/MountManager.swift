/// A mount to make: a filesystem on a device, or a bind of a directory.
public struct MountRequest: Sendable, Equatable, CustomStringConvertible {
    /// What kind of mount.
    public enum Kind: Sendable, Equatable {
        /// A filesystem; `type` nil lets `mount` detect it.
        case filesystem(type: String?)
        /// A bind mount (`--bind`), or with its submounts (`--rbind`).
        case bind(recursive: Bool)
    }

    public var source: String
    public var target: String
    public var kind: Kind
    /// Mount options, each passed as its own `-o`.
    public var options: [String]

    public init(source: String, target: String, kind: Kind, options: [String] = []) {
        self.source = source
        self.target = target
        self.kind = kind
        self.options = options
    }

    /// The `mount` command line for this request, every value quoted.
    public var commandLine: String {
        var words = ["mount"]
        switch kind {
        case .filesystem(let type?): words += ["-t", shellQuote(type)]
        case .filesystem(nil): break
        case .bind(let recursive): words.append(recursive ? "--rbind" : "--bind")
        }
        for option in options { words += ["-o", shellQuote(option)] }
        words += [shellQuote(source), shellQuote(target)]
        return words.joined(separator: " ")
    }

    public var description: String {
        switch kind {
        case .filesystem(let type): "\(source) on \(target)\(type.map { " (\($0))" } ?? "")"
        case .bind: "bind \(source) on \(target)"
        }
    }
}

/// Reads the mount table and mounts and unmounts; on a VM every change goes through the
/// command wrapper.
///
/// Contract: `unmountAll(under:)` returns only when the mount table shows nothing at or
/// under the path, and throws `MountError.stillMounted` listing what is left otherwise.
public protocol MountManager: Sendable {
    /// The current mount table (on Linux, `/proc/self/mountinfo`).
    func mountTable() async throws -> MountTable
    /// Creates `path` and its parents (`mkdir -p`).
    func makeDirectory(_ path: String) async throws
    /// Creates the target directory, then mounts.
    func mount(_ request: MountRequest) async throws
    /// Unmounts the topmost mount at `mountPoint`.
    func unmount(_ mountPoint: String) async throws
    /// Unmounts everything at or under `path`, deepest first, and verifies that nothing is
    /// left. Returns what was unmounted, in order.
    @discardableResult
    func unmountAll(under path: String) async throws -> [MountEntry]
}

/// Why a mount operation failed.
public enum MountError: Error, Sendable, CustomStringConvertible {
    case malformedMountInfo(line: Int, text: String)
    case mountTableUnreadable(path: String, reason: String)
    /// A `mount`, `umount` or `mkdir` command failed.
    case commandFailed(operation: String, cause: String)
    /// After unmounting, these mounts are still at or under `path`.
    case stillMounted(path: String, remaining: [MountEntry], failures: [String: String])
    /// `unmount` was asked for a path where nothing is mounted.
    case notMounted(path: String)

    public var description: String {
        switch self {
        case .malformedMountInfo(let line, let text):
            "mountinfo line \(line) is malformed: \(text)"
        case .mountTableUnreadable(let path, let reason):
            "cannot read the mount table \(path): \(reason)"
        case .commandFailed(let operation, let cause):
            "\(operation) failed: \(cause)"
        case .stillMounted(let path, let remaining, let failures):
            "could not unmount everything under \(path); still mounted: "
                + remaining.map { entry in
                    "\(entry.mountPoint) (\(entry.source), \(entry.fsType))"
                        + (failures[entry.mountPoint].map { ": \($0)" } ?? "")
                }.joined(separator: "; ")
                + ". A process may still use it (check with `fuser -vm <path>`); stop it and run again"
        case .notMounted(let path):
            "nothing is mounted at \(path)"
        }
    }
}

/// Unmounts everything at or under `path` deepest first (stacked mounts topmost first),
/// re-reading the table between rounds because unmounting can make mounts vanish through
/// propagation, then verifies. Shared by every `MountManager`.
func unmountAllDeepestFirst(
    under path: String,
    rounds: Int = 3,
    isolation: isolated (any Actor)? = #isolation,
    table: () async throws -> MountTable,
    unmount: (String) async throws -> Void
) async throws -> [MountEntry] {
    var unmounted: [MountEntry] = []
    var failures: [String: String] = [:]
    for _ in 0..<rounds {
        let mounted = try await table().entries(under: path)
        if mounted.isEmpty { return unmounted }
        let ordered = mounted.enumerated().sorted { lhs, rhs in
            lhs.element.depth != rhs.element.depth ? lhs.element.depth > rhs.element.depth : lhs.offset > rhs.offset
        }.map(\.element)
        for entry in ordered {
            do {
                try await unmount(entry.mountPoint)
                unmounted.append(entry)
                failures[entry.mountPoint] = nil
            } catch {
                failures[entry.mountPoint] = "\(error)"
            }
        }
    }
    let remaining = try await table().entries(under: path)
    guard remaining.isEmpty else { throw MountError.stillMounted(path: path, remaining: remaining, failures: failures) }
    return unmounted
}
