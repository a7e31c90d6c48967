import Foundation
import Model
import Providers

/// Gathers what is true now for every build of a manifest — read-only, concurrently: Azure
/// (disks, snapshots, outputs, the builder VM's data disks, leftovers by tag), the builder
/// VM's devices and mounts, and the journal.
///
/// Throws the first Azure or I/O error (its description names the operation and resource).
public struct Observer: Sendable {
    public var azure: any AzureCompute
    public var devices: any BlockDeviceLocator
    public var mounts: any MountManager
    public var journals: any JournalStore

    public init(
        azure: any AzureCompute, devices: any BlockDeviceLocator, mounts: any MountManager,
        journals: any JournalStore
    ) {
        self.azure = azure
        self.devices = devices
        self.mounts = mounts
        self.journals = journals
    }

    /// Resolves every `latest` platform image of the manifest in the VM's location (the
    /// numerically highest version, not the first in name order).
    public func resolveVersions(_ manifest: Manifest, vm: BuilderVM, subscription: String) async throws -> [String:
        String]
    {
        var urns: [PlatformImageURN] = []
        for b in manifest.builds {
            if case .platformImage(let u) = b.source, u.isLatest, !urns.contains(u) { urns.append(u) }
        }
        return try await withThrowingTaskGroup(of: (String, String?).self) { group in
            for urn in urns {
                group.addTask {
                    let resolved = try await azure.resolvePlatformImage(
                        subscription: subscription, location: vm.location,
                        urn: urn)
                    return (urn.description, resolved.version)
                }
            }
            var out: [String: String] = [:]
            for try await (key, version) in group { if let version { out[key] = version } }
            return out
        }
    }

    /// The latest version of an image definition, as Azure takes it for `…/versions/latest`:
    /// the numerically highest that succeeded and is not excluded from latest; nil for none.
    public func latestGalleryVersion(of definition: ResourceID) async throws -> String? {
        let names = try await azure.galleryImageVersions(of: definition).compactMap { v -> String? in
            guard v.provisioningState.isSucceeded, v.publishingProfile?.excludeFromLatest != true else { return nil }
            return v.id.flatMap { try? ResourceID(parsing: $0) }?.name
        }
        return ChosenGalleryVersion.highest(of: names)
    }

    /// The version `version: auto` publishes for `d`, and why: the one an earlier apply chose
    /// for this digest (the journal keeps it, so a resumed or repeated apply never publishes
    /// twice); else the highest version of the definition when it already carries this
    /// digest (nothing to publish); else the next patch after the highest, `1.0.0` for none.
    public func chooseGalleryVersion(_ d: DesiredBuild, journal: JournalView) async throws -> (String, String) {
        guard let g = d.gallery else { return ("", "") }
        if let chosen = journal.galleryVersion, chosen.digest == d.digest.value {
            return (chosen.version, "chosen for this digest by an earlier apply")
        }
        var digests: [String: String] = [:]
        for v in try await azure.galleryImageVersions(of: g.definitionID) {
            guard let name = v.id.flatMap({ try? ResourceID(parsing: $0) })?.name else { continue }
            digests[name] = v.tags?[.digest] ?? ""
        }
        guard let name = ChosenGalleryVersion.highest(of: Array(digests.keys)) else {
            return ("1.0.0", "the image definition has no version yet")
        }
        if digests[name] == d.digest.value { return (name, "the highest version already carries this build's digest") }
        return (ChosenGalleryVersion.next(after: Array(digests.keys)), "the next patch after \(name)")
    }

    /// Observes every desired build.
    /// `journals`: the builds' journals as already read (by name), so they are not read again.
    ///
    /// Shared reads (issue 6, no-op plan): one listing per temporary resource group for all
    /// its builds (none for builds whose journal accounts for every temporary resource), one
    /// read per distinct disk or gallery-version source, and the builder VM read only when
    /// some build has a disk whose attachment matters; a converged manifest then costs one
    /// GET per output (and `resolveVersions`' one list per `latest` image).
    public func observe(_ desired: [DesiredBuild], vm: BuilderVM, journals known: [String: JournalView] = [:])
        async throws -> [String: ObservedBuild]
    {
        let shared = SharedObservation(attachments: BuilderAttachments(azure: azure, vm: vm.id), azure: azure)
        let table = try await mounts.mountTable()
        return try await withThrowingTaskGroup(of: (String, ObservedBuild).self) { group in
            for d in desired {
                group.addTask {
                    (d.name, try await observe(d, shared: shared, table: table, builder: vm.id, journal: known[d.name]))
                }
            }
            var out: [String: ObservedBuild] = [:]
            for try await (name, o) in group { out[name] = o }
            return out
        }
    }

