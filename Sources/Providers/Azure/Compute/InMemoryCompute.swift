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
        case resolvePlatformImage, platformImage, galleryImageVersions
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

        public func waitUntilDone(timeout: Duration, progress: (@Sendable (Double) -> Void)?) async throws {
            try await compute.wait(number, handle: handle, timeout: timeout, progress: progress)
        }
    }

    enum Kind: Sendable {
        case disk, snapshot, image, gallery, galleryImage, version
    }

    enum Effect: Sendable {
        case provision(Kind, key: String)
        case delete(Kind, key: String)
        case profile(key: String, PublishingProfile)
        /// The VM's list changed when the request was accepted (as Azure's model does);
        /// at the end the disks' ownership flips, or, on failure, the list goes back to
        /// `previous`.
        case dataDisks(
            vm: String, attach: [ResourceID], detach: [ResourceID], previous: [VMDataDisk])
        case none
    }

    struct Pending: Sendable {
        var handle: OperationHandle
        var ends: C.Instant
        var failure: ArmError?
        var effect: Effect
    }

    struct Replicating: Sendable {
        var starts: C.Instant
        var ends: C.Instant
    }

    public nonisolated let clock: C
    /// How long each call's operation takes (zero when absent).
    public var latency: [Call: Duration] = [:]
    public private(set) var calls: [RecordedCall] = []

    var ids: [String: ResourceID] = [:]
    var disks: [String: AzureDisk] = [:]
    var snapshots: [String: AzureSnapshot] = [:]
    var images: [String: AzureImage] = [:]
    var galleries: [String: AzureGallery] = [:]
    var galleryImages: [String: AzureGalleryImage] = [:]
    var versions: [String: AzureGalleryImageVersion] = [:]
    var replication: [String: Replicating] = [:]
    var failedRegions: [String: [String: String]] = [:]
    var machines: [String: [VMDataDisk]] = [:]
    /// Platform image versions by "location/publisher/offer/sku" (lower-cased), with each
    /// version's Hyper-V generation.
    var platformImages: [String: [String: AzurePlatformImage]] = [:]

    var pending: [Int: Pending] = [:]
    var finished: [Int: ArmError?] = [:]
    var nextOperation = 1
    var operationFailures: [Call: [ArmError]] = [:]
    var answers: [Call: [any Error]] = [:]

    public init(clock: C) {
        self.clock = clock
    }

    // MARK: Setting up and steering (tests)

    /// Adds a virtual machine with no data disks.
    public func addVirtualMachine(_ id: ResourceID) {
        machines[Self.key(id)] = []
    }

    /// Adds a platform image's versions in `location`, each of generation `hyperVGeneration`
    /// (and the other traits given; no features by default, so Standard security).
    public func addPlatformImage(
        _ urn: PlatformImageURN, location: String, versions: [String], hyperVGeneration: String? = "V2",
        architecture: String? = "x64", features: [String: String] = [:], osDiskSizeGB: Int? = 30
    ) {
        for version in versions {
            platformImages[Self.platformKey(urn, location), default: [:]][version] = AzurePlatformImage(
                hyperVGeneration: hyperVGeneration, architecture: architecture, features: features,
                osDiskSizeGB: osDiskSizeGB)
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

    // MARK: Inside

    static func key(_ id: ResourceID) -> String { id.description.lowercased() }

    static func platformKey(_ urn: PlatformImageURN, _ location: String) -> String {
        [RegionName.normalized(location), urn.publisher, urn.offer, urn.sku].joined(separator: "/").lowercased()
    }

    static func operationNumber(_ url: URL?) -> Int? {
        guard let url, url.scheme == "memory", url.host == "operations" else { return nil }
        return Int(url.lastPathComponent)
    }

    static func notFound(_ operation: String, _ id: ResourceID, _ message: String) -> ArmError {
        ArmError(
            kind: .http, operation: operation, resource: id.description, status: 404, code: "NotFound", message: message
        )
    }

    /// Records a call, settles finished operations, and throws an answer set for it.
    func record(_ call: Call, _ resource: ResourceID) throws {
        try record(call, resource.description)
    }

    func record(_ call: Call, _ resource: String) throws {
        calls.append(RecordedCall(call: call, resource: resource))
        settle()
        if var queued = answers[call], !queued.isEmpty {
            let error = queued.removeFirst()
            answers[call] = queued
            throw error
        }
    }

    func tags(of key: String) -> [String: String]?? {
        if let r = disks[key] { return .some(r.tags) }
        if let r = snapshots[key] { return .some(r.tags) }
        if let r = images[key] { return .some(r.tags) }
        if let r = galleries[key] { return .some(r.tags) }
        if let r = galleryImages[key] { return .some(r.tags) }
        if let r = versions[key] { return .some(r.tags) }
        return nil
    }

    /// The Hyper-V generation a disk made from `source` inherits, as Azure gives it one.
    func inheritedGeneration(_ source: DiskSource) -> String? {
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
            return platformImages[Self.platformKey(urn, location)]?[version]?.hyperVGeneration
        case .galleryImageVersion(let id, _):
            guard let definition = (try? ResourceID(parsing: id))?.parent else { return nil }
            return galleryImages[Self.key(definition)]?.hyperVGeneration
        case .empty, .other:
            return nil
        }
    }

    func start(
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

    func beginDelete(_ call: Call, _ name: String, _ id: ResourceID, kind: Kind, exists: Bool) -> Operation {
        let key = Self.key(id)
        if exists { setState(kind, key, .inProgress("Deleting")) }
        return start(call, name, id, method: .delete, effect: exists ? .delete(kind, key: key) : .none)
    }

    func setState(_ kind: Kind, _ key: String, _ state: AzureProvisioningState) {
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
    func settle() {
        let now = clock.now
        for (number, op) in pending.filter({ $0.value.ends <= now }).sorted(by: {
            ($0.value.ends, $0.key) < ($1.value.ends, $1.key)
        }) {
            pending[number] = nil
            finished[number] = op.failure
            apply(op.effect, failed: op.failure != nil)
        }
    }

    func apply(_ effect: Effect, failed: Bool) {
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
        case .dataDisks(let vm, let attach, let detach, let previous):
            guard !failed else {
                machines[vm] = previous
                return
            }
            for disk in detach {
                disks[Self.key(disk)]?.managedBy = nil
                disks[Self.key(disk)]?.diskState = "Unattached"
            }
            for disk in attach {
                disks[Self.key(disk)]?.managedBy = ids[vm]?.description ?? vm
                disks[Self.key(disk)]?.diskState = "Attached"
            }
        case .none:
            break
        }
    }

    /// The version's replication per target region (its own region when it names none).
    func replicationOf(
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
    /// runs on the handle's resource) to end, within `timeout`. `progress` hears the
    /// percentage once, half-way, as a poll of an operation that reports one would.
    fileprivate func wait(
        _ number: Int?, handle: OperationHandle, timeout: Duration, progress: (@Sendable (Double) -> Void)? = nil
    ) async throws {
        let start = clock.now
        var reported = false
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
            if let progress, !reported {
                reported = true
                let halfway = clock.now.advanced(by: clock.now.duration(to: running.ends) / 2)
                try await clock.sleep(until: halfway, tolerance: nil)
                progress(50)
                continue
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
