import Foundation
import Logging
import Model
import Planner
import Providers

/// `gallery-version`: publishes the build's disks as an Azure Compute Gallery image version
/// tagged with the build's digest, and waits (up to `timeouts.replication`) until Azure
/// reports it provisioned — which is once every target region has replicated. Progress is
/// what the operation's own polls report (`percentComplete`, when Azure gives one): no
/// extra reads of the version while it replicates.
///
/// The gallery and image definition are `gallery-definition`'s (a dependency): the version
/// is created in the gallery's region, which that action's outcome carries.
///
/// A version with this digest is adopted; one with another digest is refused (published
/// versions are immutable: bump the version), which the planner reports as a conflict too.
struct GalleryVersionExecutor: ActionExecutor {
    let env: ExecutorEnvironment

    func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        let d = try env.build(of: action)
        let g = try desiredGalleryVersion(d, action: action)
        let (versionID, definitionID, _) = try galleryIDs(d, env: env, action: action)
        let replication = d.build.timeouts.replication.duration
        let ops = AzureOperations(azure: env.azure, context: context)
        let progress = ReplicationProgress.reporter(g, context: context)
        let outcome = ActionOutcome(resourceID: versionID, galleryImageVersionID: versionID)
        let replicated = outcome.replicated(to: g)

        if try await ops.rejoin(fallbackMethod: .put, resource: versionID, timeout: replication, progress: progress) {
            return replicated
        }
        if let existing = try await ops.existing({
            try await env.azure.galleryImageVersion(versionID, replicationStatus: false)
        }) {
            let state = existing.provisioningState
            let digest = existing.tags?[.digest]
            guard digest == d.digest.value else {
                let what = digest.map { "with digest \($0.dropFirst(7).prefix(12))" } ?? "and was not made by Kiln"
                throw ExecutorError(
                    action: action.id,
                    message:
                        "gallery version \(g.version) exists \(what), but the manifest builds \(d.digest.short); bump outputs.gallery.version: published gallery versions are immutable"
                )
            }
            if state.isSucceeded { return outcome }
            if state.isInProgress {
                try await ops.waitForProvisioning(versionID, timeout: replication, progress: progress)
                return replicated
            }
            context.logger.notice(
                "gallery version \(g.version) is \(state.azureText ?? "in an unknown state"); publishing it again")
        }

        let location = try await galleryLocation(definitionID, d, action: action, context: context)
        try context.checkInterruption()
        let body = try versionBody(d, g, location: location, action: action)
        let operation = try await env.azure.beginCreateGalleryImageVersion(versionID, body)
        _ = try await ops.recordAndWait(operation, timeout: replication, progress: progress)
        return replicated
    }

    /// The region to create the version in: the gallery's, as `gallery-definition` found it;
    /// without that result (a plan made by hand), the definition's own (it lives in its
    /// gallery's region), read once.
    private func galleryLocation(
        _ definitionID: ResourceID, _ d: DesiredBuild, action: Action, context: ExecutionContext
    ) async throws -> String {
        let ensured = ActionID(d.name, .galleryDefinition)
        if let location = context.dependencyResults[ensured]?.location ?? context.buildResults[ensured]?.location {
            return location
        }
        guard let definition = try await env.azure.galleryImage(definitionID) else {
            throw ExecutorError(
                action: action.id,
                message:
                    "image definition \(definitionID.name) (\(definitionID)) does not exist; run kiln apply again: its gallery-definition action creates it"
            )
        }
        return definition.location.map(RegionName.normalized) ?? d.location
    }

    func versionBody(
        _ d: DesiredBuild, _ g: DesiredGalleryVersion, location: String,
        action: Action
    ) throws -> AzureGalleryImageVersion {
        let os = AzureGalleryImageVersion.Disk(
            sourceID: d.diskID(.os).description,
            hostCaching: d.build.disk.cacheType.rawValue)
        let data = try d.roles.compactMap { role -> AzureGalleryImageVersion.Disk? in
            guard case .data(let lun) = role else { return nil }
            let disk = try env.azureDataDisk(d, lun: lun, for: action)
            return AzureGalleryImageVersion.Disk(
                lun: lun, sourceID: d.diskID(role).description,
                hostCaching: disk.cacheType.rawValue)
        }
        return AzureGalleryImageVersion(
            location: location, tags: d.tags, publishingProfile: galleryPublishingProfile(d),
            osDisk: os, dataDisks: data.isEmpty ? nil : data)
    }
}
