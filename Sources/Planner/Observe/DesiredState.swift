import Foundation
import Model

/// Why a build cannot be turned into desired state on this VM.
public struct DesiredStateError: Error, Sendable, CustomStringConvertible {
    public var build: String
    public var message: String
    public var description: String { "build \(build): \(message)" }
}

/// Renders a manifest's builds for one builder VM: templates filled in, `latest` resolved,
/// digests computed. Pure apart from reading the provisioning files for the digest.
public enum DesiredState {
    /// - Parameters:
    ///   - resolvedVersions: the concrete version of each `latest` platform image, keyed by
    ///     the URN's description (`publisher:offer:sku:latest`).
    ///   - galleryLatest: the version a gallery source ending in `/versions/latest` resolved
    ///     to, by build name (see `latestGallerySources`).
    public static func builds(
        _ manifest: Manifest, vm: BuilderVM, resolvedVersions: [String: String] = [:],
        galleryLatest: [String: String] = [:], environment: [String: String] = [:]
    ) throws -> [DesiredBuild] {
        let base = URL(fileURLWithPath: manifest.file).deletingLastPathComponent()
        let vmValues = vm.templateValues
        return try manifest.builds.map { build in
            var build = build
            let values = TemplateValues(variables: ["BuildName": build.name], vm: vmValues, environment: environment)
            func render(_ text: String) throws -> String {
                do {
                    return try Template(parsing: text, allowed: ["BuildName"]).render(values, mode: .plain)
                } catch {
                    throw DesiredStateError(build: build.name, message: "cannot render '\(text)': \(error)")
                }
            }
            func parseID(_ text: String) throws -> ResourceID {
                do {
                    return try ResourceID(parsing: text)
                } catch {
                    throw DesiredStateError(build: build.name, message: error.description)
                }
            }
            func renderID(_ text: String) throws -> ResourceID { try parseID(try render(text)) }
            var resolved: String?
            var latestNote: String?
            // A gallery source's `latest` becomes the version it names now, digest included.
            if case .galleryImageVersion(let id) = build.source, let definition = try latestDefinition(render(id)) {
                guard let version = galleryLatest[build.name] else {
                    throw DesiredStateError(
                        build: build.name, message: "\(definition) has no version to take as latest")
                }
                build.source = .galleryImageVersion(definition.child("versions", version).description)
                latestNote = "source: \(definition.name)'s latest version is \(version)"
            }
            if case .platformImage(let urn) = build.source {
                if urn.isLatest {
                    guard let v = resolvedVersions[urn.description] else {
                        throw DesiredStateError(build: build.name, message: "\(urn) has no version in \(vm.location)")
                    }
                    resolved = v
                } else {
                    resolved = urn.version
                }
            }
            let digest = try BuildDigest.compute(
                for: build, baseDirectory: base, resolvedPlatformVersion: resolved, values: values)
            let subscription = try manifest.azure.subscription.map(render) ?? vm.id.subscription
            var gallery: DesiredGalleryVersion?
            if let g = build.outputs.gallery, !build.outputs.skip {
                let sub = try g.subscription.map(render) ?? subscription
                let definitionID = try parseID(
                    "/subscriptions/\(sub)/resourceGroups/\(try render(g.resourceGroup))/providers/Microsoft.Compute/galleries/\(try render(g.gallery))/images/\(try render(g.imageDefinition))"
                )
                var regions = try g.targetRegions.map { r in
                    var region = r
                    region.name = RegionName.normalized(try render(r.name))
                    region.diskEncryptionSetId = try r.diskEncryptionSetId.map(render)
                    return region
                }
                if regions.isEmpty { regions = [TargetRegion(name: vm.location)] }
                gallery = DesiredGalleryVersion(
                    definitionID: definitionID, version: g.version, targetRegions: regions,
                    excludeFromLatest: g.excludeFromLatest, endOfLifeDate: g.endOfLifeDate,
                    replicationMode: g.replicationMode)
            }
            // The encryption sets' ids, rendered like every other id (the digest keeps them as written).
            build.disk.diskEncryptionSetId = try build.disk.diskEncryptionSetId.map(render)
            let imageSet = try build.outputs.image?.diskEncryptionSetId.map(render)
            build.outputs.image?.diskEncryptionSetId = imageSet
            var d = DesiredBuild(
                build: build, digest: digest, subscription: subscription, location: vm.location,
                temporaryResourceGroup: try build.temporary.resourceGroup.map(render) ?? vm.id.resourceGroup,
                imageID: build.outputs.skip ? nil : try build.outputs.image.map { try renderID($0.id) },
                gallery: gallery)
            d.resolvedSourceVersion = resolved
            d.sourceNote =
                latestNote
                ?? resolved.flatMap { v in
                    if case .platformImage(let urn) = build.source, urn.isLatest { return "source: latest is \(v)" }
                    return nil
                }
            d.zone = build.disk.zone ?? vm.zone
            switch build.source {
            case .disk(let id), .galleryImageVersion(let id): d.sourceID = try renderID(id)
            default: break
            }
            return d
        }
    }

    /// The image definition of a gallery version id ending in `/versions/latest`, else nil.
    static func latestDefinition(_ id: String) throws -> ResourceID? {
        guard let parsed = try? ResourceID(parsing: id), parsed.segments.last?.type.lowercased() == "versions",
            parsed.name.lowercased() == "latest"
        else { return nil }
        return parsed.parent
    }

    /// The builds whose gallery source ends in `/versions/latest`, with the definition whose
    /// latest version they take (rendered for `vm`).
    public static func latestGallerySources(
        _ manifest: Manifest, vm: BuilderVM, environment: [String: String] = [:]
    ) throws -> [String: ResourceID] {
        var out: [String: ResourceID] = [:]
        for build in manifest.builds {
            guard case .galleryImageVersion(let id) = build.source else { continue }
            let values = TemplateValues(
                variables: ["BuildName": build.name], vm: vm.templateValues, environment: environment)
            let rendered: String
            do {
                rendered = try Template(parsing: id, allowed: ["BuildName"]).render(values, mode: .plain)
            } catch {
                throw DesiredStateError(build: build.name, message: "cannot render '\(id)': \(error)")
            }
            if let definition = try latestDefinition(rendered) { out[build.name] = definition }
        }
        return out
    }
}
