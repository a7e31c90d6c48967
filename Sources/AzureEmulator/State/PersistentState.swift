import Foundation

/// The kinds of ARM resource the emulator keeps.
enum ResourceKind: String, Codable, Sendable, CaseIterable {
    case disk, snapshot, image, gallery, galleryImage, galleryImageVersion, virtualMachine, diskEncryptionSet

    var armType: String {
        switch self {
        case .disk: "Microsoft.Compute/disks"
        case .snapshot: "Microsoft.Compute/snapshots"
        case .image: "Microsoft.Compute/images"
        case .gallery: "Microsoft.Compute/galleries"
        case .galleryImage: "Microsoft.Compute/galleries/images"
        case .galleryImageVersion: "Microsoft.Compute/galleries/images/versions"
        case .virtualMachine: "Microsoft.Compute/virtualMachines"
        case .diskEncryptionSet: "Microsoft.Compute/diskEncryptionSets"
        }
    }

    /// The segment of the operation-status URL family ARM uses for this resource provider.
    var operationFamily: String {
        switch self {
        case .disk, .snapshot, .diskEncryptionSet: "DiskOperations"
        case .image, .virtualMachine: "operations"
        case .gallery, .galleryImage, .galleryImageVersion: "capsOperations"
        }
    }
}

/// One resource: its JSON document as clients see it plus what only the emulator knows.
struct StoredResource: Codable, Sendable {
    var kind: ResourceKind
    var body: JSON
    /// Backend blob keys owned by this resource (deleted with it).
    var blobs: [String] = []
    /// For gallery image versions: when replication started and how long each region takes.
    var replication: ReplicationPlan?
    /// When ARM would say it was created and last changed (`ResourceTable` stamps both).
    var created: Date?
    var changed: Date?

    var id: String { body["id"]?.stringValue ?? "" }
    var name: String { body["name"]?.stringValue ?? "" }
    var provisioningState: String? { body.at("properties", "provisioningState")?.stringValue }
    mutating func setProvisioningState(_ s: String) { body.set(["properties", "provisioningState"], .string(s)) }
}

/// Gallery image version replication: region `i` completes at `start + (i+1) * perRegion`.
struct ReplicationPlan: Codable, Sendable {
    var start: Date
    var perRegion: Double
    var regions: [String]
    var failed: Bool = false
    /// Regions replicate side by side (`LatencyModel.Replication.concurrent`); nil or false:
    /// one after another. Optional so that state written before it existed still loads.
    var concurrent: Bool?
    /// With `concurrent`: how many of the first `regions` were complete before `start` (a
    /// PATCH that added regions).
    var completedBefore: Int?

    init(start: Date, perRegion: Double, regions: [String], concurrent: Bool, completedBefore: Int = 0) {
        self.start = start
        self.perRegion = perRegion
        self.regions = regions
        self.concurrent = concurrent
        self.completedBefore = completedBefore
    }

    /// Seconds after `start` when region `index` begins and ends replicating.
    func window(_ index: Int) -> (begins: Double, ends: Double) {
        if concurrent == true {
            return index < (completedBefore ?? 0) ? (-perRegion, 0) : (0, perRegion)
        }
        return (Double(index) * perRegion, Double(index + 1) * perRegion)
    }

    /// How long the operation that replicates `newRegions` of the plan's regions lasts.
    static func duration(perRegion: Double, newRegions: Int, concurrent: Bool) -> Double {
        guard newRegions > 0 else { return 0 }
        return concurrent ? perRegion : perRegion * Double(newRegions)
    }
}

/// A disk at a LUN, as an attach or detach operation carries it.
struct DiskSlot: Codable, Sendable, Hashable {
    var diskKey: String
    var diskID: String
    var lun: Int
}

