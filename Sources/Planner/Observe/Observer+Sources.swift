import Model
import Providers

extension SharedObservation {
    /// The traits of `d`'s source, read once for all the builds made from it: a platform
    /// image version's GET, a disk's GET, or a gallery version's GET and its definition's.
    /// nil for an empty disk, a missing disk or version, or a platform image version that
    /// does not exist (which the disk's creation reports).
    func sourceTraits(of d: DesiredBuild) async throws -> SourceTraits? {
        let azure = azure
        switch d.build.source {
        case .scratch:
            return nil
        case .platformImage(let urn):
            guard let version = d.resolvedSourceVersion ?? urn.version else { return nil }
            let resolved = urn.resolved(to: version)
            let subscription = d.subscription
            let location = d.location
            return try await sources.value(of: "platform \(resolved) \(location)".lowercased()) {
                guard
                    let image = try await azure.platformImage(
                        subscription: subscription, location: location, urn: resolved)
                else { return nil }
                return SourceTraits(
                    what: "the platform image \(resolved)",
                    hyperVGeneration: image.hyperVGeneration.flatMap { HyperVGeneration(rawValue: $0.uppercased()) },
                    architecture: Architecture(azure: image.architecture),
                    securityFeature: image.feature("SecurityType"), featureIsAuthoritative: true,
                    sizeGB: image.osDiskSizeGB)
            }
        case .disk:
            guard let id = d.sourceID else { return nil }
            return try await sources.value(of: "disk \(id)".lowercased()) {
                guard let disk = try await azure.disk(id) else { return nil }
                return SourceTraits(
                    what: "the source disk \(id.name)",
                    hyperVGeneration: disk.hyperVGeneration.flatMap { HyperVGeneration(rawValue: $0.uppercased()) },
                    architecture: Architecture(azure: disk.architecture), securityFeature: disk.securityType,
                    sizeGB: disk.sizeGB)
            }
        case .galleryImageVersion:
            guard let id = d.sourceID else { return nil }
            return try await sources.value(of: "version \(id)".lowercased()) {
                guard try await azure.galleryImageVersion(id, replicationStatus: false) != nil else { return nil }
                let definition = try await id.parent.asyncMap { try await azure.galleryImage($0) } ?? nil
                return SourceTraits(
                    what: "the source gallery image \(id.parent?.name ?? id.name)",
                    hyperVGeneration: definition?.hyperVGeneration.flatMap {
                        HyperVGeneration(rawValue: $0.uppercased())
                    },
                    architecture: Architecture(azure: definition?.architecture),
                    securityFeature: definition?.feature("SecurityType"), featureIsAuthoritative: definition != nil)
            }
        }
    }
}
