import Foundation
import Synchronization

/// No silent waits: a wait that lasts (an Azure operation, a device to appear or go, a disk
/// to be released, a lock) says that it is still waiting, for what, since when, and the
/// last state it saw. Code that waits wraps the wait in `Waiting.for(_:)` and tells it what
/// it sees; whoever runs that code binds `Waiting.sink` to where the notes go (the
/// scheduler: the action's progress, which the renderers show as the live line, a JSON
/// `progress` event or a plain line). With nothing bound, a wait costs nothing extra.
public enum Waiting {
    /// Where notes go; nil: nobody listens.
    @TaskLocal public static var sink: WaitSink?

    /// The first note comes after this long (a short wait says nothing) …
    public static let firstNoteAfter: Duration = .seconds(3)
    /// … then one each this long.
    public static let noteInterval: Duration = .seconds(10)

    /// Runs `body`, noting every `noteInterval` (from `firstNoteAfter`) that it still
    /// waits for `what`, with the last state `body` reported through its `WaitNote`.
    public static func `for`<T: Sendable>(
        _ what: String, firstAfter: Duration = firstNoteAfter, every: Duration = noteInterval,
        _ body: (WaitNote) async throws -> T
    ) async throws -> T {
        let note = WaitNote(what: what)
        guard let sink else { return try await body(note) }
        let ticker = Task {
            var next = firstAfter
            while !Task.isCancelled {
                do { try await Task.sleep(for: next) } catch { return }
                sink.deliver(note.text())
                next = every
            }
        }
        defer { ticker.cancel() }
        return try await body(note)
    }
}

/// Where a wait's notes go (`Waiting.sink`). A class, not a bare closure: Swift 6.3.1's
/// optimizer specialises `TaskLocal.withValue` for an optional function type with no type
/// metadata, so a release build crashed in `swift_task_localValuePush` at the first action
/// (found by `make bench`; debug builds were fine). A task-local holding a class reference
/// does not take that path.
public final class WaitSink: Sendable {
    public let deliver: @Sendable (String) -> Void

    public init(_ deliver: @escaping @Sendable (String) -> Void) {
        self.deliver = deliver
    }
}

/// What one wait has seen so far (`Waiting.for`); safe to update from any task.
public final class WaitNote: Sendable {
    public let what: String
    public let since: Date
    private let lastSeen = Mutex<String?>(nil)

    public init(what: String, since: Date = Date()) {
        self.what = what
        self.since = since
    }

    /// Records the latest state seen (`"InProgress"`, `"held by pid 812 (kiln apply)"`).
    public func seen(_ state: String) { lastSeen.withLock { $0 = state } }

    /// `still waiting for WHAT (since 14:03:05Z, 12 s): LAST STATE`.
    public func text(now: Date = Date()) -> String {
        let seconds = Int(now.timeIntervalSince(since).rounded())
        let state = lastSeen.withLock { $0 }
        return "still waiting for \(what) (since \(Self.clockTime(since)), \(seconds) s)"
            + (state.map { ": \($0)" } ?? "")
    }

    /// `HH:mm:ssZ` in UTC.
    static func clockTime(_ date: Date) -> String {
        let c = Calendar(identifier: .gregorian).dateComponents(
            in: TimeZone(identifier: "UTC")!, from: date)
        return String(format: "%02d:%02d:%02dZ", c.hour ?? 0, c.minute ?? 0, c.second ?? 0)
    }
}
