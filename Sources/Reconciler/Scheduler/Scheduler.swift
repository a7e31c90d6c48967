import Foundation
import Logging
import Model
import Planner
import Providers

/// Runs a plan's pending actions as a DAG, at most `parallelism` at a time, keeping each
/// build's journal: `intent` before an action, `started(operationURL)` when its executor
/// reports an Azure operation, `done(result)` after success, `failed(message)` after
/// failure.
///
/// Semantics:
/// * Actions with status to-do, stale or in-flight run; done ones count as finished (their
///   results are read from the journal); blocked ones never run, nor does anything after
///   them. An action starts once every dependency finished successfully, in plan order
///   among those ready. Several builds of one plan run side by side, each with its own
///   journal.
/// * A failed action stops its dependents (reported as skipped, not as errors of their
///   own); independent branches run to their end.
/// * The first interrupt (`InterruptController`) stops starting actions and lets the
///   running ones finish or stop at a safe point; the second cancels them and `run`
///   returns at once. An interrupted action keeps its last journal entry (intent, or
///   started with its operation URL), so the next run resumes it.
/// * Cancelling the task that calls `run` is the second interrupt.
/// * `crashAt` (tests and benchmarks only, `CrashPoint`) calls `crash` right after the
///   journal records that action's intent or completion.
///
/// The caller holds each build's journal lock (`lockBuilds(of:)`) for the whole run.
public struct Scheduler: Sendable {
    /// Terraform's default, for the same reason: enough to overlap Azure's slow
    /// operations, few enough not to be throttled.
    public static let defaultParallelism = 10

    public let executor: any ActionExecutor
    public let journals: any JournalStore
    public let clock: any Clock<Duration>
    public let parallelism: Int
    public let events: any ApplyEventSink
    public let interrupts: InterruptController
    public let logger: Logger
    /// The fault-injection point (`KILN_CRASH_AT`); nil in every normal run.
    public let crashAt: CrashPoint?
    /// What happens at `crashAt`: SIGKILL of this process, or a test's probe.
    let crash: @Sendable () -> Void

    /// `parallelism` below 1 is taken as 1.
    public init(
        executor: any ActionExecutor, journals: any JournalStore, events: any ApplyEventSink,
        interrupts: InterruptController = InterruptController(), clock: any Clock<Duration> = ContinuousClock(),
        parallelism: Int = Scheduler.defaultParallelism, logger: Logger = Logger(label: "kiln.reconciler"),
        crashAt: CrashPoint? = nil, crash: @escaping @Sendable () -> Void = CrashPoint.killThisProcess
    ) {
        self.executor = executor
        self.journals = journals
        self.clock = clock
        self.parallelism = max(1, parallelism)
        self.events = events
        self.interrupts = interrupts
        self.logger = logger
        self.crashAt = crashAt
        self.crash = crash
    }

    /// Takes the journal lock of every build of `plan` (without waiting), or throws
    /// `JournalError.locked` naming the holder; already taken locks are released then.
    public func lockBuilds(of plan: Plan, purpose: String = "kiln apply") async throws -> [any JournalLockHandle] {
        try await BuildLocks.journals(of: plan.buildNames, in: journals, purpose: purpose)
    }

    /// Runs the plan's pending actions and returns how each ended. Never throws: failures
    /// (journal writes included) are action failures in the result.
    public func run(_ plan: Plan) async -> ApplyResult {
        var run = SchedulerRun(plan: plan, parallelism: parallelism)
        run.seed(results: await completedResults(of: plan))

        let (messages, inbox) = AsyncStream<SchedulerRun.Message>.makeStream()
        let token = interrupts.addHandler { level in inbox.yield(.interrupt(level)) }
        defer {
            interrupts.removeHandler(token)
            inbox.finish()
        }
        let gate = EventGate(sink: events)
        var tasks: [ActionID: Task<Void, Never>] = [:]

        await withTaskCancellationHandler {
            var iterator = messages.makeAsyncIterator()
            var level = interrupts.level
            while true {
                if level == .none {
                    for action in run.startable() {
                        run.markStarted(action.id, at: Stopwatch(clock: clock))
                        let context = makeContext(for: action, run: run, gate: gate)
                        tasks[action.id] = Task {
                            let outcome = await perform(action, context: context, gate: gate)
                            inbox.yield(.finished(action.id, outcome))
                        }
                    }
                }
                if run.running.isEmpty { break }
                // The stream ends early only when this task is cancelled: that is an
                // immediate interrupt too (the cancellation handler also says so).
                let message = await iterator.next() ?? .interrupt(.immediate)
                switch message {
                case .finished(let id, let outcome):
                    tasks[id] = nil
                    for event in run.finish(id, outcome) { gate.emit(event) }
                case .interrupt(let newLevel):
                    guard newLevel > level else { continue }
                    level = newLevel
                    gate.emit(.interruptReceived(level: newLevel, running: run.runningInPlanOrder))
                    if newLevel == .immediate {
                        for task in tasks.values { task.cancel() }
                        // Do not wait for executors that are slow to notice: report them
                        // as interrupted now. Their journal is consistent (every write is
                        // atomic), and a late write can only add a true `done`.
                        for id in run.runningInPlanOrder {
                            let elapsed = run.elapsed(id)
                            run.interruptRunning(id)
                            gate.emit(.interrupted(id, elapsed: elapsed))
                        }
                    }
                }
            }
            if level == .none, interrupts.level != .none { level = interrupts.level }
            run.finishRemaining(interrupted: level != .none)
        } onCancel: {
            interrupts.cancelImmediately()
        }

        for event in run.notRunEvents() { gate.emit(event) }
        let result = run.result(outputs: run.publishedOutputs())
        gate.emit(.summary(result.summary))
        logger.debug(
            "apply finished",
            metadata: [
                "outcome": "\(result.summary.outcome.rawValue)", "done": "\(result.summary.done)",
                "failed": "\(result.summary.failures.count)"
            ])
        return result
    }

