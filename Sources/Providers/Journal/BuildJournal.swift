import Foundation

/// The record of one build's apply runs: what Kiln meant to do, which Azure operations it
/// started, and what finished. A re-run reads it to resume instead of redoing work.
///
/// Format (JSON, mode 0600): `{"version": 1, "build": …, "attributes": {…}, "entries": [ … ]}`.
/// Entries are only appended; the current state of an action is its latest entry
/// (`latest(for:)`). Action ids and attribute keys are opaque strings chosen by the
/// Reconciler (e.g. the run id and content digest a resumed run must reuse).
public struct BuildJournal: Codable, Sendable, Equatable {
    /// The only format version this Kiln reads and writes.
    public static let currentVersion = 1

    public var version: Int
    /// The build's name (one journal per build).
    public var build: String
    /// Facts about the build's run that must survive a restart (run id, digest, …).
    public var attributes: [String: String]
    public var entries: [JournalEntry]

    public init(build: String, attributes: [String: String] = [:], entries: [JournalEntry] = []) {
        self.version = Self.currentVersion
        self.build = build
        self.attributes = attributes
        self.entries = entries
    }

    private enum CodingKeys: String, CodingKey { case version, build, attributes, entries }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        version = try container.decode(Int.self, forKey: .version)
        build = try container.decode(String.self, forKey: .build)
        attributes = try container.decodeIfPresent([String: String].self, forKey: .attributes) ?? [:]
        entries = try container.decodeIfPresent([JournalEntry].self, forKey: .entries) ?? []
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
