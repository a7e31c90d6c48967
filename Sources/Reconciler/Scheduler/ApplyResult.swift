import Foundation
import Planner
import Providers

/// How an action ended up after an apply run.
public enum ActionFinalStatus: Sendable, Equatable {
    /// Done before this run; not run again.
    case alreadyDone
    /// Ran and finished in this run.
    case done
    /// Ran and failed; the journal has `failed` for it.
    case failed(message: String)
    /// Not run because `upstream`, which it depends on, failed.
    case skipped(upstream: ActionID)
    /// Not run because of a plan conflict, on the action itself or on `by`, which it depends on.
    case blocked(by: ActionID)
    /// Was running when the run was interrupted; its journal entries stay for the next run.
    case interrupted
    /// Never started because the run was interrupted first.
    case notStarted

    /// The name used in JSON and summaries.
    public var name: String {
        switch self {
        case .alreadyDone: "already-done"
        case .done: "done"
        case .failed: "failed"
        case .skipped: "skipped"
        case .blocked: "blocked"
        case .interrupted: "interrupted"
        case .notStarted: "not-started"
        }
    }
}

/// What a build published: the ids a pipeline picks up (`--artifact`).
public struct PublishedOutputs: Sendable, Equatable, Codable {
    public var build: String
    public var imageID: String?
    public var galleryImageVersionID: String?

    public init(build: String, imageID: String? = nil, galleryImageVersionID: String? = nil) {
        self.build = build
        self.imageID = imageID
        self.galleryImageVersionID = galleryImageVersionID
    }

    enum CodingKeys: String, CodingKey {
        case build
        case imageID = "image_id"
        case galleryImageVersionID = "gallery_image_version_id"
    }
}

/// The counts and outcome of a run, as the last event and in `ApplyResult`.
public struct ApplySummary: Sendable, Equatable, Codable {
    /// How the run ended.
    public enum Outcome: String, Sendable, Codable {
        case complete, failed, interrupted
    }

    public var outcome: Outcome
    /// Actions that ran and finished in this run.
    public var done: Int
    /// Actions that were done before this run.
    public var alreadyDone: Int
    public var failures: [ActionFailure]
    /// Not run because something they depend on failed.
    public var skipped: Int
    /// Not run because of a plan conflict.
    public var blocked: Int
    /// Running when interrupted.
    public var interrupted: Int
    /// Never started because of the interrupt.
    public var notStarted: Int
    public var outputs: [PublishedOutputs]

    /// The line a person reads at the end.
    public var message: String {
        switch outcome {
        case .complete:
            var text = "Apply complete: \(Self.count(done, "action")) done"
            if alreadyDone > 0 { text += ", \(alreadyDone) already done" }
            if blocked > 0 { text += ", \(blocked) blocked by conflicts (resolve them and run kiln apply again)" }
            return text + "."
        case .failed:
            var text = "Apply failed: \(Self.count(failures.count, "action")) failed"
            if skipped > 0 { text += ", \(skipped) not run because of \(failures.count == 1 ? "it" : "them")" }
            if blocked > 0 { text += ", \(blocked) blocked by conflicts" }
            text += ", \(done) done"
            if alreadyDone > 0 { text += ", \(alreadyDone) already done" }
            return text + ". Fix the cause and run kiln apply again to resume from the failed action."
        case .interrupted:
            var text = "Apply interrupted: \(done) done"
            if interrupted > 0 { text += ", \(interrupted) stopped while running" }
            if notStarted > 0 { text += ", \(notStarted) not started" }
            if !failures.isEmpty { text += ", \(failures.count) failed" }
            return text + ". The journal is saved; run kiln apply again to resume."
        }
    }

    private static func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }

    enum CodingKeys: String, CodingKey {
        case outcome, done, failures, skipped, blocked, interrupted, outputs
        case alreadyDone = "already_done"
        case notStarted = "not_started"
    }
}

/// The end of an apply run: each action's final status, the failures, whether the run
/// was interrupted, and what it published.
public struct ApplyResult: Sendable {
    /// Every action of the plan with its final status, in plan order.
    public var actions: [(id: ActionID, status: ActionFinalStatus)]
    public var summary: ApplySummary

    public var failures: [ActionFailure] { summary.failures }
    public var interrupted: Bool { summary.outcome == .interrupted }
    public var outputs: [PublishedOutputs] { summary.outputs }
    /// True when everything the plan asked for is done.
    public var succeeded: Bool { summary.outcome == .complete && summary.blocked == 0 }

    /// The final status of `id`.
    public func status(_ id: ActionID) -> ActionFinalStatus? {
        actions.first { $0.id == id }?.status
    }

    /// The `--artifact` document: the published ids per build, as JSON.
    public func artifactJSON() throws -> Data {
        struct Artifact: Encodable {
            var formatVersion = "1"
            var outcome: ApplySummary.Outcome
            var builds: [PublishedOutputs]
            enum CodingKeys: String, CodingKey {
                case formatVersion = "format_version"
                case outcome, builds
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(Artifact(outcome: summary.outcome, builds: outputs)) + Data("\n".utf8)
    }

    /// Writes `artifactJSON()` to `path` atomically, mode 0644 (pipelines read it).
    /// Throws `AtomicFileError` naming the path and the failing step.
    public func writeArtifact(to path: String) throws {
        try AtomicFile.write(artifactJSON(), to: path, mode: 0o644)
    }
}
