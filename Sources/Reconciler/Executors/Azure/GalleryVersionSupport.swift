import Foundation
import Logging
import Model
import Planner
import Providers

/// The gallery version `d` publishes; the planner plans gallery actions only for builds that
/// publish one.
func desiredGalleryVersion(_ d: DesiredBuild, action: Action) throws -> DesiredGalleryVersion {
    guard let g = d.gallery else {
        throw ExecutorError(action: action.id, message: "the build publishes no gallery version; this is a bug in kiln")
    }
    return g
}

/// The build's gallery image version id and its definition's and gallery's.
func galleryIDs(_ d: DesiredBuild, env: ExecutorEnvironment, action: Action) throws -> (
    version: ResourceID, definition: ResourceID, gallery: ResourceID
) {
    let g = try desiredGalleryVersion(d, action: action)
    let versionID = g.id
    guard let definitionID = versionID.parent, let galleryID = definitionID.parent,
        versionID.isType("Microsoft.Compute/galleries/images/versions")
    else {
        throw ExecutorError(action: action.id, message: "\(g.id) is not a gallery image version id")
    }
    return (versionID, definitionID, galleryID)
}

extension ActionOutcome {
    /// This outcome, saying that the version's operation, seen to succeed, replicated to every
    /// target region of `g` (Azure ends a version's PUT or PATCH only then).
    func replicated(to g: DesiredGalleryVersion) -> ActionOutcome {
        var outcome = self
        outcome.replicatedRegions = g.regionNames
        return outcome
    }
}

/// The publishing profile the manifest asks for `d`'s version. A region's encryption set
/// covers the OS disk image and every data disk image (each named by its LUN).
func galleryPublishingProfile(_ d: DesiredBuild) -> PublishingProfile? {
    guard let g = d.gallery else { return nil }
    let luns = d.build.disk.dataDisks.map(\.lun).sorted()
    // No target regions: Azure's default, the gallery's own region.
    return PublishingProfile(
        targetRegions: g.targetRegions.isEmpty
            ? nil
            : g.targetRegions.map {
                .init(
                    name: $0.name, replicas: $0.replicas, storageAccountType: $0.storageAccountType.rawValue,
                    excludeFromLatest: $0.excludeFromLatest, diskEncryptionSetId: $0.diskEncryptionSetId,
                    dataDiskLUNs: $0.diskEncryptionSetId == nil ? [] : luns)
            },
        excludeFromLatest: g.excludeFromLatest, endOfLifeDate: g.endOfLifeDate?.rfc3339,
        replicationMode: g.replicationMode == .full ? nil : g.replicationMode.rawValue)
}
