import Model

/// Where Kiln keeps host-wide state on the builder VM: the root under which builds mount
/// by default (`/mnt/kiln`), and the run directory holding the host-wide locks (`/run/kiln`:
/// the LUN lock and one lock per mount path).
///
/// Every Kiln process on one VM must use the same run directory, or two of them may pick
/// the same LUN or mount at the same path. `KILN_MOUNT_ROOT` and `KILN_RUN_DIR` move both,
/// for a second copy of Kiln (a test suite) that must not share them with the first.
public struct HostPaths: Sendable, Hashable {
    /// Builds whose `mount.path` is the default mount at `<mountRoot>/<build name>`.
    public var mountRoot: String
    public var runDirectory: String

    public static let standard = HostPaths(mountRoot: "/mnt/kiln", runDirectory: "/run/kiln")

    public static let mountRootVariable = "KILN_MOUNT_ROOT"
    public static let runDirectoryVariable = "KILN_RUN_DIR"

    public init(mountRoot: String, runDirectory: String) {
        self.mountRoot = mountRoot
        self.runDirectory = runDirectory
    }

    /// The standard paths, each replaced by its environment variable when that is set and
    /// not empty. Throws when a value is not an absolute path or contains `..`.
    public init(environment: [String: String]) throws(HostPathsError) {
        func read(_ variable: String, default value: String) throws(HostPathsError) -> String {
            guard let given = environment[variable], !given.isEmpty else { return value }
            guard given.hasPrefix("/"), !given.split(separator: "/").contains("..") else {
                throw HostPathsError(variable: variable, value: given)
            }
            let trimmed = String(given.reversed().drop { $0 == "/" }.reversed())
            return trimmed.isEmpty ? "/" : trimmed
        }
        self.init(
            mountRoot: try read(Self.mountRootVariable, default: Self.standard.mountRoot),
            runDirectory: try read(Self.runDirectoryVariable, default: Self.standard.runDirectory))
    }

    /// The host-wide LUN lock file (`HostFileLUNLock`).
    public var lunLock: String { runDirectory + "/lun.lock" }

    /// The directory of the host-wide mount path locks.
    public var mountLocks: String { runDirectory + "/mounts" }

    /// The default `mount.path` under this mount root.
    public var defaultMountPath: String {
        (mountRoot == "/" ? "" : mountRoot) + "/{{.BuildName}}"
    }

    /// `manifest` with every build whose `mount.path` is the default (`/mnt/kiln/{{.BuildName}}`,
    /// written or not) mounting under `mountRoot` instead; other paths are the user's and stay.
    public func placingDefaultMounts(of manifest: Manifest) -> Manifest {
        var placed = manifest
        for index in placed.builds.indices where placed.builds[index].mount.path == MountSettings.defaultPath {
            placed.builds[index].mount.path = defaultMountPath
        }
        return placed
    }
}

/// A host path variable whose value Kiln cannot use.
public struct HostPathsError: Error, Sendable, CustomStringConvertible {
    public var variable: String
    public var value: String
    public var description: String {
        "\(variable)=\(value) is not an absolute path without '..'; give one, or unset it to use the default"
    }
}
