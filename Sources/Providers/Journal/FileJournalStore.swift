import Foundation

/// The journal store on disk: `<stateDirectory>/<build>.journal.json` (mode 0600) and its
/// lock `<stateDirectory>/<build>.lock`, in a state directory of mode 0700.
///
/// An actor so that appends from concurrent actions of one process are serialised; the
/// per-build file lock excludes other processes.
public actor FileJournalStore: JournalStore {
    /// The default state directory, relative to the working directory.
    public static let defaultStateDirectory = ".kiln"

    public nonisolated let stateDirectory: String
    private let clock: any Clock<Duration>

    public init(
        stateDirectory: String = FileJournalStore.defaultStateDirectory, clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.stateDirectory = stateDirectory
        self.clock = clock
    }

    /// The journal file of `build`.
    public nonisolated func journalPath(build: String) -> String { "\(stateDirectory)/\(build).journal.json" }
    /// The lock file of `build`.
    public nonisolated func lockPath(build: String) -> String { "\(stateDirectory)/\(build).lock" }

    public func load(build: String) async throws -> BuildJournal {
        try validateJournalBuildName(build)
        let path = journalPath(build: build)
        guard FileManager.default.fileExists(atPath: path) else { return BuildJournal(build: build) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw JournalError.unreadable(build: build, path: path, reason: "cannot open the file (permissions?)")
        }
        return try Self.decode(data, build: build, path: path)
    }

    /// A journal from its bytes (a file's or a blob's): refuses what is not a Kiln journal and
    /// a format version this Kiln does not read, naming `path`.
    static func decode(_ data: Data, build: String, path: String) throws -> BuildJournal {
        struct VersionProbe: Decodable { var version: Int }
        let decoder = Self.decoder
        let version: Int
        do {
            version = try decoder.decode(VersionProbe.self, from: data).version
        } catch {
            throw JournalError.unreadable(build: build, path: path, reason: "not a Kiln journal (\(error))")
        }
        guard BuildJournal.readableVersions.contains(version) else {
            throw JournalError.unsupportedVersion(build: build, path: path, version: version)
        }
        do {
            return try decoder.decode(BuildJournal.self, from: data)
        } catch {
            throw JournalError.unreadable(build: build, path: path, reason: "\(error)")
        }
    }

    public func append(_ entry: JournalEntry, build: String) async throws {
        // Always from disk: another process may have written since we last read (under
        // its own tenure of the lock).
        var journal = try await load(build: build)
        journal.entries.append(entry)
        try write(journal)
    }

    public func replace(_ journal: BuildJournal) async throws {
        try validateJournalBuildName(journal.build)
        try write(journal)
    }

    public func tryLock(build: String, purpose: String) async throws -> any JournalLockHandle {
        try validateJournalBuildName(build)
        try ensureStateDirectory(build: build)
        let path = lockPath(build: build)
        do {
            return try FileLock.tryAcquire(path: path, purpose: purpose)
        } catch {
            throw Self.map(error, build: build)
        }
    }

    public func lock(build: String, purpose: String, timeout: Duration) async throws -> any JournalLockHandle {
        try validateJournalBuildName(build)
        try ensureStateDirectory(build: build)
        do {
            return try await FileLock.acquire(
                path: lockPath(build: build), purpose: purpose, timeout: timeout, clock: clock)
        } catch let error as FileLockError {
            throw Self.map(error, build: build)
        }
    }

    /// Who holds the build's lock file, found by trying it (and letting go at once).
    public func holder(build: String) async throws -> FileLockHolder? {
        try validateJournalBuildName(build)
        guard FileManager.default.fileExists(atPath: lockPath(build: build)) else { return nil }
        switch Result(catching: { () throws(FileLockError) in
            try FileLock.tryAcquire(path: lockPath(build: build), purpose: "kiln status")
        }) {
        case .success(let lock):
            lock.release()
            return nil
        case .failure(.held(_, let holder, _)):
            return holder
                ?? FileLockHolder(pid: 0, host: "?", startedAt: Date(timeIntervalSince1970: 0), purpose: "unknown")
        case .failure(let error):
            throw Self.map(error, build: build)
        }
    }

    private static func map(_ error: FileLockError, build: String) -> JournalError {
        switch error {
        case .held(let path, let holder, let waited): .locked(build: build, path: path, holder: holder, waited: waited)
        case .io(let path, let operation, let reason):
            .lockFailed(build: build, path: path, reason: "\(operation): \(reason)")
        }
    }

    private func write(_ journal: BuildJournal) throws {
        let path = journalPath(build: journal.build)
        try ensureStateDirectory(build: journal.build)
        let data: Data
        do {
            data = try Self.encoder.encode(journal)
        } catch {
            throw JournalError.writeFailed(build: journal.build, path: path, reason: "encoding: \(error)")
        }
        do {
            try AtomicFile.write(data, to: path, mode: 0o600)
        } catch {
            throw JournalError.writeFailed(build: journal.build, path: path, reason: "\(error)")
        }
    }

    private func ensureStateDirectory(build: String) throws(JournalError) {
        do {
            try FileManager.default.createDirectory(
                atPath: stateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw .writeFailed(
                build: build, path: stateDirectory, reason: "cannot create the state directory: \(error)")
        }
    }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(style))
        }
        return encoder
    }

    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) {
                return date
            }
            if let date = try? Date(text, strategy: Date.ISO8601FormatStyle()) { return date }
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an ISO 8601 date: \(text)")
        }
        return decoder
    }
}
