import Foundation
import Model
import Testing

@testable import Planner

/// Security type, architecture and the image definition (issue 15): what a build's images
/// are, chosen from the manifest, the source and an existing definition, as Azure allows.
@Suite("Image traits")
struct ImageTraitsTests {
    static let trustedLaunchImage = SourceTraits(
        what: "the platform image P", hyperVGeneration: .v2, architecture: .x64,
        securityFeature: "TrustedLaunchSupported", featureIsAuthoritative: true, sizeGB: 30)

    /// A gallery-only build (no managed image) with `disk` settings.
    func galleryBuild(disk: String = "", galleryExtra: String = "") throws -> DesiredBuild {
        try desiredBuild(
            extra: disk.isEmpty ? "" : "    disk: {\(disk)}",
            outputs: """
                    outputs:
                      gallery:
                        resourceGroup: rg
                        gallery: g
                        imageDefinition: def
                        version: 1.0.0
                """ + (galleryExtra.isEmpty ? "" : "\n        " + galleryExtra))
    }

    func choose(_ d: DesiredBuild, _ source: SourceTraits?, definition: String?? = .none)
        -> Result<ImageTraits, ImageTraitsConflict>
    {
        ImageTraits.choose(for: d.build, source: source, definitionFeature: definition, builder: .x64)
    }

    @Test func trustedLaunchByDefaultWhereTheSourceSupportsItAndAStandardDiskForASupportedDefinition() throws {
        let t = try choose(try galleryBuild(), Self.trustedLaunchImage).get()
        #expect(t.securityType == .trustedLaunch)
        #expect(t.securityReason.contains("supports Trusted Launch"))
        #expect(t.definitionFeature == "TrustedLaunchSupported")
        // Azure takes a version into a …Supported definition only from a standard source.
        #expect(t.diskSecurityType == nil)
    }

    @Test(arguments: [
        ("a managed image is published", true, SourceTraits?.some(Self.trustedLaunchImage)),
        ("generation 1", false, SourceTraits(what: "old", hyperVGeneration: .v1, featureIsAuthoritative: true)),
        (
            "states no Trusted Launch support", false,
            SourceTraits(what: "arm", hyperVGeneration: .v2, architecture: .arm64, featureIsAuthoritative: true)
        )
    ])
    func standardByDefaultWhereTrustedLaunchCannotBoot(reason: String, image: Bool, source: SourceTraits?) throws {
        let d = image ? try desiredBuild() : try galleryBuild()
        let t = try choose(d, source).get()
        #expect(t.securityType == .standard)
        #expect(t.securityReason.contains(reason), "\(t.securityReason)")
        #expect(t.definitionFeature == nil)
    }

    @Test func anExistingDefinitionDecidesTheDefault() throws {
        let d = try galleryBuild()
        let none = try choose(d, Self.trustedLaunchImage, definition: .some(nil)).get()
        #expect(none.securityType == .standard)
        #expect(none.securityReason.contains("cannot add it later"))
        let only = try choose(d, Self.trustedLaunchImage, definition: .some("TrustedLaunch")).get()
        #expect(only.securityType == .trustedLaunch)
        // A TrustedLaunch-only definition takes only Trusted Launch disks.
        #expect(only.diskSecurityType == "TrustedLaunch")
    }

    @Test func whatAzureWouldRefuseIsAConflictNamingTheProperty() throws {
        let v1 = choose(
            try galleryBuild(disk: "securityType: TrustedLaunch"),
            SourceTraits(what: "old", hyperVGeneration: .v1, securityFeature: nil, featureIsAuthoritative: true))
        #expect(throws: ImageTraitsConflict.self) { try v1.get() }
        let image = choose(try desiredBuild(extra: "    disk: {securityType: TrustedLaunch}"), Self.trustedLaunchImage)
        #expect((try? image.get()) == nil)
        if case .failure(let c) = image { #expect(c.message.contains("managed image") && c.fix.contains("gallery")) }
        let unsupported = choose(
            try galleryBuild(disk: "securityType: ConfidentialVM_DiskEncryptedWithPlatformKey"), Self.trustedLaunchImage
        )
        if case .failure(let c) = unsupported {
            #expect(c.message.contains("does not support"))
        } else {
            Issue.record("a confidential type from a Trusted Launch-only image must conflict")
        }
        let definition = choose(
            try galleryBuild(disk: "securityType: TrustedLaunch"), Self.trustedLaunchImage, definition: .some(nil))
        if case .failure(let c) = definition {
            #expect(c.property == "outputs.gallery.definition")
        } else {
            Issue.record("a definition without the feature must conflict with an explicit TrustedLaunch")
        }
    }

    @Test func aSourceThatCannotCarryASecurityTypeConflictsWithADefinitionThatDemandsOne() throws {
        let d = try desiredBuild(
            extra: "",
            outputs: "    outputs: {gallery: {resourceGroup: rg, gallery: g, imageDefinition: def, version: 1.0.0}}")
        var scratch = d
        scratch.build.source = .scratch(sizeGB: 4)
        scratch.build.disk.hyperVGeneration = .v2
        scratch.build.disk.securityType = .trustedLaunch
        let r = choose(scratch, nil, definition: .some("TrustedLaunch"))
        if case .failure(let c) = r {
            #expect(c.message.contains("made from an image"))
        } else {
            Issue.record("an empty disk cannot carry a security type: \(r)")
        }
    }

    @Test func anImageOfAnotherArchitectureIsEmulatedUnlessEmulationIsOff() throws {
        let arm = SourceTraits(
            what: "the platform image A", hyperVGeneration: .v2, architecture: .arm64, featureIsAuthoritative: true)
        let auto = try choose(try galleryBuild(), arm).get()
        #expect(auto.architecture == .arm64 && auto.emulated)
        let native = try ImageTraits.choose(
            for: try galleryBuild().build, source: arm, definitionFeature: .none, builder: .arm64
        ).get()
        #expect(!native.emulated)
        var off = try galleryBuild()
        off.build.mount.emulation = .off
        if case .failure(let c) = choose(off, arm) {
            #expect(c.property == "mount.emulation" && c.fix.contains("emulation: auto"))
        } else {
            Issue.record("emulation off must refuse an Arm64 image on an x64 VM")
        }
    }

    @Test func aDiskSmallerThanItsSourceIsAConflictBeforeAnyDiskIsMade() throws {
        var d = try galleryBuild(disk: "sizeGB: 10")
        d.traits = choose(d, Self.trustedLaunchImage)
        var o = ObservedBuild()
        o.source = Self.trustedLaunchImage
        o.sourceRead = true
        let conflicts = Planner.plan([d], observed: [d.name: o]).conflicts
        #expect(
            conflicts.map(\.message) == [
                "disk.sizeGB is 10, smaller than the platform image P (30 GB); Azure never shrinks a disk"
            ])
        #expect(conflicts.first?.fix.contains("at least 30") == true)
        var grown = try galleryBuild(disk: "sizeGB: 64")
        grown.traits = choose(grown, Self.trustedLaunchImage)
        #expect(Planner.plan([grown], observed: [grown.name: o]).conflicts.isEmpty)
    }

