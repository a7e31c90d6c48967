import Foundation
import Logging
import Planner
import Providers

/// What an executor gets to perform one action: the build's journal, a clock whose waits
/// end when the user interrupts, a way to report progress, and the results of the
/// actions that finished before it.
///
/// Values only: it is safe to copy into child tasks.
public struct ExecutionContext: Sendable {
    /// The action being performed.
    public let action: Action
    /// The build's journal (read access; the scheduler writes the entries).
    public let journal: JournalHandle
    /// The clock to wait with; prefer `sleep(for:)`, which also ends on interruption.
    public let clock: any Clock<Duration>
    /// The results of the action's direct dependencies (empty for those that left none).
    public let dependencyResults: [ActionID: ActionOutcome]
    /// The results of every action of the same build finished so far, in this run or
    /// (from the journal) in an earlier one; e.g. a snapshot reads its disk's id here.
    public let buildResults: [ActionID: ActionOutcome]
    /// The run's logger, with the action's id as metadata. Never log secrets.
    public let logger: Logger

    let interrupts: InterruptController
    let emit: @Sendable (ApplyEvent) -> Void

    init(
        action: Action, journal: JournalHandle, clock: any Clock<Duration>,
        dependencyResults: [ActionID: ActionOutcome],
        buildResults: [ActionID: ActionOutcome], logger: Logger, interrupts: InterruptController,
        emit: @escaping @Sendable (ApplyEvent) -> Void
    ) {
        self.action = action
        self.journal = journal
        self.clock = clock
        self.dependencyResults = dependencyResults
        self.buildResults = buildResults
        var logger = logger
        logger[metadataKey: "action"] = "\(action.id)"
        self.logger = logger
        self.interrupts = interrupts
        self.emit = emit
    }

    /// The operation URL an earlier run started and did not see finish: poll it to its
    /// end instead of issuing the call again. Nil unless the plan says the action is
    /// in flight.
    public var operationToRejoin: String? {
        action.status == .inFlight ? action.operation : nil
    }

    /// Records that the action's Azure call returned a long-running operation, before
    /// waiting for it: the journal gets `started(operationURL:)` (durably, when this
    /// returns), so a re-run after a crash re-joins the operation. Throws
    /// `JournalError` when the journal cannot be written; do not wait for the operation
    /// then (fail the action), since a crash would lose it.
    public func recordOperation(_ url: String) async throws {
        try await journal.append(
            JournalEntry(
                actionID: action.id.description, phase: .started(operationURL: url), resourceID: action.resource))
    }

    /// Reports progress of a long action (e.g. replication: `percent` 40, `detail`
    /// "eastus 100%, westus2 40%"). `percent` is 0…100, nil when unknown. Never put
    /// secrets in `detail`: it is printed as given.
    public func reportProgress(percent: Double? = nil, detail: String) {
        emit(.progress(action.id, percent: percent.map { min(100, max(0, $0)) }, detail: detail))
    }

    /// True once the user has interrupted the run (first Ctrl-C).
    public var isInterrupted: Bool { interrupts.level != .none }

    /// A safe point: throws `CancellationError` when the run is cancelled at once
    /// (second interrupt) and `ActionInterrupted` once the user has interrupted; returns
    /// otherwise. The scheduler journals neither as a failure: the action's last entry
    /// (intent or started) stays, so the next run resumes it.
    public func checkInterruption() throws {
        try Task.checkCancellation()
        if interrupts.level != .none { throw ActionInterrupted(action: action.id) }
    }

    /// Waits `duration` on the context's clock, or less when the user interrupts; then
    /// checks for interruption as `checkInterruption()` does. Use it for polling so that
    /// Ctrl-C does not wait for a whole polling interval.
    public func sleep(for duration: Duration) async throws {
        try checkInterruption()
        let clock = self.clock
        let actionID = action.id
        try await interrupts.unlessInterrupted(throwing: { ActionInterrupted(action: actionID) }) {
            try await clock.sleep(for: duration)
        }
        try checkInterruption()
    }
}

/// Thrown at a safe point once the user has interrupted the run: the action stops
/// without failing, and the next `kiln apply` resumes it.
public struct ActionInterrupted: Error, Sendable, CustomStringConvertible {
    public var action: ActionID
    public var description: String {
        "\(action) stopped at a safe point because the run was interrupted; run kiln apply again to resume"
    }
}

/// The journal of one build, as an executor sees it: it can read; the scheduler (and
/// `ExecutionContext.recordOperation`) write. Each write is atomic and durable (see
/// `JournalStore`).
public struct JournalHandle: Sendable {
    /// The build the journal belongs to.
    public let build: String
    let store: any JournalStore

    /// The journal as stored now.
    public func load() async throws -> BuildJournal {
        try await store.load(build: build)
    }

    func append(_ entry: JournalEntry) async throws {
        try await store.append(entry, build: build)
    }
}
