import Foundation
import Planner
import Providers
import Synchronization
import Testing

@testable import Reconciler

/// An action for a hand-made plan.
func act(
    _ build: String, _ kind: ActionKind, _ target: String? = nil, after deps: [ActionID] = [],
    status: ActionStatus = .todo,
    change: Change = .run, resource: String? = nil, operation: String? = nil
) -> Action {
    Action(
        id: ActionID(build, step(kind, target)), change: change, status: status, resource: resource,
        reason: "test", dependsOn: deps, operation: operation)
}

func plan(_ actions: [Action]) -> Plan {
    // No build summaries (their initializer is the planner's): the scheduler takes the
    // builds from the actions too.
    Plan(builds: [], actions: actions, conflicts: [])
}

func id(_ text: String) -> ActionID { ActionID(parsing: text)! }

/// The step of `kind` named by `target`; the test's own mistake when they do not fit.
func step(_ kind: ActionKind, _ target: String?) -> ActionStep {
    guard let step = ActionStep(kind: kind, target: target) else {
        fatalError("\(kind.rawValue)[\(target ?? "")] names no step")
    }
    return step
}

/// What the fake executors saw: starts and ends in order, and how many ran at once.
final class Recorder: Sendable {
    struct State {
        var log: [String] = []
        var current = 0
        var maximum = 0
        var contexts: [ActionID: ExecutionContext] = [:]
    }

    let state = Mutex(State())

    func enter(_ action: Action, _ context: ExecutionContext) {
        state.withLock {
            $0.log.append("start \(action.id)")
            $0.current += 1
            $0.maximum = max($0.maximum, $0.current)
            $0.contexts[action.id] = context
        }
    }

    func leave(_ action: Action) {
        state.withLock {
            $0.log.append("end \(action.id)")
            $0.current -= 1
        }
    }

    var log: [String] { state.withLock { $0.log } }
    var maximum: Int { state.withLock { $0.maximum } }
    var started: [String] { log.filter { $0.hasPrefix("start ") }.map { String($0.dropFirst(6)) } }
    func context(_ id: ActionID) -> ExecutionContext? { state.withLock { $0.contexts[id] } }
}

/// An executor whose behaviour per action is given by the test; by default it succeeds
/// with the action's id as its outcome's `location` after yielding a few times (so that others interleave).
struct FakeExecutor: ActionExecutor {
    typealias Behavior = @Sendable (Action, ExecutionContext) async throws -> ActionOutcome
    let recorder = Recorder()
    var behaviors: [ActionID: Behavior] = [:]

    init(_ behaviors: [String: Behavior] = [:]) {
        for (key, value) in behaviors { self.behaviors[id(key)] = value }
    }

    func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        recorder.enter(action, context)
        defer { recorder.leave(action) }
        for _ in 0..<3 { await Task.yield() }
        if let behavior = behaviors[action.id] { return try await behavior(action, context) }
        return ActionOutcome(location: action.id.description)
    }
}

/// A one-shot signal that tasks can wait for.
final class Latch: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { s -> Bool in
                if s.open { return true }
                s.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }
}

/// Holds executors until `target` are inside at once (or all `total` have started),
/// so a test sees the scheduler fill its slots without timing anything.
actor Wave {
    let target: Int
    let total: Int
    private var inside = 0
    private var started = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(target: Int, total: Int) {
        self.target = target
        self.total = total
    }

    func arrive() async {
        inside += 1
        started += 1
        if inside >= target || started == total {
            let released = waiting
            waiting = []
            for w in released { w.resume() }
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func leave() { inside -= 1 }
}

struct TimedOut: Error, CustomStringConvertible {
    var what: String
    var description: String { "gave up waiting for \(what) (a deadlock in the scheduler?)" }
}

/// Runs `body`, failing if it does not finish within `seconds`: only a guard against a
/// deadlock hanging the test suite, never an assertion about speed.
func withDeadlockGuard<T: Sendable>(_ what: String, seconds: Int = 20, _ body: @escaping @Sendable () async throws -> T)
    async throws -> T
{
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return nil
        }
        guard let first = try await group.next(), let value = first else {
            group.cancelAll()
            throw TimedOut(what: what)
        }
        group.cancelAll()
        return value
    }
}

/// The phases journaled for `action`, as short words.
func phases(_ store: InMemoryJournalStore, _ action: String) async -> [String] {
    let build = String(action.prefix { $0 != "/" })
    let journal = await store.stored(build: build) ?? BuildJournal(build: build)
    return journal.entries.filter { $0.actionID == action }.map { entry in
        switch entry.phase {
        case .intent: "intent"
        case .started(let url): "started \(url)"
        case .done: "done"
        case .failed: "failed"
        }
    }
}

struct Boom: Error, CustomStringConvertible {
    var description: String { "disk quota exceeded in eastus" }
}

func scheduler(
    _ executor: FakeExecutor, store: InMemoryJournalStore, events: any ApplyEventSink = CollectingEventSink(),
    interrupts: InterruptController = InterruptController(), clock: any Clock<Duration> = VirtualClock(),
    parallelism: Int = 10
) -> Scheduler {
    Scheduler(
        executor: executor, journals: store, events: events, interrupts: interrupts, clock: clock,
        parallelism: parallelism)
}
