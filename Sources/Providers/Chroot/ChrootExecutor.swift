/// A provisioning command to run inside the image's root.
///
/// The command runs as `chroot <root> /bin/sh -c <command>` with exactly this environment
/// (nothing from Kiln's own environment leaks in):
///
/// * `PATH`: `defaultPath` unless `environment` sets it;
/// * every variable of `environment` (the step's `environment_vars`);
/// * `DEVICE`: the device the image's root filesystem was mounted from, e.g. `/dev/sdc1`
///   (when known);
/// * `MOUNT_PATH`: the root's path on the host, e.g. `/mnt/kiln/web` (useful to scripts
///   that print where they run; inside the chroot the root is `/`).
///
/// `DEVICE` and `MOUNT_PATH` are set by Kiln and win over the step's values of the same name.
public struct ChrootCommand: Sendable {
    /// The `PATH` given to chroot commands when the step sets none.
    public static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// The root directory on the host (the mounted image).
    public var root: String
    /// The command for the chroot's `/bin/sh -c`; it reaches that shell byte for byte.
    public var command: String
    public var environment: [String: String]
    public var device: String?
    public var timeout: Duration?
    public var tailLines: Int

    public init(
        root: String, command: String, environment: [String: String] = [:], device: String? = nil,
        timeout: Duration? = nil, tailLines: Int = 40
    ) {
        self.root = root
        self.command = command
        self.environment = environment
        self.device = device
        self.timeout = timeout
        self.tailLines = tailLines
    }

    /// The environment the command gets, as described on the type.
    public var effectiveEnvironment: [String: String] {
        var result = ["PATH": Self.defaultPath]
        result.merge(environment) { _, step in step }
        if let device { result["DEVICE"] = device }
        result["MOUNT_PATH"] = root
        return result
    }
}

/// What `restoreHostFile` found and did.
public enum HostFileRestore: Sendable, Equatable {
    /// The image's original file or symlink was put back.
    case restoredOriginal
    /// The image had no such file; Kiln's copy was removed.
    case removedCopy
    /// Nothing was recorded for this path (never copied, or already restored); nothing done.
    case nothingRecorded
}

/// Runs commands inside an image's root and moves files into it.
///
/// Contract:
/// * `run` has `CommandRunner.run`'s contract (exit status in the result; timeout and
///   cancellation kill the whole process group and throw).
/// * `upload` replaces each destination file atomically (temp file in the destination
///   directory, then `rename`), so the image never holds a half-written file.
/// * `copyHostFile` first saves what the image had at that path (a file, a symlink as a
///   symlink, or nothing) on the image's own disk, next to the path, under a `.kiln-`
///   name; a crash at any point leaves enough for `restoreHostFile` to put the original
///   back, also from a later run. `restoreHostFile` never deletes a file it did not copy.
public protocol ChrootExecutor: Sendable {
    /// Runs `command` in its root, streaming output lines to `output`.
    func run(_ command: ChrootCommand, output: @escaping @Sendable (CommandOutputLine) -> Void) async throws
        -> CommandResult
    /// Copies the host file or directory `hostPath` to `path` (absolute, inside `root`).
    /// Files get `mode` when given, else keep their host mode; directories are merged into
    /// the destination, keeping their host modes.
    func upload(from hostPath: String, to path: String, root: String, mode: UInt32?) async throws
    /// Saves what the image has at `path`, then puts the host's `hostPath` there
    /// (following a host symlink: the content is copied).
    func copyHostFile(_ hostPath: String, to path: String, root: String) async throws
    /// Puts back what `copyHostFile` saved for `path`.
    @discardableResult
    func restoreHostFile(at path: String, root: String) async throws -> HostFileRestore
}

/// Why a chroot operation failed.
public enum ChrootError: Error, Sendable, CustomStringConvertible {
    /// A path inside the root must be absolute and must not contain `..`.
    case invalidPathInRoot(String)
    /// An environment variable name that a shell cannot carry.
    case invalidEnvironmentName(String)
    /// The host source does not exist or is not a file, symlink or directory.
    case invalidSource(path: String, reason: String)
    /// The image has something at `path` that Kiln will not replace (e.g. a directory).
    case cannotReplace(path: String, kind: String)
    /// A host command that moves files failed.
    case fileOperationFailed(operation: String, cause: String)
    /// Resolving `path` inside the image met too many symlinks.
    case symlinkLoop(path: String)

    public var description: String {
        switch self {
        case .invalidPathInRoot(let path):
            "path \"\(path)\" inside the image must be absolute and must not contain '..'"
        case .invalidEnvironmentName(let name):
            "environment variable name \"\(name)\" is not valid: use letters, digits and '_', not starting with a digit"
        case .invalidSource(let path, let reason):
            "cannot upload \(path): \(reason)"
        case .cannotReplace(let path, let kind):
            "\(path) in the image is a \(kind); Kiln replaces only files and symlinks there. Remove it in a provisioner or drop it from copy_files"
        case .fileOperationFailed(let operation, let cause):
            "\(operation) failed: \(cause)"
        case .symlinkLoop(let path):
            "\(path) in the image cannot be resolved: too many levels of symbolic links"
        }
    }
}

/// Checks a path meant to be inside the image root and returns it without a trailing slash.
func validatePathInRoot(_ path: String) throws(ChrootError) -> String {
    guard path.hasPrefix("/"), !path.split(separator: "/").contains("..") else { throw .invalidPathInRoot(path) }
    var trimmed = path
    while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
    return trimmed
}

/// `root` joined with the absolute in-root `path`.
func hostPath(root: String, inRoot path: String) -> String {
    let base = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
    return path == "/" ? base : base + path
}

/// The host path of `path` (absolute, inside the image at `root`), with the image's
/// symlinks followed the way they resolve once chrooted: an absolute target starts again
/// at `root` and `..` never climbs above it. Without this, an image symlink such as
/// `/var/run -> /run` would make a host-side write land in the host's own `/run`.
/// The last component is followed only when `followFinal` is set (an upload replaces a
/// final symlink instead of writing through it).
func resolveInRoot(root: String, path: String, followFinal: Bool) throws(ChrootError) -> String {
    var resolved: [String] = []
    var pending = path.split(separator: "/").map(String.init)
    var hops = 0
    while !pending.isEmpty {
        let component = pending.removeFirst()
        if component == "." { continue }
        if component == ".." {
            if !resolved.isEmpty { resolved.removeLast() }
            continue
        }
        let candidate = hostPath(root: root, inRoot: "/" + (resolved + [component]).joined(separator: "/"))
        if !pending.isEmpty || followFinal, case .symlink(let target) = FileKind(path: candidate, followLinks: false) {
            hops += 1
            if hops > 40 { throw .symlinkLoop(path: path) }
            if target.hasPrefix("/") { resolved.removeAll() }
            pending = target.split(separator: "/").map(String.init) + pending
            continue
        }
        resolved.append(component)
    }
    return hostPath(root: root, inRoot: "/" + resolved.joined(separator: "/"))
}

/// True when `name` can be a shell environment variable name.
func isValidEnvironmentName(_ name: String) -> Bool {
    guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else {
        return false
    }
    return name.unicodeScalars.allSatisfy {
        $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)))
    }
}
