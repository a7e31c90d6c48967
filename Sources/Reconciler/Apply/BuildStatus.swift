import Foundation
import Model
import Providers

/// Where one build stands, from its journal and its lock (lease): what `kiln status` shows.
public struct BuildStatus: Sendable, Equatable, Codable {
    public enum State: String, Sendable, Codable {
        /// Another kiln holds the build's lock (lease) now.
        case running
        /// The last apply of the build succeeded.
        case succeeded
        /// The last apply of the build failed.
        case failed
        /// A run started and stopped without an outcome (interrupted, killed, its VM died):
        /// the next apply resumes it.
        case stopped
        /// Never applied (no journal).
        case pending
    }

    public var build: String
    public var state: State
    /// Who holds the lock (running), or who ran it last.
    public var holder: String?
    public var run: String?
    /// The latest journal entry: the action and its phase.
    public var lastAction: String?
    public var lastActionAt: Date?
    /// For a failure: what failed.
    public var message: String?

    /// The status of `build` in `journals`.
    public static func of(build: String, in journals: any JournalStore) async throws -> BuildStatus {
        let journal = try await journals.load(build: build)
        let holder = try await journals.holder(build: build)
        let last = journal.entries.last
        var status = BuildStatus(
            build: build, state: .pending, holder: nil, run: journal.header.run,
            lastAction: last.map { "\($0.actionID) \($0.phase.word)" }, lastActionAt: last?.recordedAt, message: nil)
        if let holder {
            status.state = .running
            status.holder = holder.vm.map { "VM \($0)" } ?? "pid \(holder.pid) on \(holder.host)"
        } else if let outcome = journal.header.outcome, outcome.digest == journal.header.digest || last == nil {
            status.state = outcome.result == .succeeded ? .succeeded : .failed
            status.holder = outcome.vm.map { "VM \($0)" }
            status.message = outcome.message
        } else if journal.header.run != nil {
            status.state = .stopped
            status.holder = journal.header.holder.map { h in h.vm.map { "VM \($0)" } ?? "pid \(h.pid) on \(h.host)" }
        }
        return status
    }

    /// The table a person reads; ages against `now`.
    public static func table(_ statuses: [BuildStatus], now: Date = Date()) -> String {
        let header = ["BUILD", "STATE", "HOLDER", "RUN", "LAST ACTION", "AGE"]
        let rows =
            [header]
            + statuses.map { s in
                [
                    s.build, s.state.rawValue, s.holder ?? "-", s.run ?? "-", s.lastAction ?? "-",
                    s.lastActionAt.map { age(now.timeIntervalSince($0)) } ?? "-"
                ]
            }
        let widths = header.indices.map { i in rows.map { $0[i].count }.max() ?? 0 }
        var out = ""
        for row in rows {
            let cells = row.indices.map { i in
                i == row.count - 1 ? row[i] : row[i].padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }
            out += cells.joined(separator: "  ") + "\n"
        }
        for s in statuses where s.message != nil { out += "\(s.build): \(s.message!)\n" }
        return out
    }

    /// `42s`, `5m`, `3h`, `2d`.
    static func age(_ seconds: TimeInterval) -> String {
        let s = max(0, Int(seconds))
        if s < 120 { return "\(s)s" }
        if s < 7200 { return "\(s / 60)m" }
        if s < 172_800 { return "\(s / 3600)h" }
        return "\(s / 86400)d"
    }
}

extension JournalPhase {
    /// One word for the phase.
    var word: String {
        switch self {
        case .intent: "intended"
        case .started: "started"
        case .done: "done"
        case .failed: "failed"
        }
    }
}
