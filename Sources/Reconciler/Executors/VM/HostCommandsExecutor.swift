import Foundation
import Logging
import Model
import Planner
import Providers

/// `pre-mount`, `post-mount` and `pre-unmount`: the manifest's host commands of that phase,
/// one after another through the environment's command runner (which applies the
/// manifest's command wrapper).
///
/// Each command is rendered with every substituted value shell-quoted: `{{.Device}}` is the
/// OS disk's device (e.g. `/dev/sdc`, so `mkfs.ext4 {{.Device}}1` works as in Packer) and,
/// after the mount, `{{.MountPath}}` the root's mount point. The environment adds
/// `KILN_DEVICE`, `KILN_PARTITION_PREFIX` (the OS device's partition name without the
/// number: `/dev/sdc`, `/dev/loop0p`), `KILN_DATA_DEVICE_<LUN>` (by the image's LUN),
/// `KILN_BUILD` and, after
/// the mount, `KILN_MOUNT_PATH`. Each command may run for the build's provision-step
/// timeout. Throws `CommandRunnerError` (with the command and its last output lines) for
/// the first command that fails; later commands do not run.
public struct HostCommandsExecutor: ActionExecutor {
    /// Which of the manifest's host command lists to run.
    public enum Phase: Sendable {
        case preMount, postMount, preUnmount

        func commands(_ mount: MountSettings) -> [String] {
            switch self {
            case .preMount: mount.preMountCommands
            case .postMount: mount.postMountCommands
            case .preUnmount: mount.preUnmountCommands
            }
        }
    }

    public let env: ExecutorEnvironment
    public let phase: Phase

    public init(env: ExecutorEnvironment, phase: Phase) {
        self.env = env
        self.phase = phase
    }

    public func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        let d = try env.build(of: action)
        let commands = phase.commands(d.build.mount)
        guard !commands.isEmpty else { return .none }
        let disks = VMDisks(env: env)
        let mountPath = phase == .preMount ? nil : disks.root(d)
        let (device, variables) = try await disks.hostEnvironment(d, context: context, mountPath: mountPath)
        let mask = SecretMask(templates: commands, environment: env.processEnvironment)
        for (index, text) in commands.enumerated() {
            try context.checkInterruption()
            let command = try env.renderCommand(text, d, device: device, mountPath: mountPath)
            context.reportProgress(
                percent: Double(index) * 100 / Double(commands.count),
                detail: mask.apply("[\(index + 1)/\(commands.count)] \(command)"))
            // Streamed into the events as they come, like a provisioning step's output.
            let spec = CommandSpec(command, environment: variables, timeout: d.build.timeouts.provisionStep.duration)
            try await context.streamingOutput(mask: mask) { output in
                try await env.local.runner.runChecked(spec, output: output)
            }
        }
        return .none
    }
}