    static func isCurrent(_ image: ObservedImage?, _ d: DesiredBuild) -> Bool {
        image.map { $0.resource.succeeded && $0.digest == d.digest.value } ?? false
    }

    static func isCurrent(_ version: ObservedGalleryVersion?, _ d: DesiredBuild) -> Bool {
        version.map { $0.resource.succeeded && $0.digest == d.digest.value } ?? false
    }

    /// Observes one build with the builder VM's attachments given (tests), listing its
    /// resource group on its own.
    func observe(
        _ d: DesiredBuild, attached: [String: Int], table: MountTable, builder: ResourceID? = nil,
        journal known: JournalView? = nil
    ) async throws -> ObservedBuild {
        try await observe(
            d, shared: SharedObservation(attachments: BuilderAttachments(fixed: attached), azure: azure),
            table: table,
            builder: builder, journal: known)
    }

    func observe(
        _ d: DesiredBuild, shared: SharedObservation, table: MountTable,
        builder: ResourceID? = nil, journal known: JournalView? = nil
    ) async throws -> ObservedBuild {
        var o = ObservedBuild()
        async let image = d.imageID.asyncMap { id in try await azure.image(id) }
        async let version = d.gallery.asyncMap { g in
            try await azure.galleryImageVersion(g.id, replicationStatus: true)
        }

        let view: JournalView
        if let known { view = known } else { view = Self.view(of: try await journals.load(build: d.name)) }
        // The listing finds what no journal accounts for (an older run's leftovers, a run
        // whose journal was lost). A finished run's journal accounts for everything: see
        // `accountsForEveryTemporary`.
        let listed = Self.accountsForEveryTemporary(view, of: d) ? [] : try await shared.listings.resources(of: d)
        let listedIDs = Set(listed.compactMap { $0.id?.lowercased() })
        // A temporary resource's GET is spared when it cannot exist: Kiln tags all it makes
        // with the build's name, so one that the listing does not show exists only if this
        // run's journal says it was being made (journaled before the request; ARM's listing
        // may lag a resource made seconds ago) and not deleted since. A fresh build reads
        // only its outputs; a converged one, only its outputs too.
        func mayExist(made: ActionStep, deleted: ActionStep, _ id: ResourceID) -> Bool {
            if listedIDs.contains(id.description.lowercased()) { return true }
            guard view.runID == d.runID else { return false }
            let madeID = ActionID(d.name, made)
            let deletedID = ActionID(d.name, deleted)
            if view.completed.contains(deletedID) { return false }
            return view.completed.contains(madeID) || view.inFlight[madeID] != nil || view.failed[madeID] != nil
                || view.inFlight[deletedID] != nil || view.failed[deletedID] != nil
        }

        for role in d.roles {
            let diskID = d.diskID(role)
            if mayExist(made: .createDisk(role), deleted: .deleteDisk(role), diskID),
                let disk = try await azure.disk(diskID)
            {
                // The builder VM is read (once for all builds) only here and for a leftover
                // disk: a build with no disk of Kiln's has no attachment to place.
                let lun = try await shared.attachments.lun(of: diskID.description)
                // managedBy names the VM a disk is attached to; ours lists it among its data disks.
                // Ours in managedBy but not in its list: a detach (or an attach) of ours still
                // under way, e.g. when the run that started it was killed; not another VM.
                let owner = disk.managedBy.flatMap { $0.isEmpty ? nil : $0 }
                let ours =
                    owner.flatMap { try? ResourceID(parsing: $0) }.map { builder != nil && $0 == builder } ?? false
                let elsewhere = lun == nil && !ours ? owner : nil
                let state = disk.provisioningState.azureText ?? "Succeeded"
                o.disks[role] = ObservedDisk(
                    resource: ObservedResource(id: disk.id ?? diskID.description, provisioningState: state),
                    sizeGB: disk.sizeGB, builderLUN: lun, attachedElsewhere: elsewhere,
                    changingOnBuilder: lun == nil && ours ? true : nil)
                if let lun, let device = try await devices.device(lun: lun) { o.devices[role] = device.path }
            }
            // Kiln captures from the disks: a snapshot under the build's name is an earlier
            // Kiln's (which captured through snapshots), listed with the build's tag, to delete.
            if listedIDs.contains(d.snapshotID(role).description.lowercased()),
                let snap = try await azure.snapshot(d.snapshotID(role))
            {
                o.snapshots[role] = ObservedResource(
                    id: snap.id ?? d.snapshotID(role).description,
                    provisioningState: snap.provisioningState.azureText ?? "Succeeded")
            }
        }
        let mountPath = d.mountPath
        // Only this run's OS disk mounted at the path counts: a mount of anything else there
        // (another run's disk, another process's) is not progress of this build.
        if let root = table.entry(at: mountPath), let osDevice = o.devices[.os],
            PartitionNaming.isOnDevice(root.source, osDevice)
        {
            o.rootMounted = true
            let targets = d.build.mount.chrootMounts.map { mountPath + $0.target }
            o.chrootMountsPresent = targets.allSatisfy { table.entry(at: $0) != nil }
        }
        if let i = try await image {
            let state = i.provisioningState.azureText ?? "Succeeded"
            o.image = ObservedImage(
                resource: ObservedResource(id: i.id ?? d.imageID?.description ?? "", provisioningState: state),
                digest: i.tags?[.digest])
        }
        if let v = try await version {
            let statuses = Dictionary(
                (v.replication?.regions ?? []).compactMap { s in s.region.map { (Self.region($0), s) } },
                uniquingKeysWith: { a, _ in a })
            let regions = (v.publishingProfile?.targetRegions ?? []).map { r -> ObservedGalleryVersion.Region in
                let status = statuses[Self.region(r.name)]
                let state = status?.state?.description ?? (v.provisioningState == .succeeded ? "Completed" : "Unknown")
                return .init(
                    name: Self.region(r.name), replicas: r.replicas ?? 1,
                    storageAccountType: r.storageAccountType ?? "Standard_LRS", state: state,
                    progress: status?.progress,
                    excludeFromLatest: r.excludeFromLatest, diskEncryptionSetId: r.diskEncryptionSetId)
            }
            o.galleryVersion = ObservedGalleryVersion(
                resource: ObservedResource(
                    id: v.id ?? d.gallery?.id.description ?? "",
                    provisioningState: v.provisioningState.azureText ?? "Succeeded"),
                digest: v.tags?[.digest], regions: regions,
                excludeFromLatest: v.publishingProfile?.excludeFromLatest ?? false,
                endOfLifeDate: v.publishingProfile?.endOfLifeDate.flatMap(AzureDateTime.init(parsing:)),
                replicationMode: v.publishingProfile?.replicationMode)
        }
        // The source matters only while an output is still to make (its disks are made from
        // it): then builds made from the same source share one read of it. A converged
        // build reads neither it nor its image definition, unless the manifest states the
        // definition's settings, which are compared on every plan.
        let outputsCurrent =
            !d.build.outputs.skip && (d.imageID == nil || Self.isCurrent(o.image, d))
            && (d.gallery == nil || Self.isCurrent(o.galleryVersion, d))
        if !outputsCurrent {
            o.source = try await shared.sourceTraits(of: d)
            o.sourceRead = true
            if d.sourceID != nil { o.sourceMissing = o.source == nil }
        }
        if let g = d.gallery, !d.build.outputs.skip,
            !outputsCurrent || d.build.outputs.gallery?.definition != GalleryDefinitionSettings()
        {
            let azure = azure
            o.definition = try await shared.definitions.value(of: g.definitionID.description.lowercased()) {
                try await azure.galleryImage(g.definitionID).map(ObservedDefinition.init)
            }
        }
        o.journal = view
        for r in listed {
            guard let id = r.id, let run = r.tag(.run), run != d.runID, let type = r.type?.lowercased() else {
                continue
            }
            let kind: Leftover.Kind
            if type == "microsoft.compute/disks" {
                kind = .disk
            } else if type == "microsoft.compute/snapshots" {
                kind = .snapshot
            } else {
                continue
            }
            // A snapshot is never a data disk of a VM: only a leftover disk needs the VM read.
            let lun = kind == .disk ? try await shared.attachments.lun(of: id) : nil
            var leftover = Leftover(id: id, kind: kind, runID: run, attached: lun != nil)
            if let lun, let device = try await devices.device(lun: lun),
                let root = table.entry(at: mountPath), PartitionNaming.isOnDevice(root.source, device.path)
            {
                leftover.mountedAt = mountPath
            }
            o.leftovers.append(leftover)
        }
        return o
    }

