import Foundation
import Model
import Planner
import Providers

/// `chroot-mounts`: the manifest's `mount.chrootMounts`, in order, inside the mounted root
/// (`bind` → a bind mount of the source, else `mount -t TYPE SOURCE`). A target that
/// already has a mount is left as it is, so a resume mounts only what is missing.
public struct ChrootMountsExecutor: ActionExecutor {
    public let env: ExecutorEnvironment

    public init(env: ExecutorEnvironment) {
        self.env = env
    }

    public func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        let d = try env.build(of: action)
        let disks = VMDisks(env: env)
        try await disks.requireMountedRoot(d, context: context)
        let root = disks.root(d)
        for mount in d.build.mount.chrootMounts {
            try context.checkInterruption()
            let target = imagePath(mount.target, root: root)
            if try await env.local.mounts.mountTable().entry(at: target) != nil { continue }
            let kind: MountRequest.Kind = mount.type == "bind" ? .bind(recursive: false) : .filesystem(type: mount.type)
            let request = MountRequest(source: mount.source, target: target, kind: kind)
            context.reportProgress(detail: request.commandLine)
            try await env.local.mounts.mount(request)
        }
        return ActionOutcome(mountPath: root)
    }
}
