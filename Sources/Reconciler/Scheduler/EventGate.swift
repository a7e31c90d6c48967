import Planner
import Synchronization

/// Forwards a run's events to its sink until the run ends, and remembers which actions
/// got their final event, so that the summary stays last and no action is reported
/// twice even when a cancelled executor finishes after `run` gave up on it.
final class EventGate: Sendable {
    private struct State {
        var closed = false
        var terminal: Set<ActionID> = []
    }

    private let sink: any ApplyEventSink
    private let state = Mutex(State())

    init(sink: any ApplyEventSink) {
        self.sink = sink
    }

    /// Forwards `event`, unless the run is over or the action already had its final event.
    /// The sink is called under the lock, so events reach it in one total order; a sink
    /// never calls back into the gate.
    func emit(_ event: ApplyEvent) {
        state.withLock { s in
            guard !s.closed else { return }
            if let id = event.action {
                // Nothing about an action after its final event (a cancelled executor
                // may still report progress).
                if event.isTerminal ? !s.terminal.insert(id).inserted : s.terminal.contains(id) { return }
            }
            if case .summary = event { s.closed = true }
            sink.receive(event)
        }
    }
}