    static func region(_ name: String) -> String { RegionName.normalized(name) }

    /// Whether the journal shows every temporary resource this build ever made as gone, so
    /// that listing its resource group cannot find anything of it: the journal is of the
    /// build's current run, that run published exactly this digest, nothing of it failed or
    /// is under way, and it deleted every disk it made.
    ///
    /// Why that covers older runs too: a run starts either with no journal (then the plan
    /// lists the group and the run releases what it finds, as actions of its own journal)
    /// or from this journal's previous run, whose leftovers were released the same way; a
    /// release that failed stays in `failed`. Every resource Kiln creates is journaled
    /// (`intent`) before the request, so none escapes the journal of a run it belongs to.
    /// What the skip gives up: resources tagged with this build's name by another checkout
    /// (another state directory), which are not this journal's to release anyway.
    static func accountsForEveryTemporary(_ view: JournalView, of d: DesiredBuild) -> Bool {
        guard view.runID == d.runID, view.published == d.digest, view.failed.isEmpty, view.inFlight.isEmpty else {
            return false
        }
        return d.roles.allSatisfy { role in view.completed.contains(ActionID(d.name, .deleteDisk(role))) }
    }

    /// The planner's view of a journal: the latest phase of each action of the journal's run.
    public static func view(of journal: BuildJournal) -> JournalView {
        var view = JournalView(
            runID: journal.header.run, digest: journal.header.digest, generation: journal.header.generation)
        for (key, entry) in journal.latestByAction {
            guard let id = ActionID(parsing: key) else { continue }
            switch entry.phase {
            case .done(let result):
                view.completed.insert(id)
                if let digest = result[JournalView.stepDigestKey] { view.stepDigests[id] = digest }
            case .intent: view.inFlight[id] = .some(nil)
            case .started(let url): view.inFlight[id] = .some(url)
            case .failed(let message): view.failed[id] = message
            }
        }
        view.published = journal.header.published
        view.galleryVersion = journal.header.galleryVersion
        return view
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T?) async throws -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}

