import Foundation
import Planner

/// Every executor of `kiln apply` (and `kiln destroy`), chosen by the action's step in one
/// exhaustive `switch`: a new kind of action does not compile until it has an executor, and
/// executors about one disk, region or provisioning step get it typed from the step.
public struct Executors: ActionExecutor {
    public let env: ExecutorEnvironment
    /// The directory of the manifest file: scripts and uploads are relative to it.
    public let manifestDirectory: URL
    /// How often `replicate` polls a region's replication status when no operation of this
    /// run has shown it complete; nil keeps its own interval (tests shorten it).
    public var galleryPollInterval: Duration?

    public init(_ env: ExecutorEnvironment, manifestDirectory: URL, galleryPollInterval: Duration? = nil) {
        self.env = env
        self.manifestDirectory = manifestDirectory
        self.galleryPollInterval = galleryPollInterval
    }

    /// The executor that performs `step`.
    public func executor(for step: ActionStep) -> any ActionExecutor {
        switch step {
        // The source is resolved while observing; the action only marks that in the DAG.
        case .resolveSource: NothingToDo()
        case .createDisk(let role): CreateDiskExecutor(env: env, role: role)
        case .takeOver(let role): TakeOverExecutor(env: env, role: role)
        case .attach(let role): AttachExecutor(env: env, role: role)
        case .device(let role): DeviceExecutor(env: env, role: role)
        case .preMount: HostCommandsExecutor(env: env, phase: .preMount)
        case .mount: MountExecutor(env: env)
        case .postMount: HostCommandsExecutor(env: env, phase: .postMount)
        case .chrootMounts: ChrootMountsExecutor(env: env)
        case .copyFiles: CopyFilesExecutor(env: env)
        case .provision(let name): ProvisionExecutor(env: env, manifestDirectory: manifestDirectory, step: name)
        case .preUnmount: HostCommandsExecutor(env: env, phase: .preUnmount)
        case .restoreFiles: RestoreFilesExecutor(env: env)
        case .unmount: UnmountExecutor(env: env)
        case .detach(let role): DetachExecutor(env: env, role: role)
        case .image: ImageExecutor(env: env)
        case .galleryDefinition: GalleryDefinitionExecutor(env: env)
        case .galleryVersion: GalleryVersionExecutor(env: env)
        case .updateGalleryVersion: UpdateGalleryVersionExecutor(env: env)
        case .replicate(let region):
            galleryPollInterval.map { ReplicateExecutor(env: env, region: region, pollInterval: $0) }
                ?? ReplicateExecutor(env: env, region: region)
        case .deleteSnapshot(let role): DeleteSnapshotExecutor(env: env, role: role)
        case .deleteDisk(let role): DeleteDiskExecutor(env: env, role: role)
        case .releaseLeftover: ReleaseLeftoverExecutor(env: env)
        // Only `kiln destroy --outputs` plans these.
        case .deleteImage: DeleteOutputExecutor(env: env, output: .image)
        case .deleteGalleryVersion: DeleteOutputExecutor(env: env, output: .galleryVersion)
        }
    }

    public func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        try await executor(for: action.id.step).execute(action, context: context)
    }

    struct NothingToDo: ActionExecutor {
        func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome { .none }
    }
}
