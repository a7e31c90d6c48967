import Foundation
import Model
import Planner
import Providers

/// What the VM-side executors share: which disk an action is about, where it is attached,
/// its device now, and whether the image root is mounted.
struct VMDisks {
    let env: ExecutorEnvironment

    /// The disk's LUN on the builder VM: from the attach result (this run or an earlier one),
    /// else from the VM's data disks as Azure lists them (a reboot keeps the attachment).
    func builderLUN(_ role: DiskRole, of d: DesiredBuild, context: ExecutionContext) async throws -> Int {
        let attach = ActionID(d.name, .attach(role))
        if let lun = context.buildResults[attach]?.lun { return lun }
        let diskID = d.diskID(role)
        let dataDisks = try await env.azure.dataDisks(of: env.vm.id) ?? []
        let attached = dataDisks.first { disk in !disk.toBeDetached && disk.isDisk(diskID) }
        guard let attached else {
            throw ExecutorError(
                action: context.action.id,
                message:
                    "disk \(d.diskName(role)) is not attached to the builder VM \(env.vm.id.name); run kiln plan to see what is missing, then kiln apply to attach it"
            )
        }
        return attached.lun
    }

    /// The disk's block device now, waiting for it up to the build's device timeout.
    func device(_ role: DiskRole, of d: DesiredBuild, context: ExecutionContext) async throws -> AttachedBlockDevice {
        let lun = try await builderLUN(role, of: d, context: context)
        return try await env.local.devices.waitForDevice(lun: lun, timeout: d.build.timeouts.deviceWait.duration)
    }

    /// The path of `partition` of `device` (the whole device for `.whole`).
    func partition(_ partition: Partition, of device: AttachedBlockDevice, _ d: DesiredBuild) async throws -> String {
        switch partition {
        case .whole: device.path
        case .number(let n):
            try await env.local.devices.waitForPartition(n, of: device, timeout: d.build.timeouts.deviceWait.duration)
        }
    }

    /// The variables every host command of a build gets: the OS disk's device, each data
    /// disk's device by its image LUN, the build's name and (once mounted) the mount path.
    func hostEnvironment(_ d: DesiredBuild, context: ExecutionContext, mountPath: String?) async throws -> (
        os: String, variables: [String: String]
    ) {
        var variables = ["KILN_BUILD": d.name]
        var os = ""
        for role in d.roles {
            let device = try await device(role, of: d, context: context).path
            switch role {
            case .os:
                os = device
                variables["KILN_DEVICE"] = device
                variables["KILN_PARTITION_PREFIX"] = PartitionNaming.prefix(of: device)
            case .data(let lun):
                variables["KILN_DATA_DEVICE_\(lun)"] = device
            }
        }
        if let mountPath { variables["KILN_MOUNT_PATH"] = mountPath }
        return (os, variables)
    }

    /// The build's mount point with symlinks resolved: the mount table shows resolved paths.
    func root(_ d: DesiredBuild) -> String {
        canonicalPath(env.mountPath(d))
    }

    /// The image root's mount entry; throws when nothing is mounted there, so that no step
    /// runs in (or restores files into) the empty directory under it.
    @discardableResult
    func requireMountedRoot(_ d: DesiredBuild, context: ExecutionContext) async throws -> MountEntry {
        let root = root(d)
        guard let entry = try await env.local.mounts.mountTable().entry(at: root) else {
            throw ExecutorError(
                action: context.action.id,
                message:
                    "the image root is not mounted at \(root) (a reboot unmounts it); run kiln apply again, which mounts it before going on"
            )
        }
        return entry
    }
}

/// `path` with symlinks of its existing part resolved and without a trailing slash.
func canonicalPath(_ path: String) -> String {
    let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
    return resolved.count > 1 && resolved.hasSuffix("/") ? String(resolved.dropLast()) : resolved
}

/// `inner` (absolute, inside the image) under the host path `root`.
func imagePath(_ inner: String, root: String) -> String {
    let trimmed = inner.hasPrefix("/") ? String(inner.dropFirst()) : inner
    if trimmed.isEmpty { return root }
    return root == "/" ? "/" + trimmed : root + "/" + trimmed
}

/// The URL string to journal for an Azure operation Kiln started.
func journaledURL(_ handle: OperationHandle) -> String {
    (handle.asyncOperationURL ?? handle.locationURL ?? handle.resourceURL).absoluteString
}
