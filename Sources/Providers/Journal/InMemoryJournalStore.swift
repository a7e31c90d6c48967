import Foundation
import Synchronization

/// A `JournalStore` in memory, for unit tests of code that keeps a journal. Its lock
/// behaves like the file lock (one holder at a time, holder named in the error), and
/// `failWrites` makes every write fail as a full disk would.
public actor InMemoryJournalStore: JournalStore {
    private var journals: [String: BuildJournal] = [:]
    private let locks = InMemoryJournalLocks()
    /// What `lock` waits on between attempts.
    private let clock: any Clock<Duration>
    /// When set, `append` and `replace` throw `JournalError.writeFailed` with this reason.
    public var failWrites: String?

    public init(journals: [BuildJournal] = [], clock: any Clock<Duration> = ContinuousClock()) {
        self.clock = clock
        for journal in journals { self.journals[journal.build] = journal }
    }

    /// Makes writes fail (or succeed again, with nil).
    public func setFailWrites(_ reason: String?) { failWrites = reason }

    /// What was written for `build`, if anything.
    public func stored(build: String) -> BuildJournal? { journals[build] }

    public func load(build: String) async throws -> BuildJournal {
        try validateJournalBuildName(build)
        return journals[build] ?? BuildJournal(build: build)
    }

    public func append(_ entry: JournalEntry, build: String) async throws {
        try validateJournalBuildName(build)
        if let failWrites { throw JournalError.writeFailed(build: build, path: "memory:\(build)", reason: failWrites) }
        journals[build, default: BuildJournal(build: build)].entries.append(entry)
    }

    public func replace(_ journal: BuildJournal) async throws {
        try validateJournalBuildName(journal.build)
        if let failWrites {
            throw JournalError.writeFailed(build: journal.build, path: "memory:\(journal.build)", reason: failWrites)
        }
        journals[journal.build] = journal
    }

    public func tryLock(build: String, purpose: String) async throws -> any JournalLockHandle {
        try validateJournalBuildName(build)
        return try locks.tryLock(build: build, purpose: purpose, waited: nil)
    }

    public func lock(build: String, purpose: String, timeout: Duration) async throws -> any JournalLockHandle {
        try validateJournalBuildName(build)
        var waited = Duration.zero
        let step = Duration.milliseconds(10)
        while true {
            do {
                return try locks.tryLock(build: build, purpose: purpose, waited: nil)
            } catch JournalError.locked(let build, let path, let holder, _) where waited >= timeout {
                throw JournalError.locked(build: build, path: path, holder: holder, waited: waited)
            } catch JournalError.locked {
                try await clock.sleep(for: step)
                waited += step
            }
        }
    }
}

/// The lock table of `InMemoryJournalStore`, shared with the handles it gives out so that
/// releasing a handle needs no hop onto the actor.
final class InMemoryJournalLocks: Sendable {
    /// The holder of each held build's lock, with the token of the handle that holds it
    /// (so a stale handle can never release a later holder's lock).
    private let holders = Mutex<[String: (token: UInt64, holder: FileLockHolder)]>([:])
    private let nextToken = Mutex<UInt64>(0)

    func tryLock(build: String, purpose: String, waited: Duration?) throws -> InMemoryJournalLock {
        let holder = FileLockHolder.current(purpose: purpose)
        let token = nextToken.withLock { value in
            value += 1
            return value
        }
        try holders.withLock { holders in
            if let current = holders[build] {
                throw JournalError.locked(
                    build: build, path: "memory:\(build).lock", holder: current.holder, waited: waited)
            }
            holders[build] = (token, holder)
        }
        return InMemoryJournalLock(build: build, holder: holder, token: token, table: self)
    }

    func release(build: String, token: UInt64) {
        holders.withLock { holders in
            if holders[build]?.token == token { holders[build] = nil }
        }
    }
}

/// A lock handle of `InMemoryJournalStore`.
final class InMemoryJournalLock: JournalLockHandle {
    let build: String
    let holder: FileLockHolder
    let token: UInt64
    let table: InMemoryJournalLocks

    init(build: String, holder: FileLockHolder, token: UInt64, table: InMemoryJournalLocks) {
        self.build = build
        self.holder = holder
        self.token = token
        self.table = table
    }

    func release() { table.release(build: build, token: token) }

    deinit { release() }
}
