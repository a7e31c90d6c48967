import Foundation
import Logging
import Model
import Planner
import Providers

/// The journal discipline every Azure executor shares: record an operation before waiting
/// for it, re-join a recorded one instead of issuing the call again, and wait so that the
/// user's interrupt ends the wait (the operation goes on in Azure and is re-joined next run).
struct AzureOperations {
    let azure: any AzureCompute
    let context: ExecutionContext

    /// The journal form of an operation: its handle as JSON (URLs and names, no secrets).
    static func encode(_ handle: OperationHandle) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(handle), as: UTF8.self)
    }

    /// Reads a journaled operation back. A bare URL (written by an older Kiln, or by hand)
    /// is taken as the `Azure-AsyncOperation` URL of `fallbackMethod` on `resource`.
    static func decode(
        _ text: String, fallbackMethod: AzureHTTPMethod, resource: ResourceID,
        azure: any AzureCompute
    ) -> OperationHandle? {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        if let handle = try? decoder.decode(OperationHandle.self, from: Data(text.utf8)) { return handle }
        guard let url = URL(string: text), url.scheme != nil else { return nil }
        return OperationHandle(
            operation: "\(fallbackMethod.rawValue) \(resource.name)", resource: resource.description,
            method: fallbackMethod,
            resourceURL: azure.resourceURL(resource), asyncOperationURL: url, startedAt: Date())
    }

    /// What `read` finds, for the executor to adopt; nil, without the read, when this run's
    /// plan observed the resource missing (`Action.absentWhenPlanned`: the plan is made
    /// afresh under the build's lock right before apply runs it, so nothing made it since).
    func existing<T>(_ read: () async throws -> T?) async throws -> T? {
        context.action.absentWhenPlanned ? nil : try await read()
    }

    /// Records `handle` in the journal; done before any wait so a crash leaves it there.
    func record(_ handle: OperationHandle) async throws {
        try await context.recordOperation(Self.encode(handle))
    }

    /// When the plan says the action is in flight: waits for the operation an earlier run
    /// started (whatever step of the action it was) and returns true once it succeeded;
    /// false when there was none, or when it ended `Failed` — then Azure's reason is shown
    /// (as the action's progress) and the caller goes on with its idempotent path, which
    /// issues the call again (a resource left `Failed` is PUT again), so a failure that
    /// happened while no Kiln watched costs no extra apply.
    @discardableResult
    func rejoin(
        fallbackMethod: AzureHTTPMethod, resource: ResourceID, timeout: Duration,
        progress: (@Sendable (Double) -> Void)? = nil
    ) async throws -> Bool {
        guard let text = context.operationToRejoin,
            let handle = Self.decode(text, fallbackMethod: fallbackMethod, resource: resource, azure: azure)
        else { return false }
        context.logger.info("re-joining \(handle.operation) started by an earlier run")
        do {
            try await wait(azure.operation(resuming: handle), timeout: timeout, progress: progress)
            return true
        } catch let error as ArmError where error.kind == .operationFailed {
            context.logger.notice("the operation an earlier run started failed; trying again: \(error)")
            context.reportProgress(
                detail: "the operation an interrupted run started did not succeed (\(error)); trying again")
            return false
        }
    }

    /// Journals and waits for an operation just started.
    func recordAndWait(
        _ operation: any AzureOperation, timeout: Duration,
        progress: (@Sendable (Double) -> Void)? = nil
    ) async throws {
        try await record(operation.handle)
        return try await wait(operation, timeout: timeout, progress: progress)
    }

    /// Waits for a resource that exists but is still being provisioned (e.g. created by a
    /// run whose journal was lost): polls the resource itself, never re-sends the PUT.
    func waitForProvisioning(
        _ id: ResourceID, timeout: Duration, progress: (@Sendable (Double) -> Void)? = nil
    ) async throws {
        let operation = azure.operation(resuming: azure.provisioningHandle(of: id))
        try await wait(operation, timeout: timeout, progress: progress)
    }

    /// Waits for `operation`, handing `progress` each percentage its polls report; ends
    /// early with `ActionInterrupted` when the user interrupts (a safe point: the operation
    /// is journaled) and with `CancellationError` when the run is cancelled.
    func wait(
        _ operation: any AzureOperation, timeout: Duration,
        progress: (@Sendable (Double) -> Void)? = nil
    ) async throws {
        try context.checkInterruption()
        let actionID = context.action.id
        try await context.interrupts.unlessInterrupted(throwing: { ActionInterrupted(action: actionID) }) {
            try await operation.waitUntilDone(timeout: timeout, progress: progress)
        }
    }
}

// MARK: - Shared helpers

extension ExecutorEnvironment {
    /// The manifest's data disk at a role's LUN.
    func azureDataDisk(_ d: DesiredBuild, lun: Int, for action: Action) throws -> DataDisk {
        guard let disk = d.build.disk.dataDisks.first(where: { $0.lun == lun }) else {
            throw ExecutorError(
                action: action.id, message: "the manifest has no data disk at LUN \(lun); this is a bug in kiln")
        }
        return disk
    }

    /// The Azure resource an action names in its `resource` (a leftover, an output to
    /// delete), parsed; an action without one is a bug of the planner.
    func azureResource(of action: Action) throws -> ResourceID {
        guard let text = action.resource else {
            throw ExecutorError(action: action.id, message: "the action names no Azure resource; this is a bug in kiln")
        }
        do {
            return try ResourceID(parsing: text)
        } catch {
            throw ExecutorError(action: action.id, message: error.description)
        }
    }

    /// The Hyper-V generation of the build's OS disk: the manifest's, else what Azure
    /// recorded on the OS disk (inherited from the source), else V1.
    func osHyperVGeneration(_ d: DesiredBuild, action: Action) async throws -> String {
        if let g = d.build.disk.hyperVGeneration { return g.rawValue }
        if let g = try await azure.disk(d.diskID(.os))?.hyperVGeneration { return g }
        return HyperVGeneration.v1.rawValue
    }

    /// The Hyper-V generation the build's OS disk has, known before the disk exists (the
    /// gallery's image definition is made from the start): the manifest's (V1 for scratch),
    /// else the source's, which the disk inherits — the platform image version's, the
    /// managed disk's, the gallery image version's definition's; else as `osHyperVGeneration`.
    func sourceHyperVGeneration(_ d: DesiredBuild, action: Action) async throws -> String {
        if let g = d.build.disk.hyperVGeneration { return g.rawValue }
        var found: String?
        switch d.build.source {
        case .platformImage(let urn):
            if let version = d.resolvedSourceVersion ?? urn.version {
                found = try await azure.platformImage(
                    subscription: d.subscription, location: d.location,
                    urn: urn.resolved(to: version))?.hyperVGeneration
            }
        case .disk:
            if let source = d.sourceID { found = try await azure.disk(source)?.hyperVGeneration }
        case .galleryImageVersion:
            if let source = d.sourceID, let definition = source.parent {
                found = try await azure.galleryImage(definition)?.hyperVGeneration
            }
        case .scratch:
            break
        }
        if let found { return found }
        return try await osHyperVGeneration(d, action: action)
    }
}

/// A function returning the time elapsed on `clock` since the call.
func azureStopwatch<C: Clock>(on clock: C) -> @Sendable () -> Duration where C.Duration == Duration {
    let start = clock.now
    return { start.duration(to: clock.now) }
}

extension ActionOutcome {
    /// The outcome of an action that created or adopted `id`.
    static func azure(_ id: ResourceID) -> ActionOutcome {
        ActionOutcome(resourceID: id)
    }
}
