import Foundation
import Planner

#if canImport(Glibc)
    import Glibc
#endif

/// A fault-injection hook for tests and benchmarks (docs/reliability.md, "Crashes"):
/// `KILN_CRASH_AT=before:<action id>` makes `kiln apply` SIGKILL itself right after the
/// journal records that action's intent (for an action that re-joins an Azure operation,
/// whose journal already ends with it, at the same point: just before its executor runs);
/// `KILN_CRASH_AT=after:<action id>` right after the journal records its completion. The
/// action id is the one `kiln plan` prints, e.g. `quickstart/attach[os]`.
///
/// It exists so that the crash matrix can kill `kiln apply` at each action boundary
/// exactly, rather than by racing a timer against the output. Unset, the scheduler holds
/// `nil` and pays one optional comparison per action boundary.
public struct CrashPoint: Sendable, Hashable, CustomStringConvertible {
    /// The environment variable `kiln apply` reads.
    public static let environmentVariable = "KILN_CRASH_AT"

    /// Which journal entry of the action the crash follows.
    public enum Moment: String, Sendable, Hashable, CaseIterable {
        /// After its intent (before its executor runs).
        case before
        /// After its `done` entry (before its dependents may start).
        case after
    }

    public var moment: Moment
    public var action: ActionID

    public init(_ moment: Moment, _ action: ActionID) {
        self.moment = moment
        self.action = action
    }

    /// Parses `before:<action id>` or `after:<action id>`; nil for anything else.
    public init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let colon = trimmed.firstIndex(of: ":"),
            let moment = Moment(rawValue: String(trimmed[..<colon])),
            let action = ActionID(parsing: String(trimmed[trimmed.index(after: colon)...]))
        else { return nil }
        self.init(moment, action)
    }

    public var description: String { "\(moment.rawValue):\(action)" }

    /// The crash point the environment asks for: nil when the variable is unset or empty;
    /// throws when it is set but malformed, so that a typo does not silently test nothing.
    public static func fromEnvironment(_ environment: [String: String]) throws -> CrashPoint? {
        guard let text = environment[environmentVariable], !text.isEmpty else { return nil }
        guard let point = CrashPoint(parsing: text) else { throw CrashPointError(text: text) }
        return point
    }

    /// Whether the crash is due at `moment` of action `id`.
    func isDue(_ moment: Moment, of id: ActionID) -> Bool {
        self.moment == moment && action == id
    }

    /// What `kiln apply` does at the crash point: SIGKILL itself, as `kill -9` would (no
    /// handler runs, nothing is flushed or released beyond what the kernel does).
    public static let killThisProcess: @Sendable () -> Void = {
        kill(getpid(), SIGKILL)
    }
}

/// `KILN_CRASH_AT` is set but is not `before:<action id>` or `after:<action id>`.
public struct CrashPointError: Error, CustomStringConvertible {
    public var text: String
    public var description: String {
        "\(CrashPoint.environmentVariable)=\(text) is not before:<action id> or after:<action id> (an id as kiln plan prints it, e.g. after:quickstart/attach[os]); unset it for a normal run"
    }
}
