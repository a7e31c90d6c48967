import Model
import Planner

/// Performs one action of a plan: creates a disk, attaches it, runs a provisioning step …
///
/// Contract:
/// * Idempotent: the scheduler may hand the same action to an executor again in a later
///   run (after a crash, or after a failure was fixed). Adopt what already exists.
/// * An executor that starts an Azure long-running operation calls
///   `context.recordOperation(_:)` with its polling URL *before* waiting for it, so that
///   a crash while waiting leaves the URL in the journal. An action whose status is
///   in-flight carries that URL (`context.operationToRejoin`): poll it, do not issue the
///   call again.
/// * Return only once the effect is observable (e.g. the disk reads `Succeeded`), so that
///   dependents start on a verified world.
/// * Honour interruption: between steps and while waiting, call
///   `context.checkInterruption()` or wait with `context.sleep(for:)`; both throw once the
///   user interrupts. Stop only where a re-run can resume (never between a call and
///   recording its operation URL).
/// * Never put secrets (tokens, keys, passwords, secret environment values) into
///   results, progress details or error messages: they are journaled and printed as given.
/// * Throws to fail the action; an error conforming to `ReportableActionError` gives the
///   user the command and the last lines of its output.
public protocol ActionExecutor: Sendable {
    /// Performs `action` and returns what later actions and the journal need.
    func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome
}

/// What a finished action leaves for later actions and for the user (resource ids, the
/// device and LUN of a disk, …), journaled with the action's `done` entry.
public struct ActionOutcome: Sendable, Equatable {
    /// The Azure resource the action created or adopted.
    public var resourceID: ResourceID?
    /// The block device path (e.g. `/dev/loop3p1`).
    public var device: String?
    /// Where an attached disk sits on the builder VM.
    public var lun: Int?
    /// The root's mount point on the builder VM (`mount`, `chroot-mounts`).
    public var mountPath: String?
    /// A published managed image's id: collected into `ApplyResult.outputs`.
    public var imageID: ResourceID?
    /// A published gallery image version's id: collected into `ApplyResult.outputs`.
    public var galleryImageVersionID: ResourceID?
    /// The region the resource lives in (`gallery-definition`: the gallery's, where the
    /// version must be created).
    public var location: String?
    /// The region a replication reached, normalised (`replicate`).
    public var region: String?
    /// The digest of the provisioning step that ran (`provision`): a later plan counts the
    /// step done only while the manifest's step has the same one.
    public var stepDigest: String?
    /// The target regions (normalised) a gallery version's operation, seen to succeed in
    /// this run, replicated to (`gallery-version`, `update-gallery-version`): Azure ends a
    /// version's PUT or PATCH only once every target region has replicated, so `replicate`
    /// needs no read. Not journaled: a later run reads the regions' status instead.
    public var replicatedRegions: [String]?

    public init(
        resourceID: ResourceID? = nil, device: String? = nil, lun: Int? = nil, mountPath: String? = nil,
        imageID: ResourceID? = nil, galleryImageVersionID: ResourceID? = nil, location: String? = nil,
        region: String? = nil, stepDigest: String? = nil
    ) {
        self.resourceID = resourceID
        self.device = device
        self.lun = lun
        self.mountPath = mountPath
        self.imageID = imageID
        self.galleryImageVersionID = galleryImageVersionID
        self.location = location
        self.region = region
        self.stepDigest = stepDigest
    }

    /// An action that leaves nothing to record beyond its completion.
    public static let none = ActionOutcome()

    /// The names of the outcome's fields in the journal's `done` entries.
    enum Key {
        static let resourceID = "resourceId"
        static let device = "device"
        static let lun = "lun"
        static let mountPath = "mountPath"
        static let imageID = "imageId"
        static let galleryImageVersionID = "galleryImageVersionId"
        static let location = "location"
        static let region = "region"
        static let stepDigest = JournalView.stepDigestKey
    }

    /// The outcome as the journal records it: one string per field that is set.
    public var journaled: [String: String] {
        var out: [String: String] = [:]
        out[Key.resourceID] = resourceID?.description
        out[Key.device] = device
        out[Key.lun] = lun.map(String.init)
        out[Key.mountPath] = mountPath
        out[Key.imageID] = imageID?.description
        out[Key.galleryImageVersionID] = galleryImageVersionID?.description
        out[Key.location] = location
        out[Key.region] = region
        out[Key.stepDigest] = stepDigest
        return out
    }

    /// Reads a journaled outcome back. A field whose text does not read as its type (edited
    /// by hand) is absent, as are keys Kiln does not write.
    public init(journaled result: [String: String]) {
        self.init(
            resourceID: result[Key.resourceID].flatMap { try? ResourceID(parsing: $0) },
            device: result[Key.device], lun: result[Key.lun].flatMap { Int($0) }, mountPath: result[Key.mountPath],
            imageID: result[Key.imageID].flatMap { try? ResourceID(parsing: $0) },
            galleryImageVersionID: result[Key.galleryImageVersionID].flatMap { try? ResourceID(parsing: $0) },
            location: result[Key.location], region: result[Key.region], stepDigest: result[Key.stepDigest])
    }
}
