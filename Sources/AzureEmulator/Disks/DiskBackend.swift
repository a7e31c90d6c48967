import Foundation

/// What the ARM layer of the emulator needs from the disk layer. The real implementation
/// keeps each disk, snapshot and image as a sparse file and attaches disks as loop devices;
/// an in-memory one lets the HTTP layer be tested without root.
///
/// Ids are opaque keys chosen by the caller (the emulator uses the lower-cased ARM id).
public protocol DiskBackend: Sendable {
    /// Creates an empty sparse disk of `sizeGB` GiB.
    func createEmpty(id: String, sizeGB: Int) async throws
    /// Creates `id` as a copy of the blob `source` (a disk, snapshot or image blob), keeping
    /// holes; grows it to `sizeGB` when that is larger than the source.
    func copy(from source: String, to id: String, sizeGB: Int?) async throws
    /// Creates `id` from a platform image of the catalog (built on first use and cached).
    func createFromPlatformImage(_ image: PlatformImageKey, to id: String, sizeGB: Int?) async throws
    /// Grows a blob; shrinking throws.
    func resize(id: String, sizeGB: Int) async throws
    /// The size of a blob in GiB (rounded up), or nil when it does not exist.
    func sizeGB(id: String) async throws -> Int?
    /// Removes a blob; missing is not an error.
    func delete(id: String) async throws
    /// Attaches the blob to builder VM `vm` at `lun`: a loop device, its partitions, and
    /// the `disk/azure/scsi1/lun<N>` (+ `-part<K>`) links under that VM's device root
    /// (`BuilderVM.deviceRoot(ofVM:base:)`), partition links first.
    func attach(id: String, lun: Int, vm: Int) async throws -> AttachedDevice
    /// Detaches the blob at `lun` of builder VM `vm`: links removed, partitions deleted, loop
    /// device freed. Returns a violation text when the device was still mounted (EBUSY on
    /// O_EXCL open).
    func detach(lun: Int, vm: Int) async throws -> DetachOutcome
    /// Builder VM `vm`'s OS dies: every mount of its devices (and every mount beneath those)
    /// is unmounted lazily, deepest first, and its devices and links are released, as a dead
    /// kernel would; nothing of the VM's is attached in the backend afterwards. Never throws:
    /// what could not be done is in the outcome.
    func crash(vm: Int) async -> CrashOutcome
    /// Detaches everything (emulator reset and shutdown).
    func detachAll() async
    /// Why the blob `id` is in use on the builder VM (attached, and its device or a
    /// partition mounted), or nil when it is not.
    func inUse(id: String) async -> String?
    /// The blobs attached now, by VM and LUN: after a restart, what survived of the last run.
    func attachedBlobs() async -> [BuilderLUN: String]
    /// Frees what no attachment accounts for: devices backed by this backend's blobs that
    /// no record names (a crash between making a device and recording it), stray links.
    func freeUnrecorded() async
}

extension DiskBackend {
    /// Attaches the blob to builder VM 0 at `lun`.
    public func attach(id: String, lun: Int) async throws -> AttachedDevice {
        try await attach(id: id, lun: lun, vm: 0)
    }
    /// Detaches the blob at `lun` of builder VM 0.
    public func detach(lun: Int) async throws -> DetachOutcome { try await detach(lun: lun, vm: 0) }
    /// Backends without devices never hold a blob in use.
    public func inUse(id: String) async -> String? { nil }
    /// Backends without devices have nothing outside their records.
    public func freeUnrecorded() async {}
}

/// One platform image version of the catalog.
public struct PlatformImageKey: Sendable, Hashable, Codable {
    public var publisher: String
    public var offer: String
    public var sku: String
    public var version: String
    public var hyperVGeneration: String
    /// The userland's architecture; keys stored before it existed read as x64.
    public var architecture: ImageArchitecture
    public init(
        publisher: String, offer: String, sku: String, version: String, hyperVGeneration: String,
        architecture: ImageArchitecture = .x64
    ) {
        self.publisher = publisher
        self.offer = offer
        self.sku = sku
        self.version = version
        self.hyperVGeneration = hyperVGeneration
        self.architecture = architecture
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        publisher = try c.decode(String.self, forKey: .publisher)
        offer = try c.decode(String.self, forKey: .offer)
        sku = try c.decode(String.self, forKey: .sku)
        version = try c.decode(String.self, forKey: .version)
        hyperVGeneration = try c.decode(String.self, forKey: .hyperVGeneration)
        architecture = try c.decodeIfPresent(ImageArchitecture.self, forKey: .architecture) ?? .x64
    }
}

public struct AttachedDevice: Sendable, Hashable, Codable {
    /// e.g. `/dev/loop7`.
    public var loopDevice: String
    /// e.g. `DEVROOT/disk/azure/scsi1/lun0`.
    public var lunLink: String
    /// The partition devices, e.g. `/dev/loop7p1`.
    public var partitions: [String]
    public init(loopDevice: String, lunLink: String, partitions: [String]) {
        self.loopDevice = loopDevice
        self.lunLink = lunLink
        self.partitions = partitions
    }
}

/// A LUN of one builder VM: where a disk is attached.
public struct BuilderLUN: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public var vm: Int
    public var lun: Int
    public init(vm: Int, lun: Int) {
        self.vm = vm
        self.lun = lun
    }
    public static func < (a: BuilderLUN, b: BuilderLUN) -> Bool { (a.vm, a.lun) < (b.vm, b.lun) }
    public var description: String { vm == 0 ? "LUN \(lun)" : "LUN \(lun) of builder VM \(vm)" }
}

/// What a builder VM's crash did (`DiskBackend.crash(vm:)`).
public struct CrashOutcome: Sendable, Hashable, Codable {
    /// The mount points unmounted (lazily), deepest first.
    public var unmounted: [String] = []
    /// The loop devices released.
    public var released: [String] = []
    /// What could not be done (an unmount refused, a device still held open).
    public var problems: [String] = []
    /// The processes killed because they worked in the VM's mounts.
    public var killed: [Int32] = []
    public init(unmounted: [String] = [], released: [String] = [], problems: [String] = []) {
        self.unmounted = unmounted
        self.released = released
        self.problems = problems
    }
}

public struct DetachOutcome: Sendable, Hashable, Codable {
    /// Set when the device was still mounted somewhere at detach time.
    public var violation: String?
    public init(violation: String? = nil) { self.violation = violation }
}
