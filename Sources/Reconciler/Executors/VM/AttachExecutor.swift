import Foundation
import Model
import Planner
import Providers

/// `attach[role]`: attaches the role's disk to the builder VM (or adopts the attachment a
/// crashed run left, once the operation that run started has succeeded; after one that
/// failed, it attaches afresh) and waits for its block device.
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
        // An attach a killed run started: Azure lists the disk on the VM while it runs, so
        // its end is what tells whether it holds. Once it has succeeded, BuilderDisks adopts
        // the attachment below; had it failed (Azure's reason is shown), it attaches afresh.
        try await AzureOperations(azure: env.azure, context: context).rejoin(
            fallbackMethod: .post, resource: env.vm.id, timeout: d.build.timeouts.azureOperation.duration)
        let device = try await env.disks.attach(
            disk, timeout: d.build.timeouts.azureOperation.duration,
            deviceTimeout: d.build.timeouts.deviceWait.duration,
            onStarted: { handle in try await context.recordOperation(journaledURL(handle)) })
        context.reportProgress(detail: "\(d.diskName(role)) at LUN \(device.lun): \(device.path)")
        return ActionOutcome(device: device.path, lun: device.lun)
    }
}
