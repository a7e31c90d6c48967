import Foundation
import Model

/// The record of one build's apply runs: what Kiln meant to do, which Azure operations it
/// started, and what finished. A re-run reads it to resume instead of redoing work.
///
/// Format (JSON, mode 0600): `{"version": 2, "build": …, "header": {…}, "entries": [ … ]}`.
/// Entries are only appended; the current state of an action is its latest entry
/// (`latest(for:)`). Action ids are opaque strings chosen by the Reconciler.
///
/// Version 1 (written by earlier Kilns) kept the header as a string dictionary,
/// `"attributes": {"run", "digest", "generation", "published"}` with the published digest as
/// JSON inside a string; it is still read, and written back as version 2.
public struct BuildJournal: Codable, Sendable, Equatable {
    /// The format version this Kiln writes.
    public static let currentVersion = 2
    /// The format versions this Kiln reads.
    public static let readableVersions: ClosedRange<Int> = 1...2

    public var version: Int
    /// The build's name (one journal per build).
    public var build: String
    /// Facts about the build's run that must survive a restart (run id, digest, …).
    public var header: JournalHeader
    public var entries: [JournalEntry]

    public init(build: String, header: JournalHeader = JournalHeader(), entries: [JournalEntry] = []) {
        self.version = Self.currentVersion
        self.build = build
        self.header = header
        self.entries = entries
    }

    private enum CodingKeys: String, CodingKey { case version, build, header, attributes, entries }

    /// Reads every readable version; the value is then of the current version.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let version = try container.decode(Int.self, forKey: .version)
        guard Self.readableVersions.contains(version) else {
            throw DecodingError.dataCorruptedError(
                forKey: .version, in: container,
                debugDescription: "journal format version \(version) is not one this kiln reads "
                    + "(\(Self.readableVersions))")
        }
        self.version = Self.currentVersion
        build = try container.decode(String.self, forKey: .build)
        if version == 1 {
            let attributes = try container.decodeIfPresent([String: String].self, forKey: .attributes) ?? [:]
            header = JournalHeader(version1: attributes)
        } else {
            header = try container.decodeIfPresent(JournalHeader.self, forKey: .header) ?? JournalHeader()
        }
        entries = try container.decodeIfPresent([JournalEntry].self, forKey: .entries) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.currentVersion, forKey: .version)
        try container.encode(build, forKey: .build)
        try container.encode(header, forKey: .header)
        try container.encode(entries, forKey: .entries)
    }

    /// The latest entry recorded for `actionID`, i.e. the action's current phase.
    public func latest(for actionID: String) -> JournalEntry? {
        entries.last { $0.actionID == actionID }
    }

    /// The latest entry of every action that has one, keyed by action id.
    public var latestByAction: [String: JournalEntry] {
        var result: [String: JournalEntry] = [:]
        for entry in entries { result[entry.actionID] = entry }
        return result
    }
}

/// What a build's journal knows about its run beyond the actions' entries.
public struct JournalHeader: Codable, Sendable, Equatable {
    /// The id of the run the entries belong to (nil before the first run).
    public var run: String?
    /// The build's digest the run works towards.
    public var digest: String?
    /// How many times the build's run was restarted on a fresh disk (see `DesiredBuild.generation`).
    public var generation: Int
    /// The digest of what the build last published: kept across runs, so a plan can say
    /// which part of a changed build differs from it.
    public var published: BuildDigest?
    /// The gallery version `version: auto` chose for a digest (see `ChosenGalleryVersion`).
    public var galleryVersion: ChosenGalleryVersion?
    /// Who took the build's lock last (remote state: the lease holder, written when the
    /// lease is acquired; whether it still holds it is the lease's state).
    public var holder: FileLockHolder?
    /// How the build's last apply ended, by whichever VM ran it.
    public var outcome: BuildOutcome?

    public init(
        run: String? = nil, digest: String? = nil, generation: Int = 0, published: BuildDigest? = nil,
        galleryVersion: ChosenGalleryVersion? = nil, holder: FileLockHolder? = nil, outcome: BuildOutcome? = nil
    ) {
        self.run = run
        self.digest = digest
        self.generation = generation
        self.published = published
        self.galleryVersion = galleryVersion
        self.holder = holder
        self.outcome = outcome
    }

