import Foundation
import Logging
import Model
import Planner
import Providers

/// `take-over[role]` (remote state): the role's disk is attached to another VM, which left it
/// there when it stopped holding the build's lease (it died, or lost the lease). Detaches it
/// from that VM by an update of that VM's data disks, so that `attach` can attach it here.
/// Needs the right to update that VM (docs/fleet.md lists the role).
///
/// The dead VM's mounts went with it; a VM that only lost its lease is refused further
/// journal writes, and its kiln stops at its next action.
public struct TakeOverExecutor: ActionExecutor {
    public let env: ExecutorEnvironment
    public let role: DiskRole

    public init(env: ExecutorEnvironment, role: DiskRole) {
        self.env = env
        self.role = role
    }

    public func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        let d = try env.build(of: action)
        let disk = d.diskID(role)
        let timeout = d.build.timeouts.azureOperation.duration
        let ops = AzureOperations(azure: env.azure, context: context)
        _ = try await ops.rejoin(fallbackMethod: .post, resource: disk, timeout: timeout)
        guard let found = try await env.azure.disk(disk), let owner = found.managedBy, !owner.isEmpty,
            let vm = try? ResourceID(parsing: owner), vm != env.vm.id
        else { return .none }
        try TemporaryResources(env: env, ops: ops, action: action, build: d).requireOwned(disk, tags: found.tags)
        try context.checkInterruption()
        context.logger.info("taking disk \(disk.name) over from VM \(vm.name)")
        _ = try await env.azure.updateDataDisks(
            [.detach(disk)], on: vm, maxDataDisks: VMSizeLimits.maxDataDisks(forSize: nil), lock: InProcessLUNLock(),
            timeout: timeout, ensureNotInUse: { _, _ in },
            onStarted: { handle in try await context.recordOperation(journaledURL(handle)) })
        try await DetachExecutor(env: env, role: role).waitUntilReleased(
            disk, by: vm, action: action, timeout: timeout, clock: context.clock)
        return .none
    }
}
