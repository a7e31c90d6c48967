import Foundation
import Model

/// What Kiln asks of Azure, in domain terms: disks, snapshots, managed images, galleries
/// with their image definitions and versions (and replication), the builder VM's data
/// disks, platform images, the resources of a resource group, and long-running operations.
///
/// `ArmCompute` is the implementation over ARM's REST API; `InMemoryCompute` is its twin
/// for tests, with resources kept in memory and operations taking time on a `Clock`.
///
/// Reads return nil for a resource that does not exist. Mutations start an operation and
/// return it at once: its `handle` is what the journal keeps, and `operation(resuming:)`
/// rebuilds it in a later run to wait for it instead of starting it again. Errors are
/// `ArmError`s (operation, resource, Azure's code and message); cancelling the task ends a
/// call or a wait with `CancellationError`, and the operation goes on in Azure.
public protocol AzureCompute: Sendable {
    // MARK: Disks and snapshots

    func disk(_ id: ResourceID) async throws -> AzureDisk?
    /// Creates or replaces a disk.
    func beginCreateDisk(_ id: ResourceID, _ disk: AzureDisk) async throws -> any AzureOperation
    /// Deletes a disk; a missing one is already deleted.
    func beginDeleteDisk(_ id: ResourceID) async throws -> any AzureOperation

    func snapshot(_ id: ResourceID) async throws -> AzureSnapshot?
    func beginCreateSnapshot(_ id: ResourceID, _ snapshot: AzureSnapshot) async throws -> any AzureOperation
    func beginDeleteSnapshot(_ id: ResourceID) async throws -> any AzureOperation

    // MARK: Managed images

    func image(_ id: ResourceID) async throws -> AzureImage?
    func beginCreateImage(_ id: ResourceID, _ image: AzureImage) async throws -> any AzureOperation
    func beginDeleteImage(_ id: ResourceID) async throws -> any AzureOperation

    // MARK: Galleries

    func gallery(_ id: ResourceID) async throws -> AzureGallery?
    func beginCreateGallery(_ id: ResourceID, _ gallery: AzureGallery) async throws -> any AzureOperation
    func galleryImage(_ id: ResourceID) async throws -> AzureGalleryImage?
    func beginCreateGalleryImage(_ id: ResourceID, _ definition: AzureGalleryImage) async throws -> any AzureOperation
    /// Reads an image version; with `replicationStatus`, its per-region replication too.
    func galleryImageVersion(_ id: ResourceID, replicationStatus: Bool) async throws -> AzureGalleryImageVersion?
    /// Every version of an image definition (none when the definition does not exist).
    func galleryImageVersions(of definition: ResourceID) async throws -> [AzureGalleryImageVersion]
    func beginCreateGalleryImageVersion(
        _ id: ResourceID, _ version: AzureGalleryImageVersion
    ) async throws -> any AzureOperation
    /// Sets a version's publishing profile to `profile`: target regions and
    /// exclude-from-latest when given, and the end-of-life date always (nil removes it).
    func beginUpdatePublishingProfile(_ id: ResourceID, _ profile: PublishingProfile) async throws -> any AzureOperation
    func beginDeleteGalleryImageVersion(_ id: ResourceID) async throws -> any AzureOperation

    // MARK: Virtual machines

    /// The data disks of a VM; nil when the VM does not exist.
    func dataDisks(of vm: ResourceID) async throws -> [VMDataDisk]?

    /// Attaches and detaches managed disks of a VM in one change and waits for Azure to
    /// finish. Returns, per change in the order given, a LUN: where the disk is attached
    /// now, or where a detached disk was (nil: it was not attached, so nothing was done for
    /// it). A disk to attach that the VM already has is adopted at its LUN; each new one
    /// gets the lowest free LUN (0 included) within `maxDataDisks`, else the error has code
    /// `ArmClient.maxDataDisksReached`. Everything runs inside `lock`; `ensureNotInUse` runs
    /// for each disk to detach before anything is sent (its error passes through), and
    /// `onStarted` receives the operation's handle once Azure accepted the change.
    func updateDataDisks(
        _ changes: [DataDiskChange], on vm: ResourceID, maxDataDisks: Int,
        lock: any DataDiskLUNLock, timeout: Duration,
        ensureNotInUse: @escaping @Sendable (_ disk: ResourceID, _ lun: Int) async throws -> Void,
        onStarted: @escaping @Sendable (OperationHandle) async throws -> Void
    ) async throws -> [Int?]

    // MARK: Platform images

    /// `urn` with `latest` replaced by the numerically highest version in `location`; a
    /// concrete version is returned unchanged.
    func resolvePlatformImage(
        subscription: String, location: String, urn: PlatformImageURN
    ) async throws -> PlatformImageURN
    /// A concrete platform image version's traits (generation, architecture, features, OS
    /// disk size); nil when the version does not exist.
    func platformImage(
        subscription: String, location: String, urn: PlatformImageURN
    ) async throws -> AzurePlatformImage?

    // MARK: Resources

    /// Every resource of a resource group, with its tags.
    func resources(subscription: String, resourceGroup: String) async throws -> [AzureTaggedResource]

    // MARK: Operations

    /// Rebuilds an operation from a stored handle, to wait for it instead of starting it
    /// again. A handle that names no operation (only its resource) waits until the resource
    /// is provisioned (or, for a DELETE, gone).
    func operation(resuming handle: OperationHandle) -> any AzureOperation

    /// The URL a handle names the resource `id` by (its `resourceURL`).
    func resourceURL(_ id: ResourceID) -> URL
}

/// A long-running Azure operation, started by an `AzureCompute` call or rebuilt from its
/// handle.
public protocol AzureOperation: Sendable {
    /// Store this to re-join the operation later.
    var handle: OperationHandle { get }

    /// Waits for the operation to end. Throws `ArmError` (`.operationFailed` when Azure
    /// reports failure, `.operationTimedOut` when `timeout` passes first: the operation may
    /// still be running and its handle can be waited on again) or `CancellationError`.
    /// `progress` receives the operation's own percentage whenever a poll reports one.
    /// Only the outcome is waited for: no resource is read once the operation says it succeeded.
    func waitUntilDone(timeout: Duration, progress: (@Sendable (Double) -> Void)?) async throws
}

extension AzureOperation {
    /// Waits for the operation to end, with no progress reporting.
    public func waitUntilDone(timeout: Duration) async throws {
        try await waitUntilDone(timeout: timeout, progress: nil)
    }
}

extension AzureCompute {
    /// A handle that waits for the resource `id` to be provisioned, for a resource that
    /// exists but is still being created by someone else (or by a run whose journal was
    /// lost): it polls the resource, never re-sends the request that made it.
    public func provisioningHandle(of id: ResourceID) -> OperationHandle {
        OperationHandle(
            operation: "provisioning of \(id.name)", resource: id.description, method: .put,
            resourceURL: resourceURL(id), startedAt: Date())
    }

    /// Attaches and detaches with no check before a detach and no journal.
    public func updateDataDisks(
        _ changes: [DataDiskChange], on vm: ResourceID, maxDataDisks: Int,
        lock: any DataDiskLUNLock, timeout: Duration
    ) async throws -> [Int?] {
        try await updateDataDisks(
            changes, on: vm, maxDataDisks: maxDataDisks, lock: lock, timeout: timeout,
            ensureNotInUse: { _, _ in }, onStarted: { _ in })
    }
}
