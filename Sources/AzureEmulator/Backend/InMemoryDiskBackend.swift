import Foundation

/// A disk backend that touches nothing on the system: it records blobs and their sizes and
/// fakes attachment by handing out `AttachedDevice` values. For tests of the HTTP layer and
/// for `kiln emulator serve --devices memory`.
public actor InMemoryDiskBackend: DiskBackend {
    /// Blob id → size in GiB.
    public private(set) var blobs: [String: Int] = [:]
    /// VM and LUN → (blob id, device).
    public private(set) var attached: [BuilderLUN: (id: String, device: AttachedDevice)] = [:]
    /// Platform images in the order they were first used.
    public private(set) var platformImagesUsed: [PlatformImageKey] = []
    /// LUNs whose next detach reports a "still mounted" violation (tests set this).
    public var busyLUNs: Set<BuilderLUN> = []
    let deviceRoot: String
    let platformImageSizeGB: Int
    private var nextLoop = 900

    public init(deviceRoot: String = "/nonexistent/dev", platformImageSizeGB: Int = 30) {
        self.deviceRoot = deviceRoot
        self.platformImageSizeGB = platformImageSizeGB
    }

    public func markBusy(lun: Int, vm: Int = 0) { busyLUNs.insert(BuilderLUN(vm: vm, lun: lun)) }

    public func createEmpty(id: String, sizeGB: Int) async throws {
        guard sizeGB > 0 else { throw InMemoryDiskError(message: "size must be positive for \(id)") }
        blobs[id] = sizeGB
    }

    public func copy(from source: String, to id: String, sizeGB: Int?) async throws {
        guard let s = blobs[source] else { throw InMemoryDiskError(message: "source blob \(source) does not exist") }
        if let sizeGB, sizeGB < s {
            throw InMemoryDiskError(message: "cannot copy \(source) (\(s) GiB) into a smaller \(sizeGB) GiB blob")
        }
        blobs[id] = max(s, sizeGB ?? 0)
    }

    public func createFromPlatformImage(_ image: PlatformImageKey, to id: String, sizeGB: Int?) async throws {
        if !platformImagesUsed.contains(image) { platformImagesUsed.append(image) }
        blobs[id] = max(platformImageSizeGB, sizeGB ?? 0)
    }

    public func resize(id: String, sizeGB: Int) async throws {
        guard let s = blobs[id] else { throw InMemoryDiskError(message: "blob \(id) does not exist") }
        guard sizeGB >= s else { throw InMemoryDiskError(message: "cannot shrink \(id) from \(s) to \(sizeGB) GiB") }
        blobs[id] = sizeGB
    }

    public func sizeGB(id: String) async throws -> Int? { blobs[id] }

    public func delete(id: String) async throws { blobs[id] = nil }

    public func attach(id: String, lun: Int, vm: Int) async throws -> AttachedDevice {
        guard blobs[id] != nil else { throw InMemoryDiskError(message: "blob \(id) does not exist") }
        let slot = BuilderLUN(vm: vm, lun: lun)
        // The same blob at the same LUN is adopted, as the loop backend does after a restart.
        if let existing = attached[slot], existing.id == id { return existing.device }
        if let other = attached[slot] { throw InMemoryDiskError(message: "\(slot) is already taken by \(other.id)") }
        nextLoop += 1
        let root = BuilderVM.deviceRoot(ofVM: vm, base: deviceRoot)
        let dev = AttachedDevice(
            loopDevice: "/dev/loop\(nextLoop)", lunLink: "\(root)/disk/azure/scsi1/lun\(lun)",
            partitions: ["/dev/loop\(nextLoop)p1"])
        attached[slot] = (id, dev)
        return dev
    }

    public func detach(lun: Int, vm: Int) async throws -> DetachOutcome {
        let slot = BuilderLUN(vm: vm, lun: lun)
        guard attached.removeValue(forKey: slot) != nil else { return DetachOutcome() }
        if busyLUNs.remove(slot) != nil {
            return DetachOutcome(violation: "the device at \(slot) was still mounted (EBUSY)")
        }
        return DetachOutcome()
    }

    /// Forgets VM `vm`'s attachments (and their busy marks: a dead VM mounts nothing).
    public func crash(vm: Int) async -> CrashOutcome {
        let gone = attached.filter { $0.key.vm == vm }.sorted { $0.key < $1.key }
        for (slot, _) in gone {
            attached[slot] = nil
            busyLUNs.remove(slot)
        }
        return CrashOutcome(released: gone.map(\.value.device.loopDevice))
    }

    public func detachAll() async { attached.removeAll() }

    /// In use: attached at a LUN marked busy (`markBusy`), as if mounted.
    public func inUse(id: String) async -> String? {
        guard let slot = attached.first(where: { $0.value.id == id })?.key, busyLUNs.contains(slot) else { return nil }
        return "\(slot) is marked busy (mounted)"
    }

    public func attachedBlobs() async -> [BuilderLUN: String] { attached.mapValues(\.id) }

    /// The blob attached at `lun` of builder VM `vm`, if any.
    public func blob(atLUN lun: Int, vm: Int = 0) -> String? { attached[BuilderLUN(vm: vm, lun: lun)]?.id }
}

/// A failure of the in-memory backend (a missing source, a shrink).
public struct InMemoryDiskError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}
