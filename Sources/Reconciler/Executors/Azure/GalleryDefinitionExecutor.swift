import Foundation
import Logging
import Model
import Planner
import Providers

/// `gallery-definition`: makes sure the gallery and the image definition the build's
/// version is published into exist. It depends on nothing but the source, so it runs at the
/// start of the apply, beside the disk work, and `gallery-version` waits for it.
///
/// Kiln creates a missing gallery (in the build's location) and a missing image
/// definition (Linux, generalized, the OS disk's Hyper-V generation, identifier publisher
/// `kiln`, offer = the gallery's name, sku = the definition's name). Existing ones are
/// adopted as they are, except an image definition the version could not be published
/// into (another OS type or Hyper-V generation), which is refused with the fix; one left
/// `Failed` (its creation failed) is PUT again as it is.
///
/// The outcome carries the gallery's region, where `gallery-version` creates the version.
struct GalleryDefinitionExecutor: ActionExecutor {
    let env: ExecutorEnvironment

    func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        let d = try env.build(of: action)
        let (_, definitionID, galleryID) = try galleryIDs(d, env: env, action: action)
        let timeout = d.build.timeouts.azureOperation.duration
        let ops = AzureOperations(azure: env.azure, context: context)
        // The journal holds the last operation this action started (the gallery's or the
        // definition's): wait for it, then check both as on any run.
        try await ops.rejoin(fallbackMethod: .put, resource: definitionID, timeout: timeout)
        // Builds of this apply that share the gallery create it once between them.
        let location = try await env.once.run("gallery " + galleryID.description.lowercased()) {
            try await ensureGallery(galleryID, d, ops: ops, timeout: timeout)
        }
        try await ensureDefinition(
            definitionID, galleryName: galleryID.name, location: location, d, action: action, ops: ops, timeout: timeout
        )
        return ActionOutcome(resourceID: definitionID, location: location)
    }

    /// The gallery's location, creating the gallery when it is missing.
    private func ensureGallery(_ id: ResourceID, _ d: DesiredBuild, ops: AzureOperations, timeout: Duration)
        async throws -> String
    {
        var body: AzureGallery
        if let gallery = try await env.azure.gallery(id) {
            let state = gallery.provisioningState
            let location = gallery.location.map(RegionName.normalized) ?? d.location
            guard state.isFailed else {
                if state.isInProgress { try await ops.waitForProvisioning(id, timeout: timeout) }
                return location
            }
            // Failed (e.g. its creation failed in an earlier run): the same gallery again,
            // which Azure retries in place.
            ops.context.logger.notice("gallery \(id.name) is \(state.azureText ?? "Failed"); creating it again")
            body = AzureGallery(location: location, tags: gallery.tags, description: gallery.description)
        } else {
            var tags = d.build.tags
            tags[.build] = d.name
            body = AzureGallery(location: d.location, tags: tags, description: "created by Kiln for build \(d.name)")
        }
        try ops.context.checkInterruption()
        let operation = try await env.azure.beginCreateGallery(id, body)
        _ = try await ops.recordAndWait(operation, timeout: timeout)
        return body.location ?? d.location
    }

    /// Creates the image definition when it is missing, updates in place what Azure lets
    /// change, and refuses one the version cannot go into.
    private func ensureDefinition(
        _ id: ResourceID, galleryName: String, location: String, _ d: DesiredBuild, action: Action,
        ops: AzureOperations, timeout: Duration
    ) async throws {
        let generation = try await env.sourceHyperVGeneration(d, action: action)
        // Without the traits observation chose (tests that plan without it), the definition
        // is what Kiln always made: Standard, x64, the source's generation.
        let traits =
            d.imageTraits
            ?? ImageTraits(
                securityType: .standard, securityReason: "", architecture: .x64,
                hyperVGeneration: HyperVGeneration(rawValue: generation) ?? .v1)
        var chosen = traits
        chosen.hyperVGeneration = HyperVGeneration(rawValue: generation.uppercased()) ?? traits.hyperVGeneration
        let want = DesiredDefinition(d, traits: chosen)
        var body: AzureGalleryImage
        if let definition = try await env.azure.galleryImage(id) {
            let state = definition.provisioningState
            if state.isInProgress { try await ops.waitForProvisioning(id, timeout: timeout) }
            let differences = want.differences(from: ObservedDefinition(definition))
            let fixed = differences.filter { !$0.mutable }
            if !fixed.isEmpty {
                throw ExecutorError(
                    action: action.id,
                    message:
                        "image definition \(id.name) in gallery \(galleryName) cannot hold this build's version: "
                        + fixed.map { $0.description }.joined(separator: "; ")
                        + ", which Azure does not let change; point outputs.gallery.imageDefinition at a matching definition (or at a new name, which Kiln creates)"
                        + (fixed.contains { $0.property == "hyperVGeneration" }
                            ? ", or set disk.hyperVGeneration to the definition's" : ""))
            }
            let changes = differences.filter { $0.mutable }
            guard state.isFailed || !changes.isEmpty else { return }
            if state.isFailed {
                // Failed (e.g. its creation failed in an earlier run): the same definition
                // again, which Azure retries in place.
                ops.context.logger.notice(
                    "image definition \(id.name) is \(state.azureText ?? "Failed"); creating it again")
            } else {
                ops.context.reportProgress(
                    detail: "updating image definition \(id.name): "
                        + changes.map { $0.description }.joined(separator: "; "))
            }
            body = definition
            body.location = definition.location ?? location
            Self.apply(want.settings, to: &body)
        } else {
            var tags = d.build.tags
            tags[.build] = d.name
            body = AzureGalleryImage(
                location: location, tags: tags, osType: "Linux", osState: "Generalized",
                identifier: .init(publisher: want.publisher, offer: want.offer, sku: want.sku),
                hyperVGeneration: chosen.hyperVGeneration.rawValue, architecture: chosen.architecture.rawValue,
                features: want.features.isEmpty ? nil : want.features.map { .init(name: $0.name, value: $0.value) })
            Self.apply(want.settings, to: &body)
        }
        try ops.context.checkInterruption()
        let operation = try await env.azure.beginCreateGalleryImage(id, body)
        _ = try await ops.recordAndWait(operation, timeout: timeout)
    }

    /// The manifest's texts, URIs, end of life and recommendations on `body` (what it leaves
    /// out stays as the definition has it).
    static func apply(_ s: GalleryDefinitionSettings, to body: inout AzureGalleryImage) {
        if let v = s.description { body.description = v }
        if let v = s.eula { body.eula = v }
        if let v = s.privacyStatementUri { body.privacyStatementUri = v }
        if let v = s.releaseNoteUri { body.releaseNoteUri = v }
        if let v = s.endOfLifeDate { body.endOfLifeDate = v.rfc3339 }
        if let v = s.recommendedVCPUs { body.recommendedVCPUs = v }
        if let v = s.recommendedMemoryGB { body.recommendedMemoryGB = v }
    }
}
