import Foundation
import Planner

/// Every executor of `kiln apply` (and `kiln destroy`), keyed by action kind.
public enum Executors {
    public static func table(_ env: ExecutorEnvironment, manifestDirectory: URL) -> ExecutorTable {
        var all = AzureExecutors.table(env)
        all.merge(VMExecutors.table(env, manifestDirectory: manifestDirectory)) { azure, _ in azure }
        // The source is resolved while observing; the action only marks that in the DAG.
        all[.resolveSource] = NothingToDo()
        // Only `kiln destroy --outputs` plans these.
        all[.deleteImage] = DeleteOutputExecutor(env: env, output: .image)
        all[.deleteGalleryVersion] = DeleteOutputExecutor(env: env, output: .galleryVersion)
        return ExecutorTable(all)
    }

    struct NothingToDo: ActionExecutor {
        func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome { .none }
    }
}
