import Foundation
import Model

/// The in-memory twin of `ArmCompute`, for tests: resources live in this actor, and every
/// operation takes the time `latency` gives its call on `clock` (none unless told), during
/// which its resource reads as `Creating`, `Updating` or `Deleting`. On a `VirtualClock`
/// a wait of minutes returns at once at the right virtual time.
///
/// Tests can make the next operation of a call fail (`failNext`), make the next call itself
/// answer an error (`answerNext`), fail replication to a region, and read which calls were
/// made (`calls`). It models what Kiln relies on, not the whole of Azure: ids compare
/// case-insensitively, a resource group's listing holds its top-level resources with their
/// tags, an attach takes the lowest free LUN, and replication completes when the version's
/// creation does.
public actor InMemoryCompute<C: Clock>: AzureCompute where C.Duration == Duration {
    /// Every call of `AzureCompute`, by name.
    public enum Call: String, Sendable, Hashable, CaseIterable {
        case disk, beginCreateDisk, beginDeleteDisk
        case snapshot, beginCreateSnapshot, beginDeleteSnapshot
        case image, beginCreateImage, beginDeleteImage
        case gallery, beginCreateGallery, galleryImage, beginCreateGalleryImage
        case galleryImageVersion, beginCreateGalleryImageVersion, beginUpdatePublishingProfile,
            beginDeleteGalleryImageVersion
        case dataDisks, updateDataDisks
        case resolvePlatformImage, platformImageHyperVGeneration
        case resources
    }

    /// One call made: which, and the resource (or scope) it was about.
    public struct RecordedCall: Sendable, Hashable, CustomStringConvertible {
        public var call: Call
        public var resource: String
        public var description: String { "\(call.rawValue) \(resource)" }
    }

    /// A long-running operation of the twin.
    public struct Operation: AzureOperation {
        public let handle: OperationHandle
        let compute: InMemoryCompute<C>
        /// Nil for a handle the twin did not issue: then the resource is watched.
        let number: Int?

        public func waitUntilDone(timeout: Duration) async throws {
            try await compute.wait(number, handle: handle, timeout: timeout)
        }
    }

    private enum Kind: Sendable {
        case disk, snapshot, image, gallery, galleryImage, version
    }

    private enum Effect: Sendable {
        case provision(Kind, key: String)
        case delete(Kind, key: String)
        case profile(key: String, PublishingProfile)
        case dataDisks(vm: String, attach: [(disk: ResourceID, lun: Int)], detach: [ResourceID])
        case none
    }

    private struct Pending: Sendable {
        var handle: OperationHandle
        var ends: C.Instant
        var failure: ArmError?
        var effect: Effect
    }

    private struct Replicating: Sendable {
        var starts: C.Instant
        var ends: C.Instant
    }

    public nonisolated let clock: C
    /// How long each call's operation takes (zero when absent).
    public var latency: [Call: Duration] = [:]
    public private(set) var calls: [RecordedCall] = []

    private var ids: [String: ResourceID] = [:]
    private var disks: [String: AzureDisk] = [:]
    private var snapshots: [String: AzureSnapshot] = [:]
    private var images: [String: AzureImage] = [:]
    private var galleries: [String: AzureGallery] = [:]
    private var galleryImages: [String: AzureGalleryImage] = [:]
    private var versions: [String: AzureGalleryImageVersion] = [:]
    private var replication: [String: Replicating] = [:]
    private var failedRegions: [String: [String: String]] = [:]
    private var machines: [String: [VMDataDisk]] = [:]
    /// Platform image versions by "location/publisher/offer/sku" (lower-cased), with each
    /// version's Hyper-V generation.
    private var platformImages: [String: [String: String?]] = [:]

    private var pending: [Int: Pending] = [:]
    private var finished: [Int: ArmError?] = [:]
    private var nextOperation = 1
    private var operationFailures: [Call: [ArmError]] = [:]
    private var answers: [Call: [any Error]] = [:]

    public init(clock: C) {
        self.clock = clock
    }

    // MARK: Setting up and steering (tests)

    /// Adds a virtual machine with no data disks.
    public func addVirtualMachine(_ id: ResourceID) {
        machines[Self.key(id)] = []
    }

    /// Adds a platform image's versions in `location`, each of generation `hyperVGeneration`.
    public func addPlatformImage(
        _ urn: PlatformImageURN, location: String, versions: [String], hyperVGeneration: String? = "V2"
    ) {
        for version in versions {
            platformImages[Self.platformKey(urn, location), default: [:]][version] = .some(hyperVGeneration)
        }
    }

    /// Sets how long the operations of `call` take.
    public func setLatency(_ duration: Duration, for call: Call) {
        latency[call] = duration
    }

    /// The next operation `call` starts ends `Failed` with Azure's `code` and `message`
    /// (and a created resource reads `Failed`).
    public func failNext(
        _ call: Call, code: String = "InternalOperationError", message: String = "the operation failed"
    ) {
        operationFailures[call, default: []].append(
            ArmError(kind: .operationFailed, operation: call.rawValue, resource: "", code: code, message: message))
    }

    /// The next `call` throws `error` at once, doing nothing.
    public func answerNext(_ call: Call, with error: any Error) {
        answers[call, default: []].append(error)
    }

    /// Replication of the version `id` to `region` reads `Failed` with `details`.
    public func failReplication(of id: ResourceID, to region: String, details: String) {
        failedRegions[Self.key(id), default: [:]][RegionName.normalized(region)] = details
    }

    /// Replaces a resource's tags, as someone else might.
    public func setTags(of id: ResourceID, _ tags: [String: String]?) {
        let key = Self.key(id)
        disks[key]?.tags = tags
        snapshots[key]?.tags = tags
        images[key]?.tags = tags
        galleries[key]?.tags = tags
        galleryImages[key]?.tags = tags
        versions[key]?.tags = tags
    }

    /// Sets a resource's provisioning state, as a failure (or work) outside Kiln would.
    public func setProvisioningState(of id: ResourceID, _ state: AzureProvisioningState) {
        let key = Self.key(id)
        disks[key]?.provisioningState = state
        snapshots[key]?.provisioningState = state
        images[key]?.provisioningState = state
        galleries[key]?.provisioningState = state
        galleryImages[key]?.provisioningState = state
        versions[key]?.provisioningState = state
    }

    /// How many times `call` was made (about `resource`, when given).
    public func count(_ call: Call, resource: ResourceID? = nil) -> Int {
        calls.filter {
            $0.call == call && (resource == nil || $0.resource.lowercased() == resource!.description.lowercased())
        }.count
    }

    /// Forgets the calls made so far.
    public func resetCalls() {
        calls.removeAll()
    }

    /// Operations still running.
    public var operationsInFlight: Int {
        settle()
        return pending.count
    }

    // MARK: AzureCompute: disks and snapshots

    public func disk(_ id: ResourceID) async throws -> AzureDisk? {
        try record(.disk, id)
        return disks[Self.key(id)]
    }

    public func beginCreateDisk(_ id: ResourceID, _ disk: AzureDisk) async throws -> any AzureOperation {
        try record(.beginCreateDisk, id)
        let key = Self.key(id)
        var stored = disk
        stored.id = id.description
        stored.name = id.name
        stored.managedBy = disks[key]?.managedBy
        stored.diskState = disks[key]?.diskState ?? "Unattached"
        stored.hyperVGeneration = stored.hyperVGeneration ?? disk.source.flatMap(inheritedGeneration)
        stored.provisioningState = .inProgress(disks[key] == nil ? "Creating" : "Updating")
        disks[key] = stored
        ids[key] = id
        return start(.beginCreateDisk, "create disk", id, method: .put, effect: .provision(.disk, key: key))
    }

    public func beginDeleteDisk(_ id: ResourceID) async throws -> any AzureOperation {
        try record(.beginDeleteDisk, id)
        return beginDelete(.beginDeleteDisk, "delete disk", id, kind: .disk, exists: disks[Self.key(id)] != nil)
    }

    public func snapshot(_ id: ResourceID) async throws -> AzureSnapshot? {
        try record(.snapshot, id)
        return snapshots[Self.key(id)]
    }

    public func beginCreateSnapshot(_ id: ResourceID, _ snapshot: AzureSnapshot) async throws -> any AzureOperation {
        try record(.beginCreateSnapshot, id)
        let key = Self.key(id)
        var stored = snapshot
        stored.id = id.description
        stored.name = id.name
        if case .copy(let source) = snapshot.source, let sourceID = try? ResourceID(parsing: source),
            let disk = disks[Self.key(sourceID)]
        {
            stored.hyperVGeneration = stored.hyperVGeneration ?? disk.hyperVGeneration
        }
        stored.provisioningState = .inProgress(snapshots[key] == nil ? "Creating" : "Updating")
        snapshots[key] = stored
        ids[key] = id
        return start(.beginCreateSnapshot, "create snapshot", id, method: .put, effect: .provision(.snapshot, key: key))
    }

    public func beginDeleteSnapshot(_ id: ResourceID) async throws -> any AzureOperation {
        try record(.beginDeleteSnapshot, id)
        return beginDelete(
            .beginDeleteSnapshot, "delete snapshot", id, kind: .snapshot, exists: snapshots[Self.key(id)] != nil)
    }

    // MARK: AzureCompute: managed images

    public func image(_ id: ResourceID) async throws -> AzureImage? {
        try record(.image, id)
        return images[Self.key(id)]
    }

    public func beginCreateImage(_ id: ResourceID, _ image: AzureImage) async throws -> any AzureOperation {
        try record(.beginCreateImage, id)
        let key = Self.key(id)
        var stored = image
        stored.id = id.description
        stored.provisioningState = .inProgress(images[key] == nil ? "Creating" : "Updating")
        images[key] = stored
        ids[key] = id
        return start(.beginCreateImage, "create image", id, method: .put, effect: .provision(.image, key: key))
    }

    public func beginDeleteImage(_ id: ResourceID) async throws -> any AzureOperation {
        try record(.beginDeleteImage, id)
        return beginDelete(.beginDeleteImage, "delete image", id, kind: .image, exists: images[Self.key(id)] != nil)
    }

    // MARK: AzureCompute: galleries

    public func gallery(_ id: ResourceID) async throws -> AzureGallery? {
        try record(.gallery, id)
        return galleries[Self.key(id)]
    }

    public func beginCreateGallery(_ id: ResourceID, _ gallery: AzureGallery) async throws -> any AzureOperation {
        try record(.beginCreateGallery, id)
        let key = Self.key(id)
        var stored = gallery
        stored.provisioningState = .inProgress(galleries[key] == nil ? "Creating" : "Updating")
        galleries[key] = stored
        ids[key] = id
        return start(.beginCreateGallery, "create gallery", id, method: .put, effect: .provision(.gallery, key: key))
    }

    public func galleryImage(_ id: ResourceID) async throws -> AzureGalleryImage? {
        try record(.galleryImage, id)
        return galleryImages[Self.key(id)]
    }

    public func beginCreateGalleryImage(
        _ id: ResourceID, _ definition: AzureGalleryImage
    ) async throws -> any AzureOperation {
        try record(.beginCreateGalleryImage, id)
        let key = Self.key(id)
        guard let gallery = id.parent, galleries[Self.key(gallery)] != nil else {
            throw Self.notFound(
                "create gallery image definition", id, "the gallery \(id.parent?.name ?? "?") does not exist")
        }
        var stored = definition
        stored.provisioningState = .inProgress(galleryImages[key] == nil ? "Creating" : "Updating")
        galleryImages[key] = stored
        ids[key] = id
        return start(
            .beginCreateGalleryImage, "create gallery image definition", id, method: .put,
            effect: .provision(.galleryImage, key: key))
    }

    public func galleryImageVersion(_ id: ResourceID, replicationStatus: Bool) async throws -> AzureGalleryImageVersion?
    {
        try record(.galleryImageVersion, id)
        let key = Self.key(id)
        guard var version = versions[key] else { return nil }
        if replicationStatus { version.replication = replicationOf(key, version) }
        return version
    }

    public func beginCreateGalleryImageVersion(
        _ id: ResourceID, _ version: AzureGalleryImageVersion
    ) async throws
        -> any AzureOperation
    {
        try record(.beginCreateGalleryImageVersion, id)
        let key = Self.key(id)
        guard let definition = id.parent, galleryImages[Self.key(definition)] != nil else {
            throw Self.notFound(
                "create gallery image version", id, "the image definition \(id.parent?.name ?? "?") does not exist")
        }
        var stored = version
        stored.id = id.description
        stored.provisioningState = .inProgress(versions[key] == nil ? "Creating" : "Updating")
        versions[key] = stored
        ids[key] = id
        let operation = start(
            .beginCreateGalleryImageVersion, "create gallery image version", id, method: .put,
            effect: .provision(.version, key: key))
        replication[key] = Replicating(starts: clock.now, ends: pending[operation.number ?? 0]?.ends ?? clock.now)
        return operation
    }

    public func beginUpdatePublishingProfile(
        _ id: ResourceID, _ profile: PublishingProfile
    ) async throws -> any AzureOperation {
        try record(.beginUpdatePublishingProfile, id)
        let key = Self.key(id)
        guard versions[key] != nil else {
            throw Self.notFound("update gallery image version", id, "the version does not exist")
        }
        versions[key]?.provisioningState = .inProgress("Updating")
        let operation = start(
            .beginUpdatePublishingProfile, "update gallery image version", id, method: .patch,
            effect: .profile(key: key, profile))
        replication[key] = Replicating(starts: clock.now, ends: pending[operation.number ?? 0]?.ends ?? clock.now)
        return operation
    }

    public func beginDeleteGalleryImageVersion(_ id: ResourceID) async throws -> any AzureOperation {
        try record(.beginDeleteGalleryImageVersion, id)
        return beginDelete(
            .beginDeleteGalleryImageVersion, "delete gallery image version", id, kind: .version,
            exists: versions[Self.key(id)] != nil)
    }

    // MARK: AzureCompute: virtual machines

    public func dataDisks(of vm: ResourceID) async throws -> [VMDataDisk]? {
        try record(.dataDisks, vm)
        return machines[Self.key(vm)]
    }

    public func updateDataDisks(
        _ changes: [DataDiskChange], on vm: ResourceID, maxDataDisks: Int,
        lock: any DataDiskLUNLock, timeout: Duration,
        ensureNotInUse: @escaping @Sendable (_ disk: ResourceID, _ lun: Int) async throws -> Void,
        onStarted: @escaping @Sendable (OperationHandle) async throws -> Void
    ) async throws -> [Int?] {
        try record(.updateDataDisks, vm)
        guard !changes.isEmpty else { return [] }
        return try await lock.withLUNLock {
            let (results, operation) = try await self.changeDataDisks(
                changes, on: vm, maxDataDisks: maxDataDisks,
                ensureNotInUse: ensureNotInUse)
            if let operation {
                try await onStarted(operation.handle)
                try await operation.waitUntilDone(timeout: timeout)
            }
            return results
        }
    }

    /// Chooses LUNs and starts the change (nil when there is nothing to do).
    private func changeDataDisks(
        _ changes: [DataDiskChange], on vm: ResourceID, maxDataDisks: Int,
        ensureNotInUse: @Sendable (_ disk: ResourceID, _ lun: Int) async throws -> Void
    ) async throws -> ([Int?], Operation?) {
        settle()
        let verb = changes.allSatisfy(\.isAttach) ? "attach data disk" : "attach and detach data disks"
        guard let dataDisks = machines[Self.key(vm)] else {
            throw ArmError(
                kind: .http, operation: verb, resource: vm.description, status: 404, code: "ResourceNotFound",
                message: "the virtual machine does not exist")
        }
        var lunOf: [ResourceID: Int] = [:]
        var detaching: [ResourceID] = []
        for change in changes {
            switch change {
            case .attach(let a):
                if let existing = dataDisks.first(where: { $0.isDisk(a.disk) && !$0.toBeDetached }) {
                    lunOf[a.disk] = existing.lun
                }
            case .detach(let disk, _):
                guard lunOf[disk] == nil, let attached = dataDisks.first(where: { $0.isDisk(disk) }) else { continue }
                try await ensureNotInUse(disk, attached.lun)
                lunOf[disk] = attached.lun
                detaching.append(disk)
            }
        }
        // `ensureNotInUse` may have let another change run meanwhile: read the VM again.
        settle()
        var used = Set((machines[Self.key(vm)] ?? dataDisks).map(\.lun))
        var attaching: [(disk: ResourceID, lun: Int)] = []
        for change in changes {
            guard case .attach(let a) = change, lunOf[a.disk] == nil else { continue }
            guard disks[Self.key(a.disk)] != nil else {
                throw Self.notFound(verb, a.disk, "the disk does not exist")
            }
            guard let lun = ArmClient.lowestFreeLUN(used: used, maxDataDisks: maxDataDisks) else {
                throw ArmError(
                    kind: .invalidRequest, operation: verb, resource: vm.description,
                    code: ArmClient.maxDataDisksReached,
                    message: "the VM has \(used.count) data disks and its size allows \(maxDataDisks)")
            }
            used.insert(lun)
            lunOf[a.disk] = lun
            attaching.append((a.disk, lun))
        }
        let results = changes.map { lunOf[$0.disk] }
        guard !attaching.isEmpty || !detaching.isEmpty else { return (results, nil) }
        let names =
            (attaching.map { "attach data disk \($0.disk.name) at LUN \($0.lun)" }
                + detaching.map { "detach data disk \($0.name)" })
        let operation = start(
            .updateDataDisks, names.joined(separator: ", "), vm, method: .post,
            effect: .dataDisks(vm: Self.key(vm), attach: attaching, detach: detaching))
        return (results, operation)
    }

    // MARK: AzureCompute: platform images and listings

    public func resolvePlatformImage(
        subscription: String, location: String, urn: PlatformImageURN
    ) async throws -> PlatformImageURN {
        try record(.resolvePlatformImage, "\(urn) in \(location)")
        guard urn.isLatest else { return urn }
        guard
            let highest = ImageVersionOrder.highest(
                Array((platformImages[Self.platformKey(urn, location)] ?? [:]).keys))
        else {
            throw ArmError(
                kind: .invalidRequest, operation: "resolve latest version of platform image",
                resource: "\(urn) in \(location)",
                message: "the image has no versions in \(location)",
                hint: "check the publisher, offer, sku and location")
        }
        return urn.resolved(to: highest)
    }

    public func platformImageHyperVGeneration(
        subscription: String, location: String, urn: PlatformImageURN
    ) async throws -> String? {
        try record(.platformImageHyperVGeneration, "\(urn) in \(location)")
        guard let version = urn.version, let generation = platformImages[Self.platformKey(urn, location)]?[version]
        else { return nil }
        return generation
    }

    public func resources(subscription: String, resourceGroup: String) async throws -> [AzureTaggedResource] {
        try record(.resources, "/subscriptions/\(subscription)/resourceGroups/\(resourceGroup)")
        settle()
        return ids.sorted { $0.key < $1.key }.compactMap { key, id in
            guard id.segments.count == 1, id.subscription.lowercased() == subscription.lowercased(),
                id.resourceGroup.lowercased() == resourceGroup.lowercased(), let found = tags(of: key)
            else { return nil }
            return AzureTaggedResource(id: id.description, type: id.fullType, tags: found)
        }
    }

    // MARK: AzureCompute: operations

    public nonisolated func operation(resuming handle: OperationHandle) -> any AzureOperation {
        Operation(handle: handle, compute: self, number: Self.operationNumber(handle.asyncOperationURL))
    }

    public nonisolated func resourceURL(_ id: ResourceID) -> URL {
        URL(string: "memory://azure" + id.description.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed)!)!
    }

    // MARK: Inside

    private static func key(_ id: ResourceID) -> String { id.description.lowercased() }

    private static func platformKey(_ urn: PlatformImageURN, _ location: String) -> String {
        [RegionName.normalized(location), urn.publisher, urn.offer, urn.sku].joined(separator: "/").lowercased()
    }

    private static func operationNumber(_ url: URL?) -> Int? {
        guard let url, url.scheme == "memory", url.host == "operations" else { return nil }
        return Int(url.lastPathComponent)
    }

    private static func notFound(_ operation: String, _ id: ResourceID, _ message: String) -> ArmError {
        ArmError(
            kind: .http, operation: operation, resource: id.description, status: 404, code: "NotFound", message: message
        )
    }

    /// Records a call, settles finished operations, and throws an answer set for it.
    private func record(_ call: Call, _ resource: ResourceID) throws {
        try record(call, resource.description)
    }

    private func record(_ call: Call, _ resource: String) throws {
        calls.append(RecordedCall(call: call, resource: resource))
        settle()
        if var queued = answers[call], !queued.isEmpty {
            let error = queued.removeFirst()
            answers[call] = queued
            throw error
        }
    }

    private func tags(of key: String) -> [String: String]?? {
        if let r = disks[key] { return .some(r.tags) }
        if let r = snapshots[key] { return .some(r.tags) }
        if let r = images[key] { return .some(r.tags) }
        if let r = galleries[key] { return .some(r.tags) }
        if let r = galleryImages[key] { return .some(r.tags) }
        if let r = versions[key] { return .some(r.tags) }
        return nil
    }

    /// The Hyper-V generation a disk made from `source` inherits, as Azure gives it one.
    private func inheritedGeneration(_ source: DiskSource) -> String? {
        switch source {
        case .copy(let id):
            let key = id.lowercased()
            return disks[key]?.hyperVGeneration ?? snapshots[key]?.hyperVGeneration
        case .image(let id):
            // .../locations/{l}/publishers/{p}/artifacttypes/vmimage/offers/{o}/skus/{s}/versions/{v}
            let parts = id.split(separator: "/").map(String.init)
            func after(_ name: String) -> String? {
                parts.firstIndex { $0.lowercased() == name }.flatMap { $0 + 1 < parts.count ? parts[$0 + 1] : nil }
            }
            guard let location = after("locations"), let publisher = after("publishers"), let offer = after("offers"),
                let sku = after("skus"), let version = after("versions")
            else { return nil }
            let urn = PlatformImageURN(publisher: publisher, offer: offer, sku: sku, version: nil)
            return platformImages[Self.platformKey(urn, location)]?[version] ?? nil
        case .galleryImageVersion(let id, _):
            guard let definition = (try? ResourceID(parsing: id))?.parent else { return nil }
            return galleryImages[Self.key(definition)]?.hyperVGeneration
        case .empty, .other:
            return nil
        }
    }

    private func start(
        _ call: Call, _ name: String, _ id: ResourceID, method: AzureHTTPMethod, effect: Effect
    ) -> Operation {
        let number = nextOperation
        nextOperation += 1
        var failure: ArmError?
        if var queued = operationFailures[call], !queued.isEmpty {
            failure = queued.removeFirst()
            operationFailures[call] = queued
            failure?.operation = name
            failure?.resource = id.description
        }
        let handle = OperationHandle(
            operation: name, resource: id.description, method: method, resourceURL: resourceURL(id),
            asyncOperationURL: URL(string: "memory://operations/\(number)"), startedAt: Date())
        pending[number] = Pending(
            handle: handle, ends: clock.now.advanced(by: latency[call] ?? .zero), failure: failure, effect: effect)
        return Operation(handle: handle, compute: self, number: number)
    }

    private func beginDelete(_ call: Call, _ name: String, _ id: ResourceID, kind: Kind, exists: Bool) -> Operation {
        let key = Self.key(id)
        if exists { setState(kind, key, .inProgress("Deleting")) }
        return start(call, name, id, method: .delete, effect: exists ? .delete(kind, key: key) : .none)
    }

    private func setState(_ kind: Kind, _ key: String, _ state: AzureProvisioningState) {
        switch kind {
        case .disk: disks[key]?.provisioningState = state
        case .snapshot: snapshots[key]?.provisioningState = state
        case .image: images[key]?.provisioningState = state
        case .gallery: galleries[key]?.provisioningState = state
        case .galleryImage: galleryImages[key]?.provisioningState = state
        case .version: versions[key]?.provisioningState = state
        }
    }

    /// Finishes every operation whose time has come, in the order they end.
    private func settle() {
        let now = clock.now
        for (number, op) in pending.filter({ $0.value.ends <= now }).sorted(by: {
            ($0.value.ends, $0.key) < ($1.value.ends, $1.key)
        }) {
            pending[number] = nil
            finished[number] = op.failure
            apply(op.effect, failed: op.failure != nil)
        }
    }

    private func apply(_ effect: Effect, failed: Bool) {
        switch effect {
        case .provision(let kind, let key):
            setState(kind, key, failed ? .failed : .succeeded)
        case .delete(let kind, let key):
            guard !failed else {
                setState(kind, key, .failed)
                return
            }
            switch kind {
            case .disk: disks[key] = nil
            case .snapshot: snapshots[key] = nil
            case .image: images[key] = nil
            case .gallery: galleries[key] = nil
            case .galleryImage: galleryImages[key] = nil
            case .version:
                versions[key] = nil
                replication[key] = nil
            }
            ids[key] = nil
        case .profile(let key, let profile):
            guard !failed else {
                versions[key]?.provisioningState = .failed
                return
            }
            var current = versions[key]?.publishingProfile ?? PublishingProfile(targetRegions: nil)
            if let regions = profile.targetRegions { current.targetRegions = regions }
            if let exclude = profile.excludeFromLatest { current.excludeFromLatest = exclude }
            current.endOfLifeDate = profile.endOfLifeDate
            versions[key]?.publishingProfile = current
            versions[key]?.provisioningState = .succeeded
        case .dataDisks(let vm, let attach, let detach):
            guard !failed, var dataDisks = machines[vm] else { return }
            for disk in detach {
                dataDisks.removeAll { $0.isDisk(disk) }
                disks[Self.key(disk)]?.managedBy = nil
                disks[Self.key(disk)]?.diskState = "Unattached"
            }
            for (disk, lun) in attach {
                dataDisks.append(VMDataDisk(lun: lun, diskID: disk.description))
                disks[Self.key(disk)]?.managedBy = ids[vm]?.description ?? vm
                disks[Self.key(disk)]?.diskState = "Attached"
            }
            machines[vm] = dataDisks.sorted { $0.lun < $1.lun }
        case .none:
            break
        }
    }

    /// The version's replication per target region (its own region when it names none).
    private func replicationOf(
        _ key: String, _ version: AzureGalleryImageVersion
    ) -> AzureGalleryImageVersion.Replication {
        let regions = version.publishingProfile?.targetRegions?.map(\.name) ?? [version.location ?? ""]
        let timing = replication[key]
        let now = clock.now
        let failed = failedRegions[key] ?? [:]
        let summary = regions.map { name -> AzureGalleryImageVersion.RegionalReplication in
            let region = RegionName.normalized(name)
            if let details = failed[region] {
                return .init(region: region, state: .failed, details: details, progress: 0)
            }
            guard let timing, now < timing.ends else { return .init(region: region, state: .completed, progress: 100) }
            let total = timing.starts.duration(to: timing.ends)
            let done = timing.starts.duration(to: now)
            let percent = total > .zero ? Int((done / total) * 100) : 0
            return .init(region: region, state: .replicating, progress: min(99, max(0, percent)))
        }
        let aggregate =
            summary.contains { $0.state == .failed }
            ? "Failed"
            : summary.allSatisfy { $0.state == .completed } ? "Completed" : "InProgress"
        return .init(aggregatedState: aggregate, regions: summary)
    }

    /// Waits for operation `number` (or, for a handle the twin did not issue, for whatever
    /// runs on the handle's resource) to end, within `timeout`.
    fileprivate func wait(_ number: Int?, handle: OperationHandle, timeout: Duration) async throws {
        let start = clock.now
        while true {
            settle()
            let running: Pending?
            if let number, finished[number] != nil || pending[number] != nil {
                running = pending[number]
            } else {
                running = pending.values.filter { $0.handle.resource.lowercased() == handle.resource.lowercased() }.min
                { $0.ends < $1.ends }
            }
            guard let running else { break }
            let waited = start.duration(to: clock.now)
            if waited + clock.now.duration(to: running.ends) > timeout {
                // Waited as long as the caller allows, as a poller would.
                try await clock.sleep(until: start.advanced(by: timeout), tolerance: nil)
                throw ArmError(
                    kind: .operationTimedOut, operation: handle.operation, resource: handle.resource,
                    message: "still running after \(Int(timeout.secondsDouble)) s",
                    hint:
                        "it may still be running in Azure; run again to wait for it, or raise the timeout for this step"
                )
            }
            try await clock.sleep(until: running.ends, tolerance: nil)
        }
        try Task.checkCancellation()
        if let number, let outcome = finished[number], let failure = outcome { throw failure }
        if number == nil || finished[number!] == nil, let id = try? ResourceID(parsing: handle.resource) {
            // A handle of another process: the resource tells how it went.
            let key = Self.key(id)
            let state =
                disks[key]?.provisioningState ?? snapshots[key]?.provisioningState ?? images[key]?.provisioningState
                ?? galleries[key]?.provisioningState ?? galleryImages[key]?.provisioningState
                ?? versions[key]?.provisioningState
            if let state, state.isFailed {
                throw ArmError(
                    kind: .operationFailed, operation: handle.operation, resource: handle.resource,
                    code: "ProvisioningState\(state)", message: "the resource's provisioningState is \(state)")
            }
        }
    }
}