    // MARK: the definition

    @Test func aNewDefinitionCarriesTheManifestsSettingsAndTheTraitsFeatures() throws {
        let d = try galleryBuild(
            galleryExtra:
                "definition: {publisher: contoso, features: {diskControllerTypes: [SCSI, NVMe], acceleratedNetworking: true, hibernation: false}}"
        )
        let t = try choose(d, Self.trustedLaunchImage).get()
        let want = DesiredDefinition(d, traits: t)
        #expect(want.publisher == "contoso" && want.offer == "g" && want.sku == "def")
        #expect(
            want.features.map(\.name) == [
                "SecurityType", "DiskControllerTypes", "IsAcceleratedNetworkSupported", "IsHibernateSupported"
            ])
        #expect(want.features.first { $0.name == "DiskControllerTypes" }?.value == "SCSI, NVMe")
    }

    @Test func onlyWhatTheManifestStatesOrTheBuildNeedsDiffers() throws {
        let plain = try galleryBuild()
        let t = try choose(plain, Self.trustedLaunchImage).get()
        // An adopted definition with another identifier and texts: nothing the manifest states.
        let adopted = ObservedDefinition(
            settings: GalleryDefinitionSettings(publisher: "someone", offer: "else", sku: "x", description: "theirs"),
            hyperVGeneration: "V2", architecture: "x64", features: ["SecurityType": "TrustedLaunchSupported"])
        #expect(DesiredDefinition(plain, traits: t).differences(from: adopted).isEmpty)

        let stated = try galleryBuild(
            galleryExtra:
                "definition: {publisher: contoso, description: ours, eula: terms, recommended: {vCPUs: {min: 2}}}")
        let diffs = DesiredDefinition(stated, traits: t).differences(from: adopted)
        #expect(Set(diffs.filter(\.mutable).map(\.property)) == ["description", "recommended.vCPUs"])
        #expect(Set(diffs.filter { !$0.mutable }.map(\.property)) == ["identifier.publisher", "eula"])
        // The build's own needs: another generation or architecture cannot change.
        var arm = adopted
        arm.architecture = "Arm64"
        #expect(DesiredDefinition(plain, traits: t).differences(from: arm).map(\.property) == ["architecture"])
        // Without traits (a converged build's source is not read), only stated settings compare.
        #expect(DesiredDefinition(plain, traits: nil).differences(from: arm).isEmpty)
    }

    @Test func thePlanUpdatesInPlaceWhatAzureLetsChangeAndConflictsOnTheRest() throws {
        var d = try galleryBuild(galleryExtra: "definition: {description: ours, eula: terms}")
        d.traits = choose(d, Self.trustedLaunchImage)
        var o = ObservedBuild()
        o.definition = ObservedDefinition(
            settings: GalleryDefinitionSettings(
                publisher: "kiln", offer: "g", sku: "def", description: "old", eula: "terms"),
            hyperVGeneration: "V2", features: ["SecurityType": "TrustedLaunchSupported"])
        let plan = Planner.plan([d], observed: [d.name: o])
        let definition = try #require(plan.actions.first { $0.id.kind == .galleryDefinition })
        #expect(definition.change == .update)
        #expect(definition.reason.contains("description old → ours"))
        #expect(plan.conflicts.isEmpty)

        o.definition?.settings.eula = "other terms"
        let blocked = Planner.plan([d], observed: [d.name: o])
        #expect(blocked.conflicts.map(\.message).contains { $0.contains("eula other terms → terms") })
    }
}
