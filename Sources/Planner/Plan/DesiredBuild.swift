import Model

/// A build as it should be on this builder VM: the manifest's build with its templates
/// rendered, `latest` resolved, its digest, and the deterministic names of what it creates.
/// Made by observation (which knows the VM); consumed by the pure planner.
public struct DesiredBuild: Sendable, Hashable {
    public var build: Build
    public var digest: BuildDigest
    /// Names this run's temporary resources. Derived from what the disk is made of (the
    /// source, disk and mount parts of the digest) and the generation, so a re-run with the
    /// same inputs finds them again even without a journal, and a provisioning step fixed
    /// after it failed continues on the same disk (see `RunContinuity`).
    public var runID: String { DesiredBuild.runID(for: digest, generation: generation) }
    /// How many times this build's run was restarted on a fresh disk because a step that had
    /// already run on the old one changed. 0 unless the journal says otherwise.
    public var generation: Int
    /// Set when this run starts on a fresh disk because the journal's run cannot continue.
    public var freshRunReason: String?
    public var subscription: String
    public var location: String
    /// Where temporary disks and snapshots live.
    public var temporaryResourceGroup: String
    /// The rendered managed image id, when the build publishes one.
    public var imageID: ResourceID?
    public var gallery: DesiredGalleryVersion?
    /// The platform image version `latest` resolved to (or the pinned one).
    public var resolvedSourceVersion: String?
    /// The zone of the temporary disks (the builder VM's unless the manifest says).
    public var zone: String?
    /// The rendered id of a managed disk or gallery image version source.
    public var sourceID: ResourceID?
    /// What a `latest` source resolved to, for the plan (nil when the source is pinned).
    public var sourceNote: String?
    /// The security type, architecture and generation of the build's images, chosen at
    /// observation from the manifest, the source and an existing definition (nil before, and
    /// in tests that plan without it: Standard, and the generation the source says at apply).
    public var traits: Result<ImageTraits, ImageTraitsConflict>?
    /// With remote state: the holder of the build's lease when another kiln (another VM)
    /// holds it. The build is that kiln's to plan and run: this plan has no action for it.
    public var runningElsewhere: String?
    /// With remote state, when this kiln may hold the build's lease: disks of this run
    /// attached to another VM are taken over (that VM no longer holds the lease, so it is not
    /// working on them) instead of being a conflict.
    public var takesOverDisks = false

    /// The chosen traits, when they could be chosen.
    public var imageTraits: ImageTraits? {
        if case .success(let t) = traits { return t }
        return nil
    }

    /// The image definition Kiln wants, when the build publishes to a gallery and its traits are known.
    public var desiredDefinition: DesiredDefinition? {
        guard gallery != nil else { return nil }
        return DesiredDefinition(self, traits: imageTraits)
    }

    public init(
        build: Build, digest: BuildDigest, subscription: String, location: String, temporaryResourceGroup: String,
        imageID: ResourceID? = nil, gallery: DesiredGalleryVersion? = nil
    ) {
        self.build = build
        self.digest = digest
        self.generation = 0
        self.subscription = subscription
        self.location = location
        self.temporaryResourceGroup = temporaryResourceGroup
        self.imageID = imageID
        self.gallery = gallery
    }

    /// The digest parts a run's disk is made of before provisioning starts: changing any of
    /// them needs a new disk, changing a provisioning step may not.
    public static let runComponents: Set<String> = ["source", "disk", "mount"]

    /// The first 10 hex digits of a SHA-256 over the run components' digests (and the
    /// generation, when not 0).
    public static func runID(for digest: BuildDigest, generation: Int = 0) -> String {
        var parts = digest.components.filter { runComponents.contains($0.name) }.map { "\($0.name)=\($0.digest)" }
        if generation > 0 { parts.append("generation=\(generation)") }
        return String(BuildDigest.sha256Hex(parts.joined(separator: "\n")).prefix(10))
    }