    private enum CodingKeys: String, CodingKey {
        case run, digest, generation, published, galleryVersion, holder, outcome
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        run = try container.decodeIfPresent(String.self, forKey: .run)
        digest = try container.decodeIfPresent(String.self, forKey: .digest)
        generation = try container.decodeIfPresent(Int.self, forKey: .generation) ?? 0
        published = try container.decodeIfPresent(BuildDigest.self, forKey: .published)
        galleryVersion = try container.decodeIfPresent(ChosenGalleryVersion.self, forKey: .galleryVersion)
        holder = try container.decodeIfPresent(FileLockHolder.self, forKey: .holder)
        outcome = try container.decodeIfPresent(BuildOutcome.self, forKey: .outcome)
    }

    /// The header of a version 1 journal, from its string attributes. An attribute that does
    /// not read (a generation that is no number, a published digest that is no JSON) reads as
    /// absent, as version 1 readers took it.
    init(version1 attributes: [String: String]) {
        run = attributes["run"]
        digest = attributes["digest"]
        generation = attributes["generation"].flatMap { Int($0) } ?? 0
        published = attributes["published"].flatMap { try? JSONDecoder().decode(BuildDigest.self, from: Data($0.utf8)) }
    }
}

/// How a build's apply ended: recorded in its journal, so that every VM of a fleet (and
/// `kiln status`) knows it, whichever VM ran it.
public struct BuildOutcome: Codable, Sendable, Equatable {
    public enum Result: String, Codable, Sendable {
        case succeeded, failed
    }
    public var result: Result
    /// The digest the run worked towards.
    public var digest: String
    public var at: Date
    /// The VM (name) that ran it, when known.
    public var vm: String?
    /// For a failure: the first failed action and its message.
    public var message: String?

    public init(result: Result, digest: String, at: Date = Date(), vm: String? = nil, message: String? = nil) {
        self.result = result
        self.digest = digest
        self.at = at
        self.vm = vm
        self.message = message
    }
}

/// One step in an action's life, as recorded in the journal.
public struct JournalEntry: Codable, Sendable, Equatable {
    /// The Reconciler's id for the action, e.g. `create-disk(os)`.
    public var actionID: String
    public var phase: JournalPhase
    /// The Azure resource the action is about, when there is one.
    public var resourceID: String?
    public var recordedAt: Date

    public init(actionID: String, phase: JournalPhase, resourceID: String? = nil, recordedAt: Date = Date()) {
        self.actionID = actionID
        self.phase = phase
        self.resourceID = resourceID
        self.recordedAt = recordedAt
    }
}

/// Where an action stands.
public enum JournalPhase: Sendable, Equatable {
    /// About to perform the mutation (written before the call).
    case intent
    /// The call returned a long-running operation; its polling URL lets a re-run re-join it.
    case started(operationURL: String)
    /// Finished; `result` holds what later actions need (resource ids, device paths …).
    case done(result: [String: String])
    /// Failed with this message.
    case failed(message: String)
}

extension JournalPhase: Codable {
    private enum CodingKeys: String, CodingKey { case kind, operationURL, result, message }
    private enum Kind: String, Codable { case intent, started, done, failed }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(Kind.self, forKey: .kind) {
        case .intent: self = .intent
        case .started: self = .started(operationURL: try container.decode(String.self, forKey: .operationURL))
        case .done: self = .done(result: try container.decodeIfPresent([String: String].self, forKey: .result) ?? [:])
        case .failed: self = .failed(message: try container.decode(String.self, forKey: .message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .intent:
            try container.encode(Kind.intent, forKey: .kind)
        case .started(let url):
            try container.encode(Kind.started, forKey: .kind)
            try container.encode(url, forKey: .operationURL)
        case .done(let result):
            try container.encode(Kind.done, forKey: .kind)
            try container.encode(result, forKey: .result)
        case .failed(let message):
            try container.encode(Kind.failed, forKey: .kind)
            try container.encode(message, forKey: .message)
        }
    }
}
