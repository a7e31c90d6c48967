import Foundation
import Planner

/// Every executor of `kiln apply`, keyed by action kind.
public enum Executors {
    public static func table(_ env: ExecutorEnvironment, manifestDirectory: URL) -> ExecutorTable {
        var all = AzureExecutors.table(env)
        all.merge(VMExecutors.table(env, manifestDirectory: manifestDirectory)) { azure, _ in azure }
        // The source is resolved while observing; the action only marks that in the DAG.
        all[.resolveSource] = NothingToDo()
        return ExecutorTable(all)
    }

    struct NothingToDo: ActionExecutor {
        func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome { .none }
    }
}
