import Foundation
import Logging
import Model
import Planner
import Providers

/// `create-disk[os|lunN]`: creates the build's working disk for a role under its
/// deterministic name, from the build's source (platform image version, managed disk copy,
/// gallery image version, or empty for scratch and empty data disks).
///
/// Idempotent: a disk that exists and succeeded is adopted; one still being provisioned is
/// waited for; an operation journaled by an earlier run is re-joined, not re-issued.
struct CreateDiskExecutor: ActionExecutor {
    let env: ExecutorEnvironment
    let role: DiskRole

    func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        let d = try env.build(of: action)
        let id = d.diskID(role)
        let timeout = d.build.timeouts.azureOperation.duration
        let ops = AzureOperations(azure: env.azure, context: context)

        if try await ops.rejoin(fallbackMethod: .put, resource: id, timeout: timeout) { return .azure(id) }
        if let existing = try await ops.existing({ try await env.azure.disk(id) }) {
            let state = existing.provisioningState
            if state.isSucceeded { return .azure(id) }
            if state.isInProgress {
                try await ops.waitForProvisioning(id, timeout: timeout)
                return .azure(id)
            }
            // Failed: PUT the same body again, which Azure retries in place.
            context.logger.notice("disk \(id.name) is \(state.azureText ?? "in an unknown state"); creating it again")
        }
        try context.checkInterruption()
        let body = try diskBody(d, role: role, action: action)
        let operation = try await env.azure.beginCreateDisk(id, body)
        _ = try await ops.recordAndWait(operation, timeout: timeout)
        return .azure(id)
    }

    /// The PUT body for a role's disk.
    func diskBody(_ d: DesiredBuild, role: DiskRole, action: Action) throws -> AzureDisk {
        let settings = d.build.disk
        var tags = d.tags
        tags[.role] = role.description
        let zones = d.zone.map { [$0] }
        switch role {
        case .os:
            var size = settings.sizeGB
            var hyperV = settings.hyperVGeneration?.rawValue
            let creation: DiskSource
            switch d.build.source {
            case .platformImage(let urn):
                guard let version = d.resolvedSourceVersion ?? urn.version,
                    let imageID = urn.resolved(to: version).versionID(
                        subscription: d.subscription, location: d.location)
                else {
                    throw ExecutorError(
                        action: action.id,
                        message:
                            "the platform image \(urn) has no resolved version; this is a bug in kiln (observation resolves latest)"
                    )
                }
                creation = .image(id: imageID)
            case .disk:
                creation = .copy(sourceID: try sourceID(d, action))
            case .galleryImageVersion:
                creation = .galleryImageVersion(id: try sourceID(d, action), lun: nil)
            case .scratch(let sizeGB):
                creation = .empty
                size = max(sizeGB, size ?? 0)
                // An empty disk has no source to inherit a generation from.
                hyperV = hyperV ?? HyperVGeneration.v1.rawValue
            }
            var disk = AzureDisk(
                location: d.location, tags: tags, sku: settings.storageAccountType.rawValue, zones: zones,
                source: creation, sizeGB: size, osType: "Linux", hyperVGeneration: hyperV)
            // The OS disk boots as the images will (Trusted Launch, confidential): Azure
            // keeps the security type with the disk and what is made from it.
            disk.securityType = d.imageTraits?.diskSecurityType
            disk.diskEncryptionSetId = settings.diskEncryptionSetId
            return disk
        case .data(let lun):
            let disk = try env.azureDataDisk(d, lun: lun, for: action)
            let creation: DiskSource
            switch disk.origin {
            case .empty:
                guard disk.sizeGB != nil else {
                    throw ExecutorError(
                        action: action.id,
                        message:
                            "the empty data disk at LUN \(lun) has no sizeGB; set disk.dataDisks[lun \(lun)].sizeGB")
                }
                creation = .empty
            case .source:
                guard case .galleryImageVersion = d.build.source else {
                    throw ExecutorError(
                        action: action.id,
                        message:
                            "the data disk at LUN \(lun) copies the source's data disk, but the source is a \(d.build.source.kindName), which has none; use origin: empty or a galleryImageVersion source"
                    )
                }
                creation = .galleryImageVersion(id: try sourceID(d, action), lun: lun)
            }
            var azureDisk = AzureDisk(
                location: d.location, tags: tags, sku: disk.storageAccountType.rawValue, zones: zones,
                source: creation, sizeGB: disk.sizeGB)
            azureDisk.diskEncryptionSetId = settings.diskEncryptionSetId
            return azureDisk
        }
    }

    private func sourceID(_ d: DesiredBuild, _ action: Action) throws -> String {
        guard let id = d.sourceID else {
            throw ExecutorError(
                action: action.id,
                message: "the \(d.build.source.kindName) source id was not rendered; this is a bug in kiln")
        }
        return id.description
    }
}
