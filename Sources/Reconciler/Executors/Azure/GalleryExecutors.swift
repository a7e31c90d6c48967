import Foundation
import Logging
import Model
import Planner
import Providers

/// `gallery-definition`: makes sure the gallery and the image definition the build's
/// version is published into exist. It depends on nothing but the source, so it runs at the
/// start of the apply, beside the disk work, and `gallery-version` waits for it.
///
/// Kiln creates a missing gallery (in the build's location) and a missing image
/// definition (Linux, generalized, the OS disk's Hyper-V generation, identifier publisher
/// `kiln`, offer = the gallery's name, sku = the definition's name). Existing ones are
/// adopted as they are, except an image definition the version could not be published
/// into (another OS type or Hyper-V generation), which is refused with the fix; one left
/// `Failed` (its creation failed) is PUT again as it is.
///
/// The outcome carries the gallery's region, where `gallery-version` creates the version.
struct GalleryDefinitionExecutor: ActionExecutor {
    let env: ExecutorEnvironment

    func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        let d = try env.build(of: action)
        let (_, definitionID, galleryID) = try galleryIDs(d, env: env, action: action)
        let timeout = d.build.timeouts.azureOperation.duration
        let ops = AzureOperations(azure: env.azure, context: context)
        // The journal holds the last operation this action started (the gallery's or the
        // definition's): wait for it, then check both as on any run.
        try await ops.rejoin(fallbackMethod: .put, resource: definitionID, timeout: timeout)
        // Builds of this apply that share the gallery create it once between them.
        let location = try await env.once.run("gallery " + galleryID.description.lowercased()) {
            try await ensureGallery(galleryID, d, ops: ops, timeout: timeout)
        }
        try await ensureDefinition(definitionID, galleryName: galleryID.name, location: location, d, action: action, ops: ops, timeout: timeout)
        return ActionOutcome(resourceID: definitionID, location: location)
    }

    /// The gallery's location, creating the gallery when it is missing.
    private func ensureGallery(_ id: ResourceID, _ d: DesiredBuild, ops: AzureOperations, timeout: Duration) async throws -> String {
        var body: AzureGallery
        if let gallery = try await env.azure.gallery(id) {
            let state = gallery.provisioningState
            let location = gallery.location.map(RegionName.normalized) ?? d.location
            guard state.isFailed else {
                if state.isInProgress { try await ops.waitForProvisioning(id, timeout: timeout) }
                return location
            }
            // Failed (e.g. its creation failed in an earlier run): the same gallery again,
            // which Azure retries in place.
            ops.context.logger.notice("gallery \(id.name) is \(state.azureText ?? "Failed"); creating it again")
            body = AzureGallery(location: location, tags: gallery.tags, description: gallery.description)
        } else {
            var tags = d.build.tags
            tags[.build] = d.name
            body = AzureGallery(location: d.location, tags: tags, description: "created by Kiln for build \(d.name)")
        }
        try ops.context.checkInterruption()
        let operation = try await env.azure.beginCreateGallery(id, body)
        _ = try await ops.recordAndWait(operation, timeout: timeout)
        return body.location ?? d.location
    }

    /// Creates the image definition when it is missing; refuses one the version cannot go into.
    private func ensureDefinition(_ id: ResourceID, galleryName: String, location: String, _ d: DesiredBuild, action: Action,
                                  ops: AzureOperations, timeout: Duration) async throws {
        let generation = try await env.sourceHyperVGeneration(d, action: action)
        var body: AzureGalleryImage
        if let definition = try await env.azure.galleryImage(id) {
            let state = definition.provisioningState
            if state.isInProgress { try await ops.waitForProvisioning(id, timeout: timeout) }
            if let problem = Self.incompatibility(definition, generation: generation) {
                throw ExecutorError(action: action.id, message: "image definition \(id.name) in gallery \(galleryName) cannot hold this build's version: \(problem); "
                    + "point outputs.gallery.imageDefinition at a matching definition (or at a new name, which Kiln creates)"
                    + (problem.contains("hyperVGeneration") ? ", or set disk.hyperVGeneration to the definition's" : ""))
            }
            guard state.isFailed else { return }
            // Failed (e.g. its creation failed in an earlier run): the same definition again,
            // which Azure retries in place.
            ops.context.logger.notice("image definition \(id.name) is \(state.azureText ?? "Failed"); creating it again")
            body = definition
            body.location = definition.location ?? location
        } else {
            var tags = d.build.tags
            tags[.build] = d.name
            body = AzureGalleryImage(location: location, tags: tags, osType: "Linux", osState: "Generalized",
                                     identifier: .init(publisher: "kiln", offer: galleryName, sku: id.name),
                                     hyperVGeneration: generation)
        }
        try ops.context.checkInterruption()
        let operation = try await env.azure.beginCreateGalleryImage(id, body)
        _ = try await ops.recordAndWait(operation, timeout: timeout)
    }

    /// Why an existing definition cannot hold a version of a Linux OS disk of `generation`
    /// (Azure refuses such a version, but only after the disk work), or nil. A definition
    /// without a generation is V1, Azure's default.
    static func incompatibility(_ definition: AzureGalleryImage, generation: String) -> String? {
        var problems: [String] = []
        if let os = definition.osType, os.lowercased() != "linux" {
            problems.append("its osType is \(os), the build's is Linux")
        }
        let theirs = definition.hyperVGeneration ?? HyperVGeneration.v1.rawValue
        if theirs.uppercased() != generation.uppercased() {
            problems.append("its hyperVGeneration is \(theirs), the build's OS disk's is \(generation)")
        }
        return problems.isEmpty ? nil : problems.joined(separator: " and ")
    }
}

