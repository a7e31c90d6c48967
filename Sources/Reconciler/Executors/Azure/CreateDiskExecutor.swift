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
        let ops = AzureOperations(arm: env.arm, context: context)

        try await ops.rejoin(fallbackMethod: .put, resource: id, timeout: timeout)
        if let existing = try await env.arm.getDisk(id) {
            let state = existing.properties?.provisioningState
            if AzureState.succeeded(state) { return .azure(id) }
            if AzureState.inProgress(state) {
                try await ops.waitForProvisioning(id, timeout: timeout)
                return .azure(id)
            }
            // Failed: PUT the same body again, which Azure retries in place.
            context.logger.notice("disk \(id.name) is \(state ?? "in an unknown state"); creating it again")
        }
        try context.checkInterruption()
        let body = try diskBody(d, role: role, action: action)
        let operation = try await env.arm.beginCreateDisk(id, body)
        _ = try await ops.recordAndWait(operation, timeout: timeout)
        return .azure(id)
    }

    /// The PUT body for a role's disk.
    func diskBody(_ d: DesiredBuild, role: DiskRole, action: Action) throws -> ArmDisk {
        let settings = d.build.disk
        var tags = d.tags
        tags[.role] = role.description
        let zones = d.zone.map { [$0] }
        switch role {
        case .os:
            var size = settings.sizeGB
            var hyperV = settings.hyperVGeneration?.rawValue
            let creation: ArmCreationData
            switch d.build.source {
            case .platformImage(let urn):
                guard let version = d.resolvedSourceVersion ?? urn.version,
                      let imageID = urn.resolved(to: version).versionID(subscription: d.subscription, location: d.location) else {
                    throw ExecutorError(action: action.id, message: "the platform image \(urn) has no resolved version; this is a bug in kiln (observation resolves latest)")
                }
                creation = ArmCreationData(createOption: "FromImage", imageReference: ArmImageDiskReference(id: imageID))
            case .disk:
                creation = ArmCreationData(createOption: "Copy", sourceResourceId: try sourceID(d, action))
            case .galleryImageVersion:
                creation = ArmCreationData(createOption: "FromImage", galleryImageReference: ArmImageDiskReference(id: try sourceID(d, action)))
            case .scratch(let sizeGB):
                creation = ArmCreationData(createOption: "Empty")
                size = max(sizeGB, size ?? 0)
                // An empty disk has no source to inherit a generation from.
                hyperV = hyperV ?? HyperVGeneration.v1.rawValue
            }
            return ArmDisk(location: d.location, tags: tags, sku: ArmSku(name: settings.storageAccountType.rawValue), zones: zones,
                           properties: .init(creationData: creation, diskSizeGB: size, osType: "Linux", hyperVGeneration: hyperV))
        case .data(let lun):
            let disk = try env.azureDataDisk(d, lun: lun, for: action)
            let creation: ArmCreationData
            switch disk.origin {
            case .empty:
                guard disk.sizeGB != nil else {
                    throw ExecutorError(action: action.id, message: "the empty data disk at LUN \(lun) has no sizeGB; set disk.dataDisks[lun \(lun)].sizeGB")
                }
                creation = ArmCreationData(createOption: "Empty")
            case .source:
                guard case .galleryImageVersion = d.build.source else {
                    throw ExecutorError(action: action.id, message: "the data disk at LUN \(lun) copies the source's data disk, but the source is a \(d.build.source.kindName), which has none; use origin: empty or a galleryImageVersion source")
                }
                creation = ArmCreationData(createOption: "FromImage", galleryImageReference: ArmImageDiskReference(id: try sourceID(d, action), lun: lun))
            }
            return ArmDisk(location: d.location, tags: tags, sku: ArmSku(name: disk.storageAccountType.rawValue), zones: zones,
                           properties: .init(creationData: creation, diskSizeGB: disk.sizeGB))
        }
    }

    private func sourceID(_ d: DesiredBuild, _ action: Action) throws -> String {
        guard let id = d.sourceID else {
            throw ExecutorError(action: action.id, message: "the \(d.build.source.kindName) source id was not rendered; this is a bug in kiln")
        }
        return id.description
    }
}