/// What happens when an operation's time is up.
enum Completion: Codable, Sendable {
    /// The resource's provisioningState becomes Succeeded (or Failed).
    case provision(resourceKey: String)
    /// The resource and its blobs go away.
    case delete(resourceKey: String)
    /// Disks are detached from and attached to a VM; `previousDataDisks` is restored on failure.
    case vmDisks(vmKey: String, attach: [DiskSlot], detach: [DiskSlot], previousDataDisks: JSON)
    /// beginGetAccess (grant) or endGetAccess on a disk or snapshot.
    case access(resourceKey: String, grant: Bool)
}

/// A long-running operation. Times are wall-clock so that an operation in flight when the
/// emulator stops finishes on schedule after it starts again.
struct OperationRecord: Codable, Sendable {
    var id: String
    var family: String
    var location: String
    var method: String
    var resourceID: String
    var kind: String
    var startTime: Date
    var duration: Double
    var status: String = "InProgress"
    var failure: FailureInfo?
    var completion: Completion
    /// What the `Location` URL returns once done, for POST actions.
    var result: JSON?
    var completing: Bool = false

    var endTime: Date { startTime.addingTimeInterval(duration) }
    var isDone: Bool { status != "InProgress" }
}

struct FailureInfo: Codable, Sendable {
    var code: String
    var message: String
    var status: Int = 400
}

/// A data disk attached to the builder VM through the backend.
struct AttachmentRecord: Codable, Sendable {
    /// The builder VM (0 in states written before there were several).
    var vm: Int = 0
    var lun: Int
    var diskKey: String
    var diskID: String
    var device: AttachedDevice

    var slot: BuilderLUN { BuilderLUN(vm: vm, lun: lun) }

    init(vm: Int, lun: Int, diskKey: String, diskID: String, device: AttachedDevice) {
        self.vm = vm
        self.lun = lun
        self.diskKey = diskKey
        self.diskID = diskID
        self.device = device
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vm = try c.decodeIfPresent(Int.self, forKey: .vm) ?? 0
        lun = try c.decode(Int.self, forKey: .lun)
        diskKey = try c.decode(String.self, forKey: .diskKey)
        diskID = try c.decode(String.self, forKey: .diskID)
        device = try c.decode(AttachedDevice.self, forKey: .device)
    }
}

/// Something a client did that real Azure would have punished or that corrupts data, e.g. a
/// detach while the device was still mounted.
struct Violation: Codable, Sendable {
    var time: Date
    var message: String
}

/// Everything the emulator persists in `STATE/state.json`.
struct PersistentState: Codable, Sendable {
    var formatVersion = 1
    var resources = ResourceTable()
    /// Lower-cased name → the group's JSON.
    var resourceGroups: [String: JSON] = [:]
    var operations: [String: OperationRecord] = [:]
    var attachments: [AttachmentRecord] = []
    var violations: [Violation] = []
    /// Base64 HMAC key for the tokens the emulator signs; kept so tokens survive a restart.
    var signingKey: String = ""
    var latency: LatencyModel?
    var faults: [FaultRule]?
    /// How many requests each rule of `faults` has matched so far.
    var faultHits: [Int]?
    var vmETags: [String: Int] = [:]
    /// Builder VMs crashed through `/_emulator/builder-vms/<i>/crash` (nil: none): their disks
    /// stay attached in ARM, without devices, until a reset.
    var crashedBuilderVMs: Set<Int>?
}

/// Reads and writes the state file atomically (write to a temporary file, then rename).
struct StateStore: Sendable {
    let directory: URL
    var file: URL { directory.appendingPathComponent("state.json") }

    func load() throws -> PersistentState? {
        guard FileManager.default.fileExists(atPath: file.path) else { return nil }
        do {
            let data = try Data(contentsOf: file)
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .secondsSince1970
            return try decoder.decode(PersistentState.self, from: data)
        } catch {
            throw ConfigurationError(
                message: "cannot read the emulator state \(file.path): \(error). Move it away to start from scratch.")
        }
    }

    func save(_ state: PersistentState) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(state)
        try data.write(to: file, options: .atomic)
    }
}
