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
            throw ExecutorError(action: action.id, message: "disk \(id.name) is still attached to \(vm.split(separator: "/").last.map(String.init) ?? vm) (\(disk.diskState ?? "Attached")); refusing to delete it: run kiln apply again so that it is unmounted and detached first, or detach it yourself")
        }
        try await temporary.deleteDisk(id, disk, timeout: timeout)
        return .none
    }
}

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
            throw ExecutorError(action: action.id, message: "\(id) is neither a disk nor a snapshot; Kiln only releases its own temporary disks and snapshots")
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
                throw ExecutorError(action: action.id, message: "leftover disk \(id.name) is attached to another VM (\(vm)), not this builder VM; detach it there, then run kiln apply again")
            }
            try context.checkInterruption()
            try await unmountIfMountedAtTheBuildsPath(id, d, context: context)
            do {
                try await env.disks.detach(id, timeout: timeout, deviceTimeout: d.build.timeouts.deviceWait.duration,
                                           onStarted: { handle in try await ops.record(handle) })
            } catch let error as BuilderDiskError {
                throw ExecutorError(action: action.id, message: "leftover disk \(id.name) from an earlier run is still in use on this VM: \(error.description)")
            }
            guard let detached = try await env.azure.disk(id) else { return .none }
            disk = detached
            if let still = disk.attachedTo {
                throw ExecutorError(action: action.id, message: "leftover disk \(id.name) still reads as attached to \(still) after the detach; run kiln apply again")
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
        guard let lun, let device = try await env.local.devices.device(lun: lun), PartitionNaming.isOnDevice(entry.source, device.path) else { return }
        context.reportProgress(detail: "\(id.name) is mounted at \(root): unmounting everything under it first")
        try await env.local.mounts.unmountAll(under: root)
    }
}

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
            throw ExecutorError(action: action.id, message: "refusing to delete \(id.name): \(found), not build \(build.name), so Kiln did not create it for this build; delete it yourself if it is no longer needed")
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