/// The build's gallery image version id and its definition's and gallery's.
private func galleryIDs(_ d: DesiredBuild, env: ExecutorEnvironment, action: Action) throws -> (version: ResourceID, definition: ResourceID, gallery: ResourceID) {
    guard let g = d.gallery else {
        throw ExecutorError(action: action.id, message: "the build publishes no gallery version; this is a bug in kiln")
    }
    let versionID = g.id
    guard let definitionID = versionID.parent, let galleryID = definitionID.parent,
          versionID.isType("Microsoft.Compute/galleries/images/versions") else {
        throw ExecutorError(action: action.id, message: "\(g.id) is not a gallery image version id")
    }
    return (versionID, definitionID, galleryID)
}

/// `gallery-version`: publishes the build's snapshots as an Azure Compute Gallery image
/// version tagged with the build's digest, and waits (up to `timeouts.replication`) until
/// Azure reports it provisioned, reporting replication progress per region meanwhile.
///
/// The gallery and image definition are `gallery-definition`'s (a dependency): the version
/// is created in the gallery's region, which that action's outcome carries.
///
/// A version with this digest is adopted; one with another digest is refused (published
/// versions are immutable: bump the version), which the planner reports as a conflict too.
struct GalleryVersionExecutor: ActionExecutor {
    let env: ExecutorEnvironment
    /// How often replication progress is read while waiting.
    var progressInterval: Duration = .seconds(5)

    func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        let d = try env.build(of: action)
        guard let g = d.gallery else {
            throw ExecutorError(action: action.id, message: "the build publishes no gallery version; this is a bug in kiln")
        }
        let (versionID, definitionID, _) = try galleryIDs(d, env: env, action: action)
        let replication = d.build.timeouts.replication.duration
        let ops = AzureOperations(azure: env.azure, context: context)
        let progress = ReplicationProgress(azure: env.azure, versionID: versionID, context: context,
                                           interval: progressInterval)
        let outcome = ActionOutcome(resourceID: versionID, galleryImageVersionID: versionID)

        try await ops.rejoin(fallbackMethod: .put, resource: versionID, timeout: replication, whileWaiting: { try await progress.poll() })
        if let existing = try await env.azure.galleryImageVersion(versionID, replicationStatus: false) {
            let state = existing.provisioningState
            let digest = existing.tags?[.digest]
            guard digest == d.digest.value else {
                let what = digest.map { "with digest \($0.dropFirst(7).prefix(12))" } ?? "and was not made by Kiln"
                throw ExecutorError(action: action.id, message: "gallery version \(g.version) exists \(what), but the manifest builds \(d.digest.short); bump outputs.gallery.version: published gallery versions are immutable")
            }
            if state.isSucceeded { return outcome }
            if state.isInProgress {
                try await ops.waitForProvisioning(versionID, timeout: replication, whileWaiting: { try await progress.poll() })
                return outcome
            }
            context.logger.notice("gallery version \(g.version) is \(state.azureText ?? "in an unknown state"); publishing it again")
        }

