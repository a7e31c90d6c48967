import Model

/// What is true now for one build, gathered read-only from Azure, the builder VM's devices
/// and mounts, and the journal. Everything the pure planner needs, nothing it has to ask for.
public struct ObservedBuild: Sendable, Hashable, Codable {
    /// This run's temporary disks (by deterministic name) that exist.
    public var disks: [DiskRole: ObservedDisk]
    /// This run's snapshots that exist.
    public var snapshots: [DiskRole: ObservedResource]
    /// Local block devices of this run's attached disks.
    public var devices: [DiskRole: String]
    /// This run's OS disk is mounted at the build's mount path.
    public var rootMounted: Bool
    /// Every chroot mount is in place under the mount path.
    public var chrootMountsPresent: Bool
    public var journal: JournalView
    public var image: ObservedImage?
    public var galleryVersion: ObservedGalleryVersion?
    /// Temporary resources of this build from other runs (found by Kiln's tags).
    public var leftovers: [Leftover]
    /// The managed disk or gallery version source does not exist (or is not provisioned).
    public var sourceMissing: Bool = false
    /// What the source says about its images (nil: an empty disk, a missing source, or not read).
    public var source: SourceTraits?
    /// Whether the source was read (only while an output is still to make).
    public var sourceRead: Bool = false
    /// The image definition the build publishes into, when it exists.
    public var definition: ObservedDefinition?

    public init(
        disks: [DiskRole: ObservedDisk] = [:], snapshots: [DiskRole: ObservedResource] = [:],
        devices: [DiskRole: String] = [:],
        rootMounted: Bool = false, chrootMountsPresent: Bool = false, journal: JournalView = JournalView(),
        image: ObservedImage? = nil, galleryVersion: ObservedGalleryVersion? = nil, leftovers: [Leftover] = [],
        sourceMissing: Bool = false
    ) {
        self.sourceMissing = sourceMissing
        self.disks = disks
        self.snapshots = snapshots
        self.devices = devices
        self.rootMounted = rootMounted
        self.chrootMountsPresent = chrootMountsPresent
        self.journal = journal
        self.image = image
        self.galleryVersion = galleryVersion
        self.leftovers = leftovers
    }
}

