import Planner

/// Performs one action of a plan: creates a disk, attaches it, runs a provisioning step …
///
/// Contract:
/// * Idempotent: the scheduler may hand the same action to an executor again in a later
///   run (after a crash, or after a failure was fixed). Adopt what already exists.
/// * An executor that starts an Azure long-running operation calls
///   `context.recordOperation(_:)` with its polling URL *before* waiting for it, so that
///   a crash while waiting leaves the URL in the journal. An action whose status is
///   in-flight carries that URL (`context.operationToRejoin`): poll it, do not issue the
///   call again.
/// * Return only once the effect is observable (e.g. the disk reads `Succeeded`), so that
///   dependents start on a verified world.
/// * Honour interruption: between steps and while waiting, call
///   `context.checkInterruption()` or wait with `context.sleep(for:)`; both throw once the
///   user interrupts. Stop only where a re-run can resume (never between a call and
///   recording its operation URL).
/// * Never put secrets (tokens, keys, passwords, secret environment values) into
///   results, progress details or error messages: they are journaled and printed as given.
/// * Throws to fail the action; an error conforming to `ReportableActionError` gives the
///   user the command and the last lines of its output.
public protocol ActionExecutor: Sendable {
    /// Performs `action` and returns what later actions and the journal need.
    func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome
}

/// What a finished action leaves for later actions and for the user: string attributes
/// (resource ids, device paths, …), journaled with the action's `done` entry.
public struct ActionOutcome: Sendable, Equatable {
    /// Well-known result keys.
    public enum Key {
        /// The Azure resource id the action created or adopted.
        public static let resourceID = "resourceId"
        /// The block device path (e.g. `/dev/loop3p1`).
        public static let device = "device"
        /// A published managed image's id: collected into `ApplyResult.outputs`.
        public static let imageID = "imageId"
        /// A published gallery image version's id: collected into `ApplyResult.outputs`.
        public static let galleryImageVersionID = "galleryImageVersionId"
        /// The region the resource lives in (`gallery-definition`: the gallery's, where the
        /// version must be created).
        public static let location = "location"
    }

    public var result: [String: String]

    public init(result: [String: String] = [:]) {
        self.result = result
    }

    /// An action that leaves nothing to record beyond its completion.
    public static let none = ActionOutcome()
}

/// Routes each action to the executor registered for its kind; the kiln command builds
/// one from the Azure, device and chroot executors.
public struct ExecutorTable: ActionExecutor {
    private let executors: [ActionKind: any ActionExecutor]

    public init(_ executors: [ActionKind: any ActionExecutor]) {
        self.executors = executors
    }

    public func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        guard let executor = executors[action.id.kind] else { throw ExecutorTableError.noExecutor(action.id) }
        return try await executor.execute(action, context: context)
    }
}

/// An `ExecutorTable` has nothing for an action's kind: a wiring mistake in Kiln itself.
public enum ExecutorTableError: Error, Sendable, CustomStringConvertible {
    case noExecutor(ActionID)

    public var description: String {
        switch self {
        case .noExecutor(let id):
            "no executor is registered for actions of kind \(id.kind.rawValue) (action \(id)); this is a bug in kiln, please report it"
        }
    }
}