        let location = try await galleryLocation(definitionID, d, action: action, context: context)
        try context.checkInterruption()
        let body = try versionBody(d, g, location: location, action: action)
        let operation = try await env.azure.beginCreateGalleryImageVersion(versionID, body)
        _ = try await ops.recordAndWait(operation, timeout: replication, whileWaiting: { try await progress.poll() })
        await progress.reportFinal()
        return outcome
    }

    /// The region to create the version in: the gallery's, as `gallery-definition` found it;
    /// without that result (a plan made by hand), the definition's own (it lives in its
    /// gallery's region), read once.
    private func galleryLocation(_ definitionID: ResourceID, _ d: DesiredBuild, action: Action, context: ExecutionContext) async throws -> String {
        let ensured = ActionID(d.name, .galleryDefinition)
        if let location = context.dependencyResults[ensured]?.location ?? context.buildResults[ensured]?.location {
            return location
        }
        guard let definition = try await env.azure.galleryImage(definitionID) else {
            throw ExecutorError(action: action.id, message: "image definition \(definitionID.name) (\(definitionID)) does not exist; run kiln apply again: its gallery-definition action creates it")
        }
        return definition.location.map(RegionName.normalized) ?? d.location
    }

    func versionBody(_ d: DesiredBuild, _ g: DesiredGalleryVersion, location: String,
                     action: Action) throws -> AzureGalleryImageVersion {
        let os = AzureGalleryImageVersion.Disk(sourceID: d.snapshotID(.os).description,
                                               hostCaching: d.build.disk.cacheType.rawValue)
        let data = try d.roles.compactMap { role -> AzureGalleryImageVersion.Disk? in
            guard case .data(let lun) = role else { return nil }
            let disk = try env.azureDataDisk(d, lun: lun, for: action)
            return AzureGalleryImageVersion.Disk(lun: lun, sourceID: d.snapshotID(role).description,
                                                 hostCaching: disk.cacheType.rawValue)
        }
        return AzureGalleryImageVersion(location: location, tags: d.tags, publishingProfile: galleryPublishingProfile(g),
                                        osDisk: os, dataDisks: data.isEmpty ? nil : data)
    }
}

/// The publishing profile the manifest asks for.
func galleryPublishingProfile(_ g: DesiredGalleryVersion) -> PublishingProfile {
    // No target regions: Azure's default, the gallery's own region.
    PublishingProfile(
        targetRegions: g.targetRegions.isEmpty ? nil
            : g.targetRegions.map {
                .init(name: $0.name, replicas: $0.replicas, storageAccountType: $0.storageAccountType.rawValue)
            },
        excludeFromLatest: g.excludeFromLatest, endOfLifeDate: g.endOfLifeDate)
}

/// Reads a version's replication status (`$expand=ReplicationStatus`) and reports it as
/// the action's progress: the mean percentage, and each region's state.
struct ReplicationProgress: Sendable {
    let azure: any AzureCompute
    let versionID: ResourceID
    let context: ExecutionContext
    let interval: Duration

    /// Polls until cancelled (the wait it runs beside ends) or interrupted.
    func poll() async throws {
        var last = ""
        while true {
            try await context.sleep(for: interval)
            // A failed read only loses one progress line; the wait itself reports errors.
            guard let version = try? await azure.galleryImageVersion(versionID, replicationStatus: true),
                  let status = version.replication else { continue }
            let (percent, detail) = Self.describe(status)
            if detail != last {
                context.reportProgress(percent: percent, detail: detail)
                last = detail
            }
        }
    }

    /// One last reading once the version is provisioned.
    func reportFinal() async {
        guard let version = try? await azure.galleryImageVersion(versionID, replicationStatus: true),
              let status = version.replication else { return }
        let (percent, detail) = Self.describe(status)
        context.reportProgress(percent: percent, detail: detail)
    }

    /// "eastus 100%, westus2 40% (Replicating)" and the mean percentage.
    static func describe(_ status: AzureGalleryImageVersion.Replication) -> (Double?, String) {
        let regions = status.regions ?? []
        guard !regions.isEmpty else { return (nil, "replication \(status.aggregatedState ?? "Unknown")") }
        let parts = regions.map { r -> String in
            let name = r.region.map(RegionName.normalized) ?? "?"
            let state = r.state ?? .unknown
            let pct = r.progress ?? (state == .completed ? 100 : 0)
            return state == .completed || state == .replicating ? "\(name) \(pct)%" : "\(name) \(pct)% (\(state))"
        }
        let total = regions.reduce(0) { $0 + ($1.progress ?? ($1.state == .completed ? 100 : 0)) }
        return (Double(total) / Double(regions.count), parts.joined(separator: ", "))
    }
}

/// `replicate[region]`: waits until the gallery version's replication to one region is
/// Completed, reporting Azure's percentage; fails on `Failed` with Azure's details, and
/// gives up after `timeouts.replication` (replication goes on in Azure; a re-run waits again).
struct ReplicateExecutor: ActionExecutor {
    let env: ExecutorEnvironment
    /// The target region, as the manifest names it.
    let region: String
    var pollInterval: Duration = .seconds(10)