    /// The journaled results of the actions the plan counts as done, per action.
    private func completedResults(of plan: Plan) async -> [ActionID: ActionOutcome] {
        var results: [ActionID: ActionOutcome] = [:]
        let done = Set(plan.actions.filter { $0.status == .done }.map(\.id))
        for build in plan.buildNames {
            do {
                let journal = try await journals.load(build: build)
                for (key, entry) in journal.latestByAction {
                    guard let id = ActionID(parsing: key), done.contains(id), case .done(let result) = entry.phase
                    else { continue }
                    results[id] = ActionOutcome(journaled: result)
                }
            } catch {
                // The planner read the same journal moments ago; if it is unreadable now,
                // executors that need earlier results fail with their own message.
                logger.warning("cannot read the journal of build \(build): \(error)")
            }
        }
        return results
    }

    private func makeContext(for action: Action, run: SchedulerRun, gate: EventGate) -> ExecutionContext {
        ExecutionContext(
            action: action, journal: JournalHandle(build: action.id.build, store: journals), clock: clock,
            dependencyResults: run.results(of: action.dependsOn), buildResults: run.results(ofBuild: action.id.build),
            logger: logger, interrupts: interrupts, emit: { gate.emit($0) })
    }

    /// One action's life: journal the intent, execute, journal the outcome, report.
    private func perform(_ action: Action, context: ExecutionContext, gate: EventGate) async -> SchedulerRun.Outcome {
        let id = action.id
        let stopwatch = Stopwatch(clock: clock)
        let rejoin = context.operationToRejoin
        gate.emit(.started(id, change: action.change, resource: action.resource, rejoining: rejoin != nil))

        func fail(_ failure: ActionFailure) async -> SchedulerRun.Outcome {
            var failure = failure
            do {
                try await context.journal.append(
                    JournalEntry(
                        actionID: id.description, phase: .failed(message: failure.journalMessage),
                        resourceID: action.resource))
            } catch {
                failure.message += " (and the journal could not record the failure: \(error))"
            }
            gate.emit(.failed(failure, elapsed: stopwatch.elapsed()))
            return .failed(failure)
        }

        // An in-flight action's journal already ends with `started(url)`: an `intent`
        // now would hide the URL from a run that crashes before the executor re-records it.
        if rejoin == nil {
            do {
                try await context.journal.append(
                    JournalEntry(actionID: id.description, phase: .intent, resourceID: action.resource))
            } catch {
                // Without the intent on disk a crash could leave an effect nobody knows of:
                // do not act.
                let failure = ActionFailure(
                    action: id, message: "not started: the journal could not record its intent: \(error)")
                gate.emit(.failed(failure, elapsed: stopwatch.elapsed()))
                return .failed(failure)
            }
        }
        if crashAt?.isDue(.before, of: id) == true { crash() }

        let outcome: ActionOutcome
        do {
            // A wait inside the executor that lasts says so as the action's progress.
            let sink = WaitSink { detail in gate.emit(.progress(id, percent: nil, detail: detail)) }
            outcome = try await Waiting.$sink.withValue(sink) {
                try await executor.execute(action, context: context)
            }
        } catch is ActionInterrupted {
            gate.emit(.interrupted(id, elapsed: stopwatch.elapsed()))
            return .interrupted
        } catch let error where error is CancellationError || Task.isCancelled {
            // Cancelled by the second interrupt: whatever the executor threw on the way out.
            gate.emit(.interrupted(id, elapsed: stopwatch.elapsed()))
            return .interrupted
        } catch {
            return await fail(ActionFailure(action: id, error: error))
        }

        do {
            try await context.journal.append(
                JournalEntry(
                    actionID: id.description, phase: .done(result: outcome.journaled), resourceID: action.resource))
        } catch {
            // The effect exists but is not journaled; the next run observes it. Until
            // then, nothing may build on it.
            let failure = ActionFailure(
                action: id,
                message:
                    "finished, but the journal could not record it: \(error); run kiln apply again once the state directory is writable"
            )
            gate.emit(.failed(failure, elapsed: stopwatch.elapsed()))
            return .failed(failure)
        }
        if crashAt?.isDue(.after, of: id) == true { crash() }
        gate.emit(.done(id, elapsed: stopwatch.elapsed()))
        return .done(outcome)
    }
}

extension Plan {
    /// The builds that have actions, in plan order.
    var buildNames: [String] {
        var seen: Set<String> = []
        var names: [String] = []
        for name in builds.map(\.name) + actions.map(\.id.build) where seen.insert(name).inserted { names.append(name) }
        return names
    }
}

/// Measures elapsed time on any clock with `Duration`.
struct Stopwatch: Sendable {
    let elapsed: @Sendable () -> Duration

    private init(elapsed: @escaping @Sendable () -> Duration) {
        self.elapsed = elapsed
    }

    init(clock: any Clock<Duration>) {
        self = Self.started(on: clock)
    }

    /// Opens the existential: an instant is only meaningful with its own clock type.
    private static func started<C: Clock<Duration>>(on clock: C) -> Stopwatch {
        let start = clock.now
        return Stopwatch { start.duration(to: clock.now) }
    }
}