extension DiskRole: CodingKeyRepresentable {
    public var codingKey: any CodingKey { RoleKey(stringValue: description) }
    public init?<T: CodingKey>(codingKey: T) { self.init(codingKey.stringValue) }
    private struct RoleKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

/// An Azure resource's id and provisioning state (`Succeeded`, `Creating`, `Failed`, …).
public struct ObservedResource: Sendable, Hashable, Codable {
    public var id: String
    public var provisioningState: String
    public init(id: String, provisioningState: String = "Succeeded") {
        self.id = id
        self.provisioningState = provisioningState
    }
    public var succeeded: Bool { provisioningState.lowercased() == "succeeded" }
}

public struct ObservedDisk: Sendable, Hashable, Codable {
    public var resource: ObservedResource
    public var sizeGB: Int?
    /// The LUN when attached to the builder VM.
    public var builderLUN: Int?
    /// The VM it is attached to, when that is not the builder VM.
    public var attachedElsewhere: String?
    /// True when its managedBy names the builder VM but the VM does not list it: an
    /// attach or detach is still under way (nil otherwise; optional so that plans saved
    /// before it existed still decode).
    public var changingOnBuilder: Bool?
    public init(
        resource: ObservedResource, sizeGB: Int? = nil, builderLUN: Int? = nil, attachedElsewhere: String? = nil,
        changingOnBuilder: Bool? = nil
    ) {
        self.resource = resource
        self.sizeGB = sizeGB
        self.builderLUN = builderLUN
        self.attachedElsewhere = attachedElsewhere
        self.changingOnBuilder = changingOnBuilder
    }
}

public struct ObservedImage: Sendable, Hashable, Codable {
    public var resource: ObservedResource
    /// The `kiln:digest` tag, when Kiln made it.
    public var digest: String?
    public init(resource: ObservedResource, digest: String?) {
        self.resource = resource
        self.digest = digest
    }
}

public struct ObservedGalleryVersion: Sendable, Hashable, Codable {
    public struct Region: Sendable, Hashable, Codable {
        public var name: String
        public var replicas: Int
        public var storageAccountType: String
        /// Azure's replication state: `Completed`, `Replicating`, `Failed`, `Unknown`.
        public var state: String
        public var progress: Int?
        /// The region's own `excludeFromLatest`, when Azure states one.
        public var excludeFromLatest: Bool?
        /// The disk encryption set of the region's replicas.
        public var diskEncryptionSetId: String?
        public init(
            name: String, replicas: Int, storageAccountType: String, state: String = "Completed", progress: Int? = nil,
            excludeFromLatest: Bool? = nil, diskEncryptionSetId: String? = nil
        ) {
            self.name = name
            self.replicas = replicas
            self.storageAccountType = storageAccountType
            self.state = state
            self.progress = progress
            self.excludeFromLatest = excludeFromLatest
            self.diskEncryptionSetId = diskEncryptionSetId
        }
    }
    public var resource: ObservedResource
    public var digest: String?
    public var regions: [Region]
    public var excludeFromLatest: Bool
    public var endOfLifeDate: AzureDateTime?
    /// `Full` or `Shallow` (nil: Azure's default, `Full`).
    public var replicationMode: String?
    public init(
        resource: ObservedResource, digest: String?, regions: [Region], excludeFromLatest: Bool = false,
        endOfLifeDate: AzureDateTime? = nil, replicationMode: String? = nil
    ) {
        self.replicationMode = replicationMode
        self.resource = resource
        self.digest = digest
        self.regions = regions
        self.excludeFromLatest = excludeFromLatest
        self.endOfLifeDate = endOfLifeDate
    }
}

/// A temporary resource of this build left by another run (an older digest).
public struct Leftover: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable { case disk, snapshot }
    public var id: String
    public var kind: Kind
    public var runID: String
    /// Attached to the builder VM.
    public var attached: Bool
    /// Mounted on the builder VM at this path.
    public var mountedAt: String?
    public init(id: String, kind: Kind, runID: String, attached: Bool = false, mountedAt: String? = nil) {
        self.id = id
        self.kind = kind
        self.runID = runID
        self.attached = attached
        self.mountedAt = mountedAt
    }
    public var name: String { id.split(separator: "/").last.map(String.init) ?? id }
}

/// What the journal says about the build's last run.
public struct JournalView: Sendable, Hashable, Codable {
    /// The run the entries belong to.
    public var runID: String?
    public var completed: Set<ActionID>
    /// Started and not finished; Azure actions carry their operation URL.
    public var inFlight: [ActionID: String?]
    public var failed: [ActionID: String]
    /// The digest of the build the run was last applied with.
    public var digest: String?
    /// The run's generation (see `RunContinuity`).
    public var generation: Int
    /// The digest each finished provisioning step ran with.
    public var stepDigests: [ActionID: String]
    /// The digest components of the last published build, to explain what changed.
    public var published: BuildDigest?
    /// The version `version: auto` chose for a digest.
    public var galleryVersion: ChosenGalleryVersion?

    public init(
        runID: String? = nil, completed: Set<ActionID> = [], inFlight: [ActionID: String?] = [:],
        failed: [ActionID: String] = [:], published: BuildDigest? = nil,
        digest: String? = nil, generation: Int = 0, stepDigests: [ActionID: String] = [:]
    ) {
        self.runID = runID
        self.digest = digest
        self.generation = generation
        self.stepDigests = stepDigests
        self.completed = completed
        self.inFlight = inFlight
        self.failed = failed
        self.published = published
    }
}

extension JournalView {
    /// The result key under which a finished provisioning step records its digest.
    public static let stepDigestKey = "stepDigest"
}

extension ActionID: CodingKeyRepresentable {
    public var codingKey: any CodingKey { IDKey(stringValue: description) }
    public init?<T: CodingKey>(codingKey: T) { self.init(parsing: codingKey.stringValue) }
    private struct IDKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
