import Foundation
import Model
import Planner
import Providers

/// `delete-snapshot[role]`: deletes the build's temporary snapshot and waits; a missing one
/// is already deleted. Only a snapshot carrying this build's `kiln:build` tag is deleted.
struct DeleteSnapshotExecutor: ActionExecutor {
    let env: ExecutorEnvironment
    let role: DiskRole

    func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        let d = try env.build(of: action)
        let id = d.snapshotID(role)
        let timeout = d.build.timeouts.azureOperation.duration
        let ops = AzureOperations(azure: env.azure, context: context)
        try await ops.rejoin(fallbackMethod: .delete, resource: id, timeout: timeout)
        try await TemporaryResources(env: env, ops: ops, action: action, build: d).deleteSnapshot(id, timeout: timeout)
        return .none
    }
}
