import Foundation
import Model
import Planner
import Providers

/// Deleting Kiln's temporary disks and snapshots, with the ownership check every deletion
/// makes: Kiln never deletes what it did not create.
struct TemporaryResources {
    let env: ExecutorEnvironment
    let ops: AzureOperations
    let action: Action
    let build: DesiredBuild

    /// Throws unless the tags say Kiln made the resource for this build.
    func requireOwned(_ id: ResourceID, tags: [String: String]?) throws {
        guard tags?[.build] == build.name else {
            let found = tags?[.build].map { "its kiln:build tag says \($0)" } ?? "it has no kiln:build tag"
            throw ExecutorError(
                action: action.id,
                message:
                    "refusing to delete \(id.name): \(found), not build \(build.name), so Kiln did not create it for this build; delete it yourself if it is no longer needed"
            )
        }
    }

    func deleteSnapshot(_ id: ResourceID, timeout: Duration) async throws {
        guard let snapshot = try await env.azure.snapshot(id) else { return }
        try requireOwned(id, tags: snapshot.tags)
        try ops.context.checkInterruption()
        try await ops.recordAndWait(env.azure.beginDeleteSnapshot(id), timeout: timeout)
    }

    func deleteDisk(_ id: ResourceID, _ disk: AzureDisk, timeout: Duration) async throws {
        try requireOwned(id, tags: disk.tags)
        try ops.context.checkInterruption()
        try await ops.recordAndWait(env.azure.beginDeleteDisk(id), timeout: timeout)
    }
}
