import Foundation
import Model
import Planner
import Providers

/// `release-leftover[name]`: a temporary disk or snapshot of this build from another run
/// (found by Kiln's tags; the action's `resource` is its id). A disk attached to the
/// builder VM is detached first — unmounted before that when it is the root mounted at the
/// build's own mount path; refused while its device is mounted anywhere else — then it is
/// deleted.
struct ReleaseLeftoverExecutor: ActionExecutor {
    let env: ExecutorEnvironment

    func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        let d = try env.build(of: action)
        let id = try env.azureResource(of: action)
        let timeout = d.build.timeouts.azureOperation.duration
        let ops = AzureOperations(azure: env.azure, context: context)
        let isDisk = id.isType("Microsoft.Compute/disks")
        guard isDisk || id.isType("Microsoft.Compute/snapshots") else {
            throw ExecutorError(
                action: action.id,
                message:
                    "\(id) is neither a disk nor a snapshot; Kiln only releases its own temporary disks and snapshots")
        }
        // The journaled operation may be the detach (POST on the VM) or the delete.
        try await ops.rejoin(fallbackMethod: .delete, resource: id, timeout: timeout)
        let temporary = TemporaryResources(env: env, ops: ops, action: action, build: d)
        guard isDisk else {
            try await temporary.deleteSnapshot(id, timeout: timeout)
            return .none
        }
        guard var disk = try await env.azure.disk(id) else { return .none }
        try temporary.requireOwned(id, tags: disk.tags)
        if let vm = disk.attachedTo {
            guard let vmID = try? ResourceID(parsing: vm), vmID == env.vm.id else {
                throw ExecutorError(
                    action: action.id,
                    message:
                        "leftover disk \(id.name) is attached to another VM (\(vm)), not this builder VM; detach it there, then run kiln apply again"
                )
            }
            try context.checkInterruption()
            try await unmountIfMountedAtTheBuildsPath(id, d, context: context)
            do {
                try await env.disks.detach(
                    id, timeout: timeout, deviceTimeout: d.build.timeouts.deviceWait.duration,
                    onStarted: { handle in try await ops.record(handle) })
            } catch let error as BuilderDiskError {
                throw ExecutorError(
                    action: action.id,
                    message:
                        "leftover disk \(id.name) from an earlier run is still in use on this VM: \(error.description)")
            }
            guard let detached = try await env.azure.disk(id) else { return .none }
            disk = detached
            if let still = disk.attachedTo {
                throw ExecutorError(
                    action: action.id,
                    message:
                        "leftover disk \(id.name) still reads as attached to \(still) after the detach; run kiln apply again"
                )
            }
        }
        try await temporary.deleteDisk(id, disk, timeout: timeout)
        return .none
    }
}

extension ReleaseLeftoverExecutor {
    /// A leftover disk whose device is the root mounted at the build's own mount path (a
    /// failed run kept for a resume, then the manifest changed): everything under that path
    /// is unmounted (verified) so the disk can be detached. The current run's disk is never
    /// mounted there yet (its attach waits for every release), and any other mount at the
    /// path is left alone: then the detach refuses with its own message.
    func unmountIfMountedAtTheBuildsPath(_ id: ResourceID, _ d: DesiredBuild, context: ExecutionContext) async throws {
        let root = canonicalPath(d.mountPath)
        guard let entry = try await env.local.mounts.mountTable().entry(at: root) else { return }
        let lun = (try await env.azure.dataDisks(of: env.vm.id) ?? []).first { $0.isDisk(id) }?.lun
        guard let lun, let device = try await env.local.devices.device(lun: lun),
            PartitionNaming.isOnDevice(entry.source, device.path)
        else { return }
        context.reportProgress(detail: "\(id.name) is mounted at \(root): unmounting everything under it first")
        try await env.local.mounts.unmountAll(under: root)
    }
}
