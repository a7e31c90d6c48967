import Foundation
import Model
import Planner
import Providers

/// `unmount`: everything at or under the build's mount path, deepest first, verified
/// (`MountError.stillMounted` names what is left and why); then each of the build's devices
/// is flushed, since the outputs are made from the disks right after, while still attached.
/// The emulation provisioning registered for an image of another architecture goes too.
public struct UnmountExecutor: ActionExecutor {
    public let env: ExecutorEnvironment

    public init(env: ExecutorEnvironment) {
        self.env = env
    }

    public func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        let d = try env.build(of: action)
        let root = VMDisks(env: env).root(d)
        try context.checkInterruption()
        let unmounted = try await env.local.mounts.unmountAll(under: root)
        if !unmounted.isEmpty { context.reportProgress(detail: "unmounted \(unmounted.count) mount(s) under \(root)") }
        if let architecture = d.imageTraits?.architecture, architecture != env.local.emulation.host {
            try await env.local.emulation.disable(architecture, for: d.name)
        }
        for role in d.roles {
            guard let device = context.buildResults[ActionID(d.name, .device(role))]?.device else { continue }
            do {
                try BlockDeviceFlush.flush(device)
            } catch {
                throw ExecutorError(action: action.id, message: "\(error)")
            }
        }
        return .none
    }
}
