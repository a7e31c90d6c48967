/// A `MountManager` over a table in memory, for unit tests. Like the kernel it refuses to
/// unmount a mount that has mounts under it; `busy` mount points refuse to unmount at all
/// (a process holding them), and `failMounts` makes mounts fail.
public actor InMemoryMountManager: MountManager {
    public private(set) var table: MountTable
    /// Mount points whose unmount fails with "target is busy".
    public var busy: Set<String> = []
    /// When set, every mount fails with this message.
    public var failMounts: String?
    /// Every directory created, in order.
    public private(set) var directories: [String] = []
    /// Every operation, in order, as a short text (`mount …`, `umount …`).
    public private(set) var log: [String] = []
    private var nextID: Int

    public init(
        table: MountTable = MountTable(entries: [
            MountEntry(
                mountID: 1, parentID: 0, device: "0:1", root: "/", mountPoint: "/", fsType: "ext4", source: "/dev/root")
        ])
    ) {
        self.table = table
        self.nextID = (table.entries.map(\.mountID).max() ?? 0) + 1
    }

    public func setBusy(_ mountPoints: Set<String>) { busy = mountPoints }
    public func setFailMounts(_ message: String?) { failMounts = message }

    public func mountTable() async throws -> MountTable { table }

    public func makeDirectory(_ path: String) async throws {
        directories.append(path)
    }

    public func mount(_ request: MountRequest) async throws {
        try await makeDirectory(request.target)
        log.append(request.commandLine)
        if let failMounts { throw MountError.commandFailed(operation: "mounting \(request)", cause: failMounts) }
        let parent = table.entries.last { entry in
            entry.mountPoint == "/" || request.target == entry.mountPoint
                || request.target.hasPrefix(entry.mountPoint + "/")
        }
        let fsType: String =
            switch request.kind {
            case .filesystem(let type): type ?? "auto"
            case .bind: parent?.fsType ?? "none"
            }
        table.entries.append(
            MountEntry(
                mountID: nextID, parentID: parent?.mountID ?? 0, device: "0:\(nextID)", root: "/",
                mountPoint: request.target,
                mountOptions: request.options, fsType: fsType, source: request.source))
        nextID += 1
    }

    public func unmount(_ mountPoint: String) async throws {
        log.append("umount \(shellQuote(mountPoint))")
        guard let index = table.entries.lastIndex(where: { $0.mountPoint == mountPoint }) else {
            throw MountError.notMounted(path: mountPoint)
        }
        let id = table.entries[index].mountID
        if busy.contains(mountPoint) || table.entries.contains(where: { $0.parentID == id }) {
            throw MountError.commandFailed(
                operation: "unmounting \(mountPoint)", cause: "umount: \(mountPoint): target is busy")
        }
        table.entries.remove(at: index)
    }

    @discardableResult
    public func unmountAll(under path: String) async throws -> [MountEntry] {
        try await unmountAllDeepestFirst(under: path, table: { table }, unmount: { try await unmount($0) })
    }
}
