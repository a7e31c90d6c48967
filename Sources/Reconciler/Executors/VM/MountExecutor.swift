import Foundation
import Model
import Planner
import Providers

/// `mount`: mounts the image's root filesystem at the build's mount path, then the data
/// disks that have a `mountPath` inside it.
///
/// The root is `mount.lvmRootDevice` when set, else `mount.partition` of the OS disk
/// (`whole`: the disk itself), mounted with `mount.options`; `mount.manualMountCommand`,
/// when set, replaces Kiln's mount of the root (rendered with `{{.Device}}` and
/// `{{.MountPath}}`, run through the command runner) and must leave something mounted there.
///
/// Idempotent: a mount that the mount table already shows with the right source is kept
/// (a resume after a crash); another filesystem at one of the paths is an error, never
/// mounted over. Result: `mountPath` and `device` (the root's source).
public struct MountExecutor: ActionExecutor {
    public let env: ExecutorEnvironment

    public init(env: ExecutorEnvironment) {
        self.env = env
    }

    public func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        let d = try env.build(of: action)
        let disks = VMDisks(env: env)
        let mounts = env.local.mounts
        let root = disks.root(d)
        let osDevice = try await disks.device(.os, of: d, context: context)
        let source: String

        if let manual = d.build.mount.manualMountCommand {
            if let entry = try await mounts.mountTable().entry(at: root) {
                // Kiln cannot know what the user's command mounts (LVM, overlays…): whatever
                // it left at the root counts.
                source = entry.source
            } else {
                try await mounts.makeDirectory(root)
                let command = try env.renderCommand(manual, d, device: osDevice.path, mountPath: root)
                context.reportProgress(detail: command)
                let (_, variables) = try await disks.hostEnvironment(d, context: context, mountPath: root)
                try await env.local.runner.runChecked(
                    CommandSpec(command, environment: variables, timeout: d.build.timeouts.provisionStep.duration))
                guard let entry = try await mounts.mountTable().entry(at: root) else {
                    throw ExecutorError(
                        action: action.id,
                        message:
                            "mount.manualMountCommand `\(command)` succeeded but nothing is mounted at \(root); make it mount the root filesystem at {{.MountPath}}"
                    )
                }
                source = entry.source
            }
        } else {
            if let lvm = d.build.mount.lvmRootDevice {
                source = lvm
            } else {
                source = try await disks.partition(d.build.mount.partition, of: osDevice, d)
            }
            try await mountOnce(
                MountRequest(
                    source: source, target: root, kind: .filesystem(type: nil), options: d.build.mount.options),
                action: action, context: context)
        }

        for data in d.build.disk.dataDisks.sorted(by: { $0.lun < $1.lun }) {
            guard let inner = data.mountPath else { continue }
            try context.checkInterruption()
            let device = try await disks.device(.data(lun: data.lun), of: d, context: context)
            let partition = try await disks.partition(data.partition, of: device, d)
            try await mountOnce(
                MountRequest(source: partition, target: imagePath(inner, root: root), kind: .filesystem(type: nil)),
                action: action, context: context)
        }
        return ActionOutcome(device: source, mountPath: root)
    }

    /// Mounts `request` unless the table already shows its source at its target.
    private func mountOnce(_ request: MountRequest, action: Action, context: ExecutionContext) async throws {
        if let entry = try await env.local.mounts.mountTable().entry(at: request.target) {
            guard entry.source == request.source else {
                throw ExecutorError(
                    action: action.id,
                    message:
                        "\(request.target) already has \(entry.source) (\(entry.fsType)) mounted, not \(request.source); unmount it (umount \(shellQuote(request.target))) or choose another mount.path, then run kiln apply again"
                )
            }
            return
        }
        context.reportProgress(detail: request.commandLine)
        try await env.local.mounts.mount(request)
    }
}