    /// The digest of provisioning step `name` (nil when the build has no such step).
    public func stepDigest(_ name: String) -> String? {
        digest.components.first { $0.name == "provision[\(name)]" }?.digest
    }

    public var name: String { build.name }

    /// The OS disk first, then data disks by LUN.
    public var roles: [DiskRole] { [.os] + build.disk.dataDisks.map { .data(lun: $0.lun) }.sorted() }

    /// Where the OS disk is mounted on the builder VM: `mount.path` with `{{.BuildName}}`
    /// rendered (stable across runs, so a resumed run finds it).
    public var mountPath: String { Self.mountPath(of: build) }

    /// `build`'s mount path with `{{.BuildName}}` rendered (no VM needed).
    public static func mountPath(of build: Build) -> String {
        guard let t = try? Template(parsing: build.mount.path, allowed: ["BuildName", "Device"]) else {
            return build.mount.path
        }
        return (try? t.render(TemplateValues(variables: ["BuildName": build.name]), mode: .plain, keepUnresolved: true))
            ?? build.mount.path
    }

    public func diskName(_ role: DiskRole) -> String { "kiln-\(name)-\(runID)-\(role)" }
    public func snapshotName(_ role: DiskRole) -> String { "kiln-\(name)-\(runID)-\(role)-snap" }

    public func diskID(_ role: DiskRole) -> ResourceID {
        ResourceID(
            subscription: subscription, resourceGroup: temporaryResourceGroup, provider: "Microsoft.Compute",
            segments: [("disks", diskName(role))])
    }

    public func snapshotID(_ role: DiskRole) -> ResourceID {
        ResourceID(
            subscription: subscription, resourceGroup: temporaryResourceGroup, provider: "Microsoft.Compute",
            segments: [("snapshots", snapshotName(role))])
    }

    /// The tags Kiln puts on everything it creates for this build (plus the user's).
    public var tags: [String: String] {
        var t = build.tags
        t[.build] = name
        t[.run] = runID
        t[.digest] = digest.value
        return t
    }
}

/// The gallery image version a build publishes, rendered.
public struct DesiredGalleryVersion: Sendable, Hashable {
    /// The image definition the version belongs to (the `gallery-definition` action's resource).
    public var definitionID: ResourceID
    /// What the manifest asked for: a fixed version, or `auto`.
    public var spec: GalleryVersionSpec
    /// The version published: the fixed one, or the one `auto` chose (see `choose(_:)`).
    public private(set) var version: String
    /// Why `auto` chose `version` (shown by `plan`).
    public private(set) var choiceReason: String?
    public var targetRegions: [TargetRegion]
    public var excludeFromLatest: Bool
    public var endOfLifeDate: AzureDateTime?
    public var replicationMode: ReplicationMode

    /// The target regions' names, normalised (`RegionName.normalized`).
    public var regionNames: [String] { targetRegions.map { RegionName.normalized($0.name) } }

    /// The version's resource id.
    public var id: ResourceID { definitionID.child("versions", version) }

    /// Whether `auto` still has to choose the version (observation does, before planning).
    public var needsChoice: Bool { spec == .auto && version == GalleryVersionSpec.auto.description }

    public init(
        definitionID: ResourceID, version: GalleryVersionSpec, targetRegions: [TargetRegion],
        excludeFromLatest: Bool, endOfLifeDate: AzureDateTime?, replicationMode: ReplicationMode = .full
    ) {
        self.definitionID = definitionID
        self.spec = version
        self.version = version.description
        self.targetRegions = targetRegions
        self.excludeFromLatest = excludeFromLatest
        self.endOfLifeDate = endOfLifeDate
        self.replicationMode = replicationMode
    }

    /// The version `auto` chose, and why.
    public mutating func choose(_ version: String, because reason: String) {
        precondition(spec == .auto, "only an automatic version is chosen")
        self.version = version
        choiceReason = reason
    }

    /// Whether the replicas in `region` are left out of the definition's `latest`.
    public func excludesFromLatest(_ region: TargetRegion) -> Bool { region.excludeFromLatest ?? excludeFromLatest }
}
