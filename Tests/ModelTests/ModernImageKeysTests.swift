import Foundation
import Model
import TestSupport
import Testing

/// The manifest keys of issue 15: security type, emulation, encryption sets, replication,
/// automatic versions and the image definition's settings. Each is read, and each mistake
/// is an error at its line and column with the fix.
@Suite struct ModernImageKeysTests {
    static let set =
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/des"

    /// A gallery build; `disk`, `mount` and `gallery` are lines added under those keys.
    func manifest(disk: [String] = [], mount: [String] = [], gallery: [String] = []) -> String {
        func block(_ key: String, _ lines: [String], indent: String) -> String {
            lines.isEmpty ? "" : "\n    \(key):" + lines.map { "\n\(indent)\($0)" }.joined()
        }
        return """
            builds:
              - name: web
                source:
                  platformImage: Canonical:ubuntu-24_04-lts:server:latest
                provision:
                  - shell: [echo hi]\(block("disk", disk, indent: "      "))\(block("mount", mount, indent: "      "))
                outputs:
                  gallery:
                    resourceGroup: rg
                    gallery: g
                    imageDefinition: def
                    targetRegions: [eastus]\(gallery.map { "\n        \($0)" }.joined())
            """
    }

    @Test func everyKeyIsRead() throws {
        let text = manifest(
            disk: ["securityType: TrustedLaunch", "diskEncryptionSetId: \(Self.set)"], mount: ["emulation: off"],
            gallery: [
                "version: auto", "replicationMode: shallow",
                "definition:",
                "  publisher: contoso",
                "  offer: web",
                "  sku: '24'",
                "  description: The web tier",
                "  eula: https://example.com/eula",
                "  privacyStatementUri: https://example.com/privacy",
                "  releaseNoteUri: https://example.com/notes",
                "  endOfLifeDate: 2031-01-01",
                "  recommended: {vCPUs: {min: 2, max: 16}, memory: {min: 4}}",
                "  features: {diskControllerTypes: [SCSI, nvme], acceleratedNetworking: true, hibernation: false}"
            ])
        let r = try loadManifest(text)
        let build = try #require(r.manifest?.builds.first, "\(r.errors)")
        #expect(build.disk.securityType == .trustedLaunch)
        #expect(build.disk.diskEncryptionSetId == Self.set)
        #expect(build.mount.emulationMode == .off)
        let g = try #require(build.outputs.gallery)
        #expect(g.version == .auto)
        #expect(g.replicationMode == .shallow)
        let d = g.definition
        #expect(d.publisher == "contoso" && d.offer == "web" && d.sku == "24")
        #expect(d.recommendedVCPUs == RecommendedRange(min: 2, max: 16))
        #expect(d.recommendedMemoryGB == RecommendedRange(min: 4, max: nil))
        #expect(d.diskControllerTypes == [.scsi, .nvme])
        #expect(d.acceleratedNetworking == true && d.hibernation == false)
        #expect(d.endOfLifeDate == AzureDateTime(parsing: "2031-01-01"))
    }

    @Test func regionsTakeTheirOwnExclusionAndEncryption() throws {
        let text = manifest(gallery: ["version: 1.0.0"])
            .replacingOccurrences(
                of: "targetRegions: [eastus]",
                with: "targetRegions: [{name: eastus, excludeFromLatest: true, diskEncryptionSetId: \(Self.set)}]")
        let r = try loadManifest(text)
        let region = try #require(r.manifest?.builds.first?.outputs.gallery?.targetRegions.first, "\(r.errors)")
        #expect(region.excludeFromLatest == true)
        #expect(region.diskEncryptionSetId == Self.set)
    }

    @Test(arguments: [
        (["securityType: TrustedLaunch", "hyperVGeneration: V1"], [String](), [String](), 8, "needs a generation 2"),
        (["securityType: Trusted"], [], [], 8, "which is not one of: Standard, TrustedLaunch"),
        (["securityType: ConfidentialVM_DiskEncryptedWithCustomerKey"], [], [], 8, "disk encryption set"),
        (
            [
                "diskEncryptionSetId: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/disks/d"
            ], [], [], 8, "diskEncryptionSets"
        ),
        ([], ["emulation: maybe"], [], 8, "auto, off"),
        ([], [], ["version: 1.0"], 13, "or auto"),
        ([], [], ["version: 1.0.0", "replicationMode: fast"], 14, "Full, Shallow"),
        ([], [], ["version: 1.0.0", "definition: {privacyStatementUri: example.com}"], 14, "not an http(s) URL"),
        ([], [], ["version: 1.0.0", "definition: {recommended: {vCPUs: {min: 8, max: 2}}}"], 14, "above its max"),
        ([], [], ["version: 1.0.0", "definition: {features: {diskControllerTypes: [SCSI, SCSI]}}"], 14, "listed twice"),
        ([], [], ["version: 1.0.0", "definition: {publisher: 'bad name.'}"], 14, "identifier"),
        ([], [], ["version: 1.0.0", "definition: {colour: blue}"], 14, "colour")
    ])
    func mistakesAreErrorsAtTheirPlace(disk: [String], mount: [String], gallery: [String], line: Int, text: String)
        throws
    {
        let r = try loadManifest(manifest(disk: disk, mount: mount, gallery: gallery))
        #expect(r.manifest == nil)
        #expect(
            r.errors.contains { $0.location.line == line && $0.description.contains(text) },
            "\(r.errors.map { "\($0.location.line): \($0.description)" })")
    }

    @Test func twoBuildsChoosingTheNextVersionOfOneDefinitionAreRefused() throws {
        let one = manifest(gallery: ["version: auto"])
        let two =
            one + "\n"
            + one.split(separator: "\n").dropFirst().joined(separator: "\n")
            .replacingOccurrences(of: "name: web", with: "name: api")
        let r = try loadManifest(two)
        #expect(r.errors.contains { $0.description.contains("would choose the same") }, "\(r.errors)")
    }

    @Test func theDigestIsUnchangedWithoutTheNewKeysAndFollowsTheSecurityType() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        func digest(_ text: String) throws -> BuildDigest {
            let build = try #require(try loadManifest(text, in: dir).manifest?.builds.first)
            return try BuildDigest.compute(for: build, baseDirectory: dir.url, resolvedPlatformVersion: "1.0.0")
        }
        let plain = try digest(manifest(gallery: ["version: 1.0.0"]))
        let described = try digest(manifest(gallery: ["version: 1.0.0", "definition: {description: x}"]))
        #expect(plain == described, "what the definition says is not inside the image")
        let trusted = try digest(manifest(disk: ["securityType: TrustedLaunch"], gallery: ["version: 1.0.0"]))
        #expect(trusted.value != plain.value)
    }
}
