import Foundation
import Logging
import Model
import Planner
import Providers

/// `image`: the managed image (`DesiredBuild.imageID`) made straight from the build's disks
/// (unmounted and flushed; the detach may still be running), tagged with the build's digest.
///
/// An image with this build's digest is adopted. One that Kiln made for another digest
/// (the plan says `-/+`) is deleted first and made again; one without Kiln's digest tag is
/// never touched (the planner reports it as a conflict; this refuses too).
struct ImageExecutor: ActionExecutor {
    let env: ExecutorEnvironment

    func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        let d = try env.build(of: action)
        guard let id = d.imageID else {
            throw ExecutorError(
                action: action.id, message: "the build publishes no managed image; this is a bug in kiln")
        }
        let timeout = d.build.timeouts.azureOperation.duration
        let ops = AzureOperations(azure: env.azure, context: context)
        let outcome = ActionOutcome(resourceID: id, imageID: id)

        if try await ops.rejoin(fallbackMethod: .put, resource: id, timeout: timeout) { return outcome }
        if let existing = try await ops.existing({ try await env.azure.image(id) }) {
            let state = existing.provisioningState
            guard let digest = existing.tags?[.digest] else {
                throw ExecutorError(
                    action: action.id,
                    message:
                        "image \(id.name) exists and was not made by Kiln (no kiln:digest tag); Kiln never replaces what it did not create: delete it, or choose another outputs.image.id"
                )
            }
            if digest == d.digest.value && !state.isFailed {
                if state.isInProgress { try await ops.waitForProvisioning(id, timeout: timeout) }
                return outcome
            }
            // Kiln's image of another digest (or a failed one): managed images cannot be
            // updated in place, so replace it.
            context.logger.info(
                "deleting image \(id.name) (digest \(digest.dropFirst(7).prefix(12)), \(state.azureText ?? "unknown state")) to replace it"
            )
            try context.checkInterruption()
            let deletion = try await env.azure.beginDeleteImage(id)
            _ = try await ops.recordAndWait(deletion, timeout: timeout)
        }
        try context.checkInterruption()
        let body = try imageBody(d, action: action)
        let operation = try await env.azure.beginCreateImage(id, body)
        _ = try await ops.recordAndWait(operation, timeout: timeout)
        return outcome
    }

    func imageBody(_ d: DesiredBuild, action: Action) throws -> AzureImage {
        let settings = d.build.disk
        let encryption = d.build.outputs.image?.diskEncryptionSetId
        let osDisk = AzureImage.Disk(
            source: .managedDisk(id: d.diskID(.os).description), caching: settings.cacheType.rawValue,
            storageAccountType: settings.storageAccountType.rawValue, diskEncryptionSetId: encryption)
        let dataDisks = try d.roles.compactMap { role -> AzureImage.Disk? in
            guard case .data(let lun) = role else { return nil }
            let disk = try env.azureDataDisk(d, lun: lun, for: action)
            return AzureImage.Disk(
                lun: lun, source: .managedDisk(id: d.diskID(role).description), caching: disk.cacheType.rawValue,
                storageAccountType: disk.storageAccountType.rawValue, diskEncryptionSetId: encryption)
        }
        // Made from the disk, the image takes the disk's generation when none is sent (the
        // spec's `hyperVGeneration`: deduced from a managed disk source; Packer's azure-chroot
        // never sends it): only the manifest's own choice is sent.
        let generation = d.build.disk.hyperVGeneration?.rawValue
        return AzureImage(
            location: d.location, tags: d.tags, osType: "Linux", osState: "Generalized", osDisk: osDisk,
            dataDisks: dataDisks.isEmpty ? nil : dataDisks, hyperVGeneration: generation)
    }
}
