import Foundation
import Model
import Planner
import Providers

/// `delete-image` and `delete-gallery-version` (`kiln destroy --outputs`): deletes the
/// output named by the action's resource and waits; a missing one is already deleted.
/// Refuses one without Kiln's `kiln:digest` tag, or whose `kiln:build` tag names another
/// build: Kiln never deletes what it did not create.
struct DeleteOutputExecutor: ActionExecutor {
    enum Output { case image, galleryVersion }

    let env: ExecutorEnvironment
    let output: Output

    func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        let d = try env.build(of: action)
        let id = try env.azureResource(of: action)
        let timeout = d.build.timeouts.azureOperation.duration
        let ops = AzureOperations(azure: env.azure, context: context)
        let tags: [String: String]?
        switch output {
        case .image:
            guard let image = try await env.azure.image(id) else { return .none }
            tags = image.tags
        case .galleryVersion:
            guard let version = try await env.azure.galleryImageVersion(id, replicationStatus: false) else {
                return .none
            }
            tags = version.tags
        }
        guard tags?[.digest] != nil else {
            throw ExecutorError(
                action: action.id,
                message:
                    "refusing to delete \(id.name): it has no kiln:digest tag, so Kiln did not make it; delete it yourself if it is no longer needed"
            )
        }
        if let owner = tags?[.build], owner != d.name {
            throw ExecutorError(
                action: action.id,
                message: "refusing to delete \(id.name): its kiln:build tag says \(owner), not build \(d.name)")
        }
        try context.checkInterruption()
        switch output {
        case .image: try await ops.recordAndWait(env.azure.beginDeleteImage(id), timeout: timeout)
        case .galleryVersion:
            try await ops.recordAndWait(env.azure.beginDeleteGalleryImageVersion(id), timeout: timeout)
        }
        return .none
    }
}
