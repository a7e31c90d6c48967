import Foundation
import Model
import Planner
import Providers

/// `restore-files`: puts back what the image had at each `mount.copyFiles` path (its own
/// file, or nothing). Idempotent: a path with nothing recorded (never copied, or already
/// restored) is left alone. Refuses to run while the root is not mounted, since the saved
/// originals live on the image's disk.
public struct RestoreFilesExecutor: ActionExecutor {
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
        var restored: [String] = []
        for file in files {
            try context.checkInterruption()
            switch try await env.local.chroot.restoreHostFile(at: file, root: root) {
            case .restoredOriginal: restored.append("\(file) (the image's own)")
            case .removedCopy: restored.append("\(file) (removed: the image had none)")
            case .nothingRecorded: break
            }
        }
        if !restored.isEmpty { context.reportProgress(detail: "restored " + restored.joined(separator: ", ")) }
        return .none
    }
}
