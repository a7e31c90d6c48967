import Foundation
import Model
import Planner
import Providers

/// `device[role]`: waits for the block device of the role's disk (at the LUN its attach
/// gave, or that the VM lists after a reboot).
///
/// Result: `device`, and `lun`. Throws `BlockDeviceError` when it does not appear in
/// the build's `deviceWait`.
public struct DeviceExecutor: ActionExecutor {
    public let env: ExecutorEnvironment
    /// The disk it works on.
    public let role: DiskRole

    public init(env: ExecutorEnvironment, role: DiskRole) {
        self.env = env
        self.role = role
    }

    public func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        let d = try env.build(of: action)
        let disks = VMDisks(env: env)
        let lun = try await disks.builderLUN(role, of: d, context: context)
        let device = try await env.local.devices.waitForDevice(lun: lun, timeout: d.build.timeouts.deviceWait.duration)
        return ActionOutcome(device: device.path, lun: lun)
    }
}
