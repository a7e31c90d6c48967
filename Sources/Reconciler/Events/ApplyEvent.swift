import Planner
import Synchronization

/// What happens during `apply`, in order, for the renderers (plain lines, the live
/// terminal view, JSON lines).
///
/// Events carry only what the plan and the executors give them; executors must never
/// put secrets into messages, progress details or results (see `ActionExecutor`).
public enum ApplyEvent: Sendable, Equatable {
    /// An action started (`rejoining`: it re-joins an Azure operation an earlier run began).
    case started(ActionID, change: Change, resource: String?, rejoining: Bool)
    /// A long action's progress: `percent` 0…100 when known, and a detail such as the
    /// replication state per region.
    case progress(ActionID, percent: Double?, detail: String)
    /// One line a running command printed (a provisioning step, a host command), as
    /// streamed by `ExecutionContext.reportOutput`: already cut, rate-limited and with
    /// secret values masked.
    case output(ActionID, line: String)
    /// An action finished successfully.
    case done(ActionID, elapsed: Duration)
    /// An action failed.
    case failed(ActionFailure, elapsed: Duration)
    /// An action was not run because an action it depends on failed (not an error of its
    /// own, like Terraform's "upstream dependencies failed").
    case skipped(ActionID, upstream: ActionID)
    /// An action was not run because it, or an action it depends on, is blocked by a
    /// plan conflict.
    case blocked(ActionID, by: ActionID)
    /// A running action stopped at a safe point, or was cancelled, because of an
    /// interrupt. Its journal entries stay, so the next run resumes it.
    case interrupted(ActionID, elapsed: Duration)
    /// The user interrupted the run; `running` are the actions still running.
    case interruptReceived(level: InterruptController.Level, running: [ActionID])
    /// The run ended; always the last event of a scheduler run.
    case summary(ApplySummary)
    /// After a failed apply with `--on-error keep`: the temporary resources left in place.
    case leftovers(LeftoverReport)
    /// The end of a cleanup (`--on-error cleanup`) or of `kiln destroy`: what was removed,
    /// what failed, what was kept.
    case teardown(TeardownSummary)

    /// The action the event is about, if any.
    public var action: ActionID? {
        switch self {
        case .started(let id, _, _, _), .progress(let id, _, _), .output(let id, _), .done(let id, _),
            .skipped(let id, _), .blocked(let id, _), .interrupted(let id, _):
            id
        case .failed(let failure, _): failure.action
        case .interruptReceived, .summary, .leftovers, .teardown: nil
        }
    }

    /// Whether the event ends an action's life in this run.
    var isTerminal: Bool {
        switch self {
        case .done, .failed, .skipped, .blocked, .interrupted: true
        default: false
        }
    }
}

/// Receives the events of an apply run. Called from several tasks at once: an
/// implementation serialises its own output.
public protocol ApplyEventSink: Sendable {
    func receive(_ event: ApplyEvent)
}

/// Sends each event to several sinks (e.g. the terminal and a log).
public struct FanOutEventSink: ApplyEventSink {
    public let sinks: [any ApplyEventSink]
    public init(_ sinks: [any ApplyEventSink]) { self.sinks = sinks }
    public func receive(_ event: ApplyEvent) {
        for sink in sinks { sink.receive(event) }
    }
}

/// Keeps every event, for tests and for callers that render after the fact.
public final class CollectingEventSink: ApplyEventSink {
    private let storage = Mutex<[ApplyEvent]>([])
    public init() {}
    public func receive(_ event: ApplyEvent) { storage.withLock { $0.append(event) } }
    /// The events so far, in the order received.
    public var events: [ApplyEvent] { storage.withLock { $0 } }
}
