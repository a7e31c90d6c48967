import Foundation
import Model
import Planner
import Providers

/// `copy-files`: copies each `mount.copyFiles` host file to the same path in the mounted
/// image. The chroot executor first saves what the image had there (once, so a re-run
/// keeps the image's own file, not Kiln's copy), for `restore-files`.
public struct CopyFilesExecutor: ActionExecutor {
    public let env: ExecutorEnvironment

    public init(env: ExecutorEnvironment) {
        self.env = env
    }

    public func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        let d = try env.build(of: action)
        let files = d.build.mount.copyFiles
        guard !files.isEmpty else { return .none }
        let disks = VMDisks(env: env)
        try await disks.requireMountedRoot(d, context: context)
        let root = disks.root(d)
        for file in files {
            try context.checkInterruption()
            context.reportProgress(detail: "copying \(file) into the image")
            try await env.local.chroot.copyHostFile(file, to: file, root: root)
        }
        return .none
    }
}
