import Foundation
import Logging
import Model
import Planner
import Providers

/// `snapshot[role]`: a full (not incremental) Standard_LRS snapshot of the role's detached
/// disk, under its deterministic name. Idempotent and re-joinable like `create-disk`.
struct SnapshotExecutor: ActionExecutor {
    let env: ExecutorEnvironment
    let role: DiskRole

    func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        let d = try env.build(of: action)
        let id = d.snapshotID(role)
        let timeout = d.build.timeouts.azureOperation.duration
        let ops = AzureOperations(arm: env.arm, context: context)

        try await ops.rejoin(fallbackMethod: .put, resource: id, timeout: timeout)
        if let existing = try await env.arm.getSnapshot(id) {
            let state = existing.properties?.provisioningState
            if AzureState.succeeded(state) { return .azure(id) }
            if AzureState.inProgress(state) {
                try await ops.waitForProvisioning(id, timeout: timeout)
                return .azure(id)
            }
            context.logger.notice("snapshot \(id.name) is \(state ?? "in an unknown state"); creating it again")
        }
        try context.checkInterruption()
        var tags = d.tags
        tags[.role] = role.description
        // Full copies: an incremental snapshot needs its base kept, and images and gallery
        // versions read full snapshots faster.
        let body = ArmSnapshot(location: d.location, tags: tags, sku: ArmSku(name: StorageAccountType.standardLRS.rawValue),
                               properties: .init(creationData: ArmCreationData(createOption: "Copy", sourceResourceId: d.diskID(role).description), incremental: false))
        let operation = try await env.arm.beginCreateSnapshot(id, body)
        _ = try await ops.recordAndWait(operation, timeout: timeout)
        return .azure(id)
    }
}
