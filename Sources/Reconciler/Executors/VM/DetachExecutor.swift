import Foundation
import Model
import Planner
import Providers

/// `detach[role]`: detaches the role's disk from the builder VM; nothing happens when it is
/// not attached. `BuilderDisks` refuses (`BuilderDiskError.stillInUse`) while anything on
/// the device is mounted, and waits for the device to go.
public struct DetachExecutor: ActionExecutor {
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
        let detached = try await env.disks.detach(
            disk, timeout: d.build.timeouts.azureOperation.duration,
            deviceTimeout: d.build.timeouts.deviceWait.duration,
            onStarted: { handle in try await context.recordOperation(journaledURL(handle)) })
        // A detach this run saw succeed has released the disk (Azure clears `managedBy` as
        // the operation ends); only one it found already out of the VM's list is waited for.
        if !detached {
            try await waitUntilReleased(
                disk, by: env.vm.id, action: action, timeout: d.build.timeouts.azureOperation.duration,
                clock: context.clock)
        }
        return .none
    }

    /// Waits until the disk no longer names `vm` as its owner. A detach that a killed run
    /// started leaves the disk out of the VM's list (so `detach` above had nothing to do)
    /// while Azure still finishes it; what follows must not start before it has.
    func waitUntilReleased(
        _ disk: ResourceID, by vm: ResourceID, action: Action, timeout: Duration,
        clock: any Clock<Duration>
    ) async throws {
        let elapsed = azureStopwatch(on: clock)
        try await Waiting.for("Azure to release disk \(disk.name) from VM \(vm.name)") { note in
            while let owner = try await env.azure.disk(disk)?.managedBy, !owner.isEmpty,
                (try? ResourceID(parsing: owner)) == vm
            {
                note.seen("managedBy still names \(vm.name)")
                guard elapsed() < timeout else {
                    throw ExecutorError(
                        action: action.id,
                        message:
                            "disk \(disk.name) still names VM \(vm.name) as its owner \(timeout) after its detach; run kiln apply again once Azure has finished detaching it"
                    )
                }
                try await clock.sleep(for: .seconds(1))
            }
        }
    }
}
