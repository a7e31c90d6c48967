import Foundation
import Model
import Planner
import Providers

/// `attach[role]`: attaches the role's disk to the builder VM (or adopts the attachment a
/// crashed run left) and waits for its block device.
///
/// Result: `lun` (on the builder VM) and `device`. Throws `ArmError` for Azure's refusal
/// (e.g. no free LUN) and `BlockDeviceError` when the device does not appear in time.
public struct AttachExecutor: ActionExecutor {
    public let env: ExecutorEnvironment
    /// The disk it works on.
    public let role: DiskRole

    public init(env: ExecutorEnvironment, role: DiskRole) {
        self.env = env
        self.role = role
    }

    public func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        let d = try env.build(of: action)
        let disk = d.diskID(role)
        try context.checkInterruption()
        // An attach that a killed run started is adopted by BuilderDisks (the VM lists the
        // disk), so there is no operation to re-join here; the URL is journaled all the same.
        let device = try await env.disks.attach(
            disk, timeout: d.build.timeouts.azureOperation.duration,
            deviceTimeout: d.build.timeouts.deviceWait.duration,
            onStarted: { handle in try await context.recordOperation(journaledURL(handle)) })
        context.reportProgress(detail: "\(d.diskName(role)) at LUN \(device.lun): \(device.path)")
        return ActionOutcome(device: device.path, lun: device.lun)
    }
}
