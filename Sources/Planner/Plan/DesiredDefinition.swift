import Model

/// The gallery image definition a build publishes into, as Kiln creates it: the manifest's
/// `outputs.gallery.definition` settings, Kiln's defaults for what they leave out, and what
/// the build's images are (generation, architecture, security type).
public struct DesiredDefinition: Sendable, Hashable {
    public var publisher: String
    public var offer: String
    public var sku: String
    /// What the build's images are; nil when the plan did not need to know (a converged
    /// build, whose source is not read): then only the manifest's stated settings compare.
    public var traits: ImageTraits?
    public var settings: GalleryDefinitionSettings

    /// The definition of `d`, whose images have `traits`.
    public init(_ d: DesiredBuild, traits: ImageTraits?) {
        let settings = d.build.outputs.gallery?.definition ?? GalleryDefinitionSettings()
        let ids = d.gallery?.definitionID.segments ?? []
        let galleryName = ids.count >= 2 ? ids[ids.count - 2].name : ""
        publisher = settings.publisher ?? "kiln"
        offer = settings.offer ?? galleryName
        sku = settings.sku ?? (ids.last?.name ?? "")
        self.traits = traits
        self.settings = settings
    }

    /// The definition's features, as Azure names them: the security type's, then the
    /// manifest's controller types, accelerated networking and hibernation.
    public var features: [(name: String, value: String)] {
        var out: [(name: String, value: String)] = []
        if let security = traits?.definitionFeature { out.append(("SecurityType", security)) }
        if let types = settings.diskControllerTypes {
            out.append(("DiskControllerTypes", types.map(\.rawValue).joined(separator: ", ")))
        }
        if let accelerated = settings.acceleratedNetworking {
            out.append(("IsAcceleratedNetworkSupported", accelerated ? "True" : "False"))
        }
        if let hibernation = settings.hibernation {
            out.append(("IsHibernateSupported", hibernation ? "True" : "False"))
        }
        return out
    }

    /// One property where an existing definition differs from the manifest.
    public struct Difference: Sendable, Hashable, CustomStringConvertible {
        public var property: String
        public var have: String
        public var want: String
        /// Whether Azure lets it change in place (else only a new definition has it).
        public var mutable: Bool
        public var description: String { "\(property) \(have) → \(want)" }
    }

    /// Where `existing` differs from this definition, in what the build needs (generation,
    /// architecture, a security type it can boot) and in what the manifest states
    /// explicitly: a setting it leaves out is never a difference, so an existing definition
    /// is adopted as it is. Azure refuses to change a definition's identifier, OS, generation,
    /// architecture, EULA and privacy statement URI (409 `PropertyChangeNotAllowed`), and
    /// its features unless the update says `allowUpdateImage`, which Kiln does not; the
    /// description, release note URI, end of life and recommendations change in place
    /// (docs/emulator.md, "Image definition updates").
    public func differences(from existing: ObservedDefinition) -> [Difference] {
        var out: [Difference] = []
        func compare(_ property: String, _ have: String?, _ want: String?, mutable: Bool) {
            guard let want, have?.lowercased() != want.lowercased() else { return }
            out.append(Difference(property: property, have: have ?? "none", want: want, mutable: mutable))
        }
        let s = settings
        let e = existing.settings
        compare("identifier.publisher", e.publisher, s.publisher, mutable: false)
        compare("identifier.offer", e.offer, s.offer, mutable: false)
        compare("identifier.sku", e.sku, s.sku, mutable: false)
        compare("osType", existing.osType ?? "Linux", "Linux", mutable: false)
        if let t = traits {
            compare(
                "hyperVGeneration", existing.hyperVGeneration ?? HyperVGeneration.v1.rawValue,
                t.hyperVGeneration.rawValue, mutable: false)
            compare(
                "architecture", existing.architecture ?? Architecture.x64.rawValue, t.architecture.rawValue,
                mutable: false)
            if !t.securityType.isAdmitted(byDefinitionFeature: existing.feature("SecurityType")) {
                out.append(
                    Difference(
                        property: "features.SecurityType", have: existing.feature("SecurityType") ?? "none",
                        want: t.definitionFeature ?? "none", mutable: false))
            }
        }
        for (name, value) in features where name != "SecurityType" {
            compare("features.\(name)", existing.feature(name), value, mutable: false)
        }
        compare("eula", e.eula, s.eula, mutable: false)
        compare("privacyStatementUri", e.privacyStatementUri, s.privacyStatementUri, mutable: false)
        compare("description", e.description, s.description, mutable: true)
        compare("releaseNoteUri", e.releaseNoteUri, s.releaseNoteUri, mutable: true)
        if let eol = s.endOfLifeDate, e.endOfLifeDate != eol {
            out.append(
                Difference(
                    property: "endOfLifeDate", have: e.endOfLifeDate?.rfc3339 ?? "none", want: eol.rfc3339,
                    mutable: true))
        }
        func range(_ r: RecommendedRange?) -> String? {
            r.map { "\($0.min.map(String.init) ?? "-")..\($0.max.map(String.init) ?? "-")" }
        }
        if let want = s.recommendedVCPUs, want != e.recommendedVCPUs {
            compare("recommended.vCPUs", range(e.recommendedVCPUs), range(want), mutable: true)
        }
        if let want = s.recommendedMemoryGB, want != e.recommendedMemoryGB {
            compare("recommended.memory", range(e.recommendedMemoryGB), range(want), mutable: true)
        }
        return out
    }
}