/// The builder VM's data disks (managed disk id, lowercased, to LUN), read at most once per
/// observation and only when asked: a plan whose builds have no disk of Kiln's (a converged
/// or a fresh manifest) does not read the VM at all.
struct BuilderAttachments: Sendable {
    private let load: @Sendable () async throws -> [String: Int]
    private let loading = SharedReads<[String: Int]>()

    init(azure: any AzureCompute, vm: ResourceID) {
        load = {
            let dataDisks = try await azure.dataDisks(of: vm) ?? []
            return Dictionary(
                dataDisks.compactMap { d in d.diskID.map { ($0.lowercased(), d.lun) } },
                uniquingKeysWith: { a, _ in a })
        }
    }

    /// Attachments known already (tests).
    init(fixed: [String: Int]) {
        load = { fixed }
    }

    /// The LUN at which the disk `id` is attached to the builder VM, if it is.
    func lun(of id: String) async throws -> Int? {
        try await loading.value(of: "data disks", read: load)[id.lowercased()]
    }
}

/// The reads one observation shares between its builds.
struct SharedObservation: Sendable {
    var attachments: BuilderAttachments
    var listings: TemporaryListings
    /// The traits of each source (nil: a disk or gallery-version source that is missing), by kind and id.
    var sources = SharedReads<SourceTraits?>()
    /// The image definitions the builds publish into (nil: absent), by id.
    var definitions = SharedReads<ObservedDefinition?>()

    let azure: any AzureCompute

    init(attachments: BuilderAttachments, azure: any AzureCompute) {
        self.attachments = attachments
        self.azure = azure
        listings = TemporaryListings(azure: azure)
    }
}

/// Values read once per observation, by key, when the first build asks; the builds asking
/// later (or at the same time) await the same read.
struct SharedReads<Value: Sendable>: Sendable {
    private let reads = SingleFlight<String, Value>(policy: .readOnce)

    func value(of key: String, read: @escaping @Sendable () async throws -> Value) async throws -> Value {
        try await reads.run(key, read)
    }
}

/// The resources carrying Kiln's build tag in each temporary resource group, listed once per
/// (subscription, resource group) for all the builds sharing it and split by the tag's value.
///
/// The group is listed without a tag filter: ARM leaves out the tags of the resources of a
/// tag-filtered list (see `ArmClient.listResources`), and the observer needs each one's
/// `kiln:build` and `kiln:run` to tell this run's resources from an older run's leftovers.
struct TemporaryListings: Sendable {
    let azure: any AzureCompute
    private let listings = SharedReads<[AzureTaggedResource]>()

    init(azure: any AzureCompute) {
        self.azure = azure
    }

    /// The resources of `d`'s temporary resource group whose build tag is `d`'s name.
    func resources(of d: DesiredBuild) async throws -> [AzureTaggedResource] {
        let azure = azure
        let subscription = d.subscription
        let group = d.temporaryResourceGroup
        let tagged = try await listings.value(of: "\(subscription)/\(group)".lowercased()) {
            try await azure.resources(subscription: subscription, resourceGroup: group).filter { $0.tag(.build) != nil }
        }
        return tagged.filter { $0.tag(.build) == d.name }
    }
}
