import Crypto
import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The real disk backend: every disk, snapshot and image is a sparse file under
/// `STATE/blobs/`, and attaching one to the builder VM sets up a real loop device with its
/// partitions and the `DEVROOT/disk/azure/scsi1/lun<N>` links an Azure VM has.
///
/// Guarantees:
/// * Copies keep holes (reflink when the filesystem can, else only data extents are copied).
/// * Blobs only grow; a write to a blob replaces it atomically (temporary file + rename).
/// * Attachments are recorded in `STATE/attachments.json`; a new instance on the same state
///   directory reconciles them on start (a record whose loop device no longer backs its
///   file is dropped, stale links are removed), so `detach` and `detachAll` still work
///   after an emulator restart.
/// * Only loop devices backed by this instance's blob files are ever detached.
///
/// Needs root (loop devices, BLKPG) and the Debian packages util-linux, fdisk, e2fsprogs
/// and busybox-static. Every method throws `DiskBackendError`.
public actor LoopDiskBackend: DiskBackend {
    public nonisolated let stateDirectory: String
    /// The emulator's device root (`DEVROOT`); links live in `DEVROOT/disk/azure/scsi1`.
    public nonisolated let deviceRoot: String
    /// Builds and caches the platform images that `createFromPlatformImage` copies.
    public nonisolated let imageBuilder: PlatformImageBuilder

    nonisolated let blobDirectory: String
    nonisolated let links: DeviceLinks
    nonisolated let store: AttachmentStore
    let logger: Logger
    /// What the waits for device nodes sleep on.
    nonisolated let clock: any Clock<Duration>
    /// The attachments, by VM and LUN, mirrored to `store` after every change.
    var attachments: [BuilderLUN: LoopAttachmentRecord]
    /// LUNs with an attach or detach in progress (the actor is re-entered at every await),
    /// with the blob id involved.
    var lunsInProgress: [BuilderLUN: String] = [:]

    static let gibibyte: Int64 = 1 << 30
    static let maximumSizeGB = 32_767  // Azure's largest managed disk

    /// - Parameters:
    ///   - stateDirectory: holds `blobs/` and `attachments.json` (created when missing).
    ///   - deviceRoot: the emulator's `/dev` stand-in for builder VM 0, e.g. `STATE/dev`;
    ///     VM i's is `BuilderVM.deviceRoot(ofVM: i, base: deviceRoot)`.
    ///   - imageCacheDirectory: where platform images are built and cached.
    ///   - platformImageBytes: the size of each platform image disk (sparse).
    ///   - busybox: the busybox of each architecture for the platform images' userland.
    /// Throws when the directories cannot be created or the records file is unreadable.
    public init(
        stateDirectory: String,
        deviceRoot: String,
        imageCacheDirectory: String,
        platformImageBytes: Int64 = PlatformImageBuilder.defaultDiskBytes,
        busybox: BusyboxPaths = BusyboxPaths(),
        logger: Logger = Logger(label: "kiln.emulator.disks"),
        clock: any Clock<Duration> = ContinuousClock()
    ) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: stateDirectory + "/blobs", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: deviceRoot, withIntermediateDirectories: true)
        let state = LoopDeviceState.canonicalPath(stateDirectory)
        let links = DeviceLinks(deviceRoot: LoopDeviceState.canonicalPath(deviceRoot))
        let store = AttachmentStore(path: state + "/attachments.json")
        let loaded = try store.load()
        let kept = Self.reconciled(loaded, deviceRoot: links.deviceRoot, logger: logger)
        if kept != loaded { try store.save(kept) }
        self.stateDirectory = state
        self.deviceRoot = links.deviceRoot
        self.blobDirectory = state + "/blobs"
        self.links = links
        self.store = store
        self.imageBuilder = PlatformImageBuilder(
            cacheDirectory: imageCacheDirectory, diskBytes: platformImageBytes, busybox: busybox)
        self.logger = logger
        self.clock = clock
        self.attachments = kept
    }

    /// The file that holds blob `id`. Ids are opaque (ARM ids hold slashes), so the name
    /// is a readable tail plus a hash of the whole id.
    public nonisolated func blobPath(id: String) -> String {
        let tail = id.split(separator: "/").suffix(2).joined(separator: "_")
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")
        let readable = String(tail.map { allowed.contains($0) ? $0 : "-" }.suffix(80))
        let digest = SHA256.hash(data: Data(id.utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
        return "\(blobDirectory)/\(readable)-\(digest).img"
    }

    /// The current attachments (for the emulator's inventory).
    public func attachmentRecords() -> [LoopAttachmentRecord] {
        attachments.values.sorted { $0.slot < $1.slot }
    }

    /// The links of builder VM `vm`, under its device root.
    nonisolated func links(vm: Int) -> DeviceLinks {
        vm == 0 ? links : DeviceLinks(deviceRoot: BuilderVM.deviceRoot(ofVM: vm, base: deviceRoot))
    }

    // MARK: - Blobs

    /// Creates (or replaces) `id` as an empty sparse disk. Refuses a blob that is attached.
    public func createEmpty(id: String, sizeGB: Int) async throws {
        let bytes = try Self.bytes(sizeGB, id: id)
        try refuseIfAttached(id)
        let path = blobPath(id: id)
        try await offloadBlocking {
            let temporary = Self.temporaryPath(for: path)
            do {
                try SparseFile.create(at: temporary, bytes: bytes)
                try Self.commit(temporary, to: path)
            } catch {
                unlink(temporary)
                throw error
            }
        }
    }

    public func copy(from source: String, to id: String, sizeGB: Int?) async throws {
        let sourcePath = blobPath(id: source)
        guard FileManager.default.fileExists(atPath: sourcePath) else {
            throw DiskBackendError.blobNotFound(id: source)
        }
        try await copyFile(sourcePath, to: id, sizeGB: sizeGB)
    }

    public func createFromPlatformImage(_ image: PlatformImageKey, to id: String, sizeGB: Int?) async throws {
        let imagePath = try await imageBuilder.image(for: image)
        try await copyFile(imagePath, to: id, sizeGB: sizeGB)
    }

    /// Grows `id`; an attached disk's loop device learns the new size (`losetup -c`).
    public func resize(id: String, sizeGB: Int) async throws {
        let bytes = try Self.bytes(sizeGB, id: id)
        let path = blobPath(id: id)
        guard FileManager.default.fileExists(atPath: path) else { throw DiskBackendError.blobNotFound(id: id) }
        try await offloadBlocking { try SparseFile.grow(at: path, to: bytes, id: id) }
        if let record = attachments.values.first(where: { $0.id == id }),
            LoopDeviceState.isBacked(record.loopDevice, by: record.file)
        {
            try await DiskCommand.check("losetup", ["-c", record.loopDevice])
        }
    }

    public func sizeGB(id: String) async throws -> Int? {
        let path = blobPath(id: id)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let bytes = try SparseFile.size(of: path)
        return Int((bytes + Self.gibibyte - 1) / Self.gibibyte)
    }

    /// The bytes actually allocated to blob `id` (what it costs on the host), nil if missing.
    public func allocatedBytes(id: String) throws -> Int64? {
        let path = blobPath(id: id)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try SparseFile.allocatedBytes(of: path)
    }

    /// Removes `id`; refuses an attached blob (its loop device would keep a deleted file).
    public func delete(id: String) async throws {
        try refuseIfAttached(id)
        let path = blobPath(id: id)
        if unlink(path) != 0, errno != ENOENT {
            throw DiskBackendError.systemCall(call: "unlink", path: path, errno: errno)
        }
    }

    private func copyFile(_ sourcePath: String, to id: String, sizeGB: Int?) async throws {
        let bytes = try sizeGB.map { try Self.bytes($0, id: id) }
        try refuseIfAttached(id)
        let path = blobPath(id: id)
        let method = try await offloadBlocking {
            let temporary = Self.temporaryPath(for: path)
            do {
                let method = try SparseFile.copy(from: sourcePath, to: temporary)
                if let bytes { try SparseFile.grow(at: temporary, to: bytes, id: id) }
                try Self.commit(temporary, to: path)
                return method
            } catch {
                unlink(temporary)
                throw error
            }
        }
        logger.debug("copied disk blob", metadata: ["to": "\(id)", "method": "\(method.rawValue)"])
    }

    func refuseIfAttached(_ id: String) throws {
        if let lun = attachments.values.first(where: { $0.id == id })?.lun
            ?? lunsInProgress.first(where: { $0.value == id })?.key.lun
        {
            throw DiskBackendError.blobAttached(id: id, lun: lun)
        }
    }

    static func bytes(_ sizeGB: Int, id: String) throws -> Int64 {
        guard (1...maximumSizeGB).contains(sizeGB) else { throw DiskBackendError.invalidSize(id: id, sizeGB: sizeGB) }
        return Int64(sizeGB) * gibibyte
    }

    static func temporaryPath(for path: String) -> String {
        (path as NSString).deletingLastPathComponent + "/.tmp-\(UUID().uuidString)"
    }

    static func commit(_ temporary: String, to path: String) throws {
        guard rename(temporary, path) == 0 else {
            throw DiskBackendError.systemCall(call: "rename", path: path, errno: errno)
        }
    }
}
