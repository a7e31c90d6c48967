import Foundation
import Logging
import Model
import Planner
import Providers

/// `update-gallery-version`: repairs a published version's publishing profile in place
/// (target regions, replica counts, storage types, exclude-from-latest, end of life) to
/// what the manifest says, and waits for it (new regions replicate: up to
/// `timeouts.replication`).
struct UpdateGalleryVersionExecutor: ActionExecutor {
    let env: ExecutorEnvironment

    func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        let d = try env.build(of: action)
        let g = try desiredGalleryVersion(d, action: action)
        let versionID = g.id
        let timeout = d.build.timeouts.replication.duration
        let ops = AzureOperations(azure: env.azure, context: context)
        let progress = ReplicationProgress.reporter(g, context: context)
        let replicated = ActionOutcome.azure(versionID).replicated(to: g)
        // A re-joined PATCH that succeeded has done the repair.
        if try await ops.rejoin(fallbackMethod: .patch, resource: versionID, timeout: timeout, progress: progress) {
            return replicated
        }
        guard let existing = try await env.azure.galleryImageVersion(versionID, replicationStatus: false) else {
            throw ExecutorError(
                action: action.id,
                message: "gallery version \(g.version) (\(g.id)) no longer exists; run kiln plan again to publish it")
        }
        guard existing.tags?[.digest] == d.digest.value else {
            throw ExecutorError(
                action: action.id,
                message:
                    "gallery version \(g.version) does not carry this build's digest, so Kiln will not change it; run kiln plan again"
            )
        }
        try context.checkInterruption()
        let profile = galleryPublishingProfile(d) ?? PublishingProfile(targetRegions: nil)
        let operation = try await env.azure.beginUpdatePublishingProfile(versionID, profile)
        _ = try await ops.recordAndWait(operation, timeout: timeout, progress: progress)
        return replicated
    }
}