    func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        let d = try env.build(of: action)
        guard let g = d.gallery else {
            throw ExecutorError(action: action.id, message: "replication needs a gallery version; this is a bug in kiln")
        }
        let versionID = g.id
        let timeout = d.build.timeouts.replication.duration
        let elapsed = azureStopwatch(on: context.clock)
        let wanted = RegionName.normalized(region)
        var lastDetail = ""
        while true {
            try context.checkInterruption()
            guard let version = try await env.azure.galleryImageVersion(versionID, replicationStatus: true) else {
                throw ExecutorError(action: action.id, message: "gallery version \(g.version) (\(g.id)) does not exist, so it cannot replicate to \(region); run kiln apply again to publish it")
            }
            let targets = (version.publishingProfile?.targetRegions ?? []).map { RegionName.normalized($0.name) }
            if !targets.isEmpty && !targets.contains(wanted) {
                throw ExecutorError(action: action.id, message: "gallery version \(g.version) does not list \(region) among its target regions (\(targets.joined(separator: ", "))); kiln apply repairs that with update-gallery-version")
            }
            let regions = version.replication?.regions ?? []
            if let status = regions.first(where: { $0.region.map(RegionName.normalized) == wanted }) {
                let state = status.state ?? .unknown
                switch state {
                case .completed:
                    context.reportProgress(percent: 100, detail: "\(wanted) Completed")
                    return ActionOutcome(resourceID: versionID, region: wanted)
                case .failed:
                    let details = status.details.flatMap { $0.isEmpty ? nil : $0 } ?? "no details given"
                    throw ExecutorError(action: action.id, message: "replication of gallery version \(g.version) to \(region) failed: \(details); fix the cause, then remove and re-add the region (or delete the version) and run kiln apply again")
                default:
                    let detail = "\(wanted) \(status.progress.map { "\($0)%" } ?? state.description)"
                    if detail != lastDetail {
                        context.reportProgress(percent: status.progress.map { Double($0) }, detail: detail)
                        lastDetail = detail
                    }
                }
            } else if version.replication == nil, version.provisioningState.isSucceeded, targets.contains(wanted) {
                // No per-region status on offer: a provisioned version has replicated to its targets.
                return ActionOutcome(resourceID: versionID, region: wanted)
            } else if version.provisioningState.isFailed {
                throw ExecutorError(action: action.id, message: "gallery version \(g.version) is \(version.provisioningState), so it will not replicate to \(region); delete it and run kiln apply again")
            }
            if elapsed() + pollInterval > timeout {
                throw ExecutorError(action: action.id, message: "replication of gallery version \(g.version) to \(region) did not complete within \(d.build.timeouts.replication) (last: \(lastDetail.isEmpty ? "no status" : lastDetail)); it goes on in Azure: run kiln apply again to keep waiting, or raise timeouts.replication")
            }
            try await context.sleep(for: pollInterval)
        }
    }
}

/// `update-gallery-version`: repairs a published version's publishing profile in place
/// (target regions, replica counts, storage types, exclude-from-latest, end of life) to
/// what the manifest says, and waits for it (new regions replicate: up to
/// `timeouts.replication`).
struct UpdateGalleryVersionExecutor: ActionExecutor {
    let env: ExecutorEnvironment
    var progressInterval: Duration = .seconds(5)

    func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        let d = try env.build(of: action)
        guard let g = d.gallery else {
            throw ExecutorError(action: action.id, message: "the build publishes no gallery version; this is a bug in kiln")
        }
        let versionID = g.id
        let timeout = d.build.timeouts.replication.duration
        let ops = AzureOperations(azure: env.azure, context: context)
        let progress = ReplicationProgress(azure: env.azure, versionID: versionID, context: context,
                                           interval: progressInterval)
        // A re-joined PATCH that succeeded has done the repair.
        if try await ops.rejoin(fallbackMethod: .patch, resource: versionID, timeout: timeout, whileWaiting: { try await progress.poll() }) {
            return .azure(versionID)
        }
        guard let existing = try await env.azure.galleryImageVersion(versionID, replicationStatus: false) else {
            throw ExecutorError(action: action.id, message: "gallery version \(g.version) (\(g.id)) no longer exists; run kiln plan again to publish it")
        }
        guard existing.tags?[.digest] == d.digest.value else {
            throw ExecutorError(action: action.id, message: "gallery version \(g.version) does not carry this build's digest, so Kiln will not change it; run kiln plan again")
        }
        try context.checkInterruption()
        let operation = try await env.azure.beginUpdatePublishingProfile(versionID, galleryPublishingProfile(g))
        _ = try await ops.recordAndWait(operation, timeout: timeout, whileWaiting: { try await progress.poll() })
        return .azure(versionID)
    }
}
