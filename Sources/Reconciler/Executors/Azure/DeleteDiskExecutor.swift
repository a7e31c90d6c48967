import Foundation
import Model
import Planner
import Providers

/// `delete-disk[role]`: deletes the build's temporary disk and waits; a missing one is
/// already deleted. Refuses a disk that is still attached to a VM (detach comes first in
/// the plan, so that means something is wrong) and one not tagged for this build.
struct DeleteDiskExecutor: ActionExecutor {
    let env: ExecutorEnvironment
    let role: DiskRole

    func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        let d = try env.build(of: action)
        let id = d.diskID(role)
        let timeout = d.build.timeouts.azureOperation.duration
        let ops = AzureOperations(azure: env.azure, context: context)
        try await ops.rejoin(fallbackMethod: .delete, resource: id, timeout: timeout)
        let temporary = TemporaryResources(env: env, ops: ops, action: action, build: d)
        guard let disk = try await env.azure.disk(id) else { return .none }
        if let vm = disk.attachedTo {
            throw ExecutorError(
                action: action.id,
                message:
                    "disk \(id.name) is still attached to \(vm.split(separator: "/").last.map(String.init) ?? vm) (\(disk.diskState ?? "Attached")); refusing to delete it: run kiln apply again so that it is unmounted and detached first, or detach it yourself"
            )
        }
        try await temporary.deleteDisk(id, disk, timeout: timeout)
        return .none
    }
}
