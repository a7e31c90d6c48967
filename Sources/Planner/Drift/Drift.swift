import Model

/// One way a published output differs from the manifest.
public struct DriftItem: Sendable, Hashable, Codable, CustomStringConvertible {
    public var build: String
    public var resource: String
    public var field: String
    public var expected: String
    public var actual: String
    /// Whether `apply` can repair it in place (otherwise it rebuilds, or it is a conflict).
    public var repairableInPlace: Bool

    public var description: String { "\(build): \(field): expected \(expected), found \(actual)" }
}

/// Compares what is published with what the manifest says. Pure, like the planner.
public enum DriftDetector {
    public static func drift(_ desired: [DesiredBuild], observed: [String: ObservedBuild]) -> [DriftItem] {
        var out: [DriftItem] = []
        for d in desired where !d.build.outputs.skip {
            let o = observed[d.name] ?? ObservedBuild()
            func add(
                _ resource: ResourceID, _ field: String, _ expected: String, _ actual: String, inPlace: Bool = false
            ) {
                out.append(
                    DriftItem(
                        build: d.name, resource: resource.description, field: field, expected: expected, actual: actual,
                        repairableInPlace: inPlace))
            }
            if let imageID = d.imageID {
                if let image = o.image {
                    if image.digest != d.digest.value {
                        add(imageID, "image.digest", d.digest.value, image.digest ?? "none (not made by Kiln)")
                    }
                } else {
                    add(imageID, "image", "exists", "deleted or never published")
                }
            }
            guard let g = d.gallery else { continue }
            guard let v = o.galleryVersion else {
                add(g.id, "gallery.version", g.version, "deleted or never published")
                continue
            }
            if v.digest != d.digest.value {
                add(g.id, "gallery.digest", d.digest.value, v.digest ?? "none (not made by Kiln)")
            }
            out += versionDrift(d, v)
            if let existing = o.definition, let want = d.desiredDefinition {
                for difference in want.differences(from: existing) {
                    out.append(
                        DriftItem(
                            build: d.name, resource: g.definitionID.description,
                            field: "gallery.definition.\(difference.property)", expected: difference.want,
                            actual: difference.have, repairableInPlace: difference.mutable))
                }
            }
        }
        return out
    }
}

extension DriftDetector {
    /// Where a version published with `d`'s digest differs from the manifest: target
    /// regions (replicas, storage, exclusion from latest: repaired in place by a PATCH;
    /// encryption: Azure does not re-encrypt replicas, so not in place), the version's
    /// exclusion from latest and end of life (in place) and its replication mode (fixed
    /// when the version is made).
    public static func versionDrift(_ d: DesiredBuild, _ v: ObservedGalleryVersion) -> [DriftItem] {
        guard let g = d.gallery else { return [] }
        var out: [DriftItem] = []
        func add(_ field: String, _ expected: String, _ actual: String, inPlace: Bool = true) {
            out.append(
                DriftItem(
                    build: d.name, resource: g.id.description, field: field, expected: expected, actual: actual,
                    repairableInPlace: inPlace))
        }
        let norm = RegionName.normalized
        let have = Dictionary(v.regions.map { (norm($0.name), $0) }, uniquingKeysWith: { a, _ in a })
        let want = Dictionary(g.targetRegions.map { (norm($0.name), $0) }, uniquingKeysWith: { a, _ in a })
        for name in want.keys.sorted() {
            guard let w = want[name] else { continue }
            let field = "gallery.targetRegions[\(name)]"
            guard let h = have[name] else {
                add(field, "present", "missing")
                continue
            }
            if h.replicas != w.replicas { add("\(field).replicas", "\(w.replicas)", "\(h.replicas)") }
            if h.storageAccountType.lowercased() != w.storageAccountType.rawValue.lowercased() {
                add("\(field).storageAccountType", w.storageAccountType.rawValue, h.storageAccountType)
            }
            let exclude = g.excludesFromLatest(w)
            if let theirs = h.excludeFromLatest, theirs != exclude {
                add("\(field).excludeFromLatest", "\(exclude)", "\(theirs)")
            }
            if h.diskEncryptionSetId?.lowercased() != w.diskEncryptionSetId?.lowercased() {
                add(
                    "\(field).diskEncryptionSetId", w.diskEncryptionSetId ?? "none", h.diskEncryptionSetId ?? "none",
                    inPlace: false)
            }
        }
        for name in have.keys.sorted() where want[name] == nil {
            add("gallery.targetRegions[\(name)]", "absent", "present")
        }
        if v.excludeFromLatest != g.excludeFromLatest {
            add("gallery.excludeFromLatest", "\(g.excludeFromLatest)", "\(v.excludeFromLatest)")
        }
        if v.endOfLifeDate != g.endOfLifeDate {
            add("gallery.endOfLifeDate", g.endOfLifeDate?.rfc3339 ?? "none", v.endOfLifeDate?.rfc3339 ?? "none")
        }
        let mode = ReplicationMode(rawValue: v.replicationMode ?? ReplicationMode.full.rawValue) ?? .full
        if mode != g.replicationMode {
            add("gallery.replicationMode", g.replicationMode.rawValue, mode.rawValue, inPlace: false)
        }
        return out
    }
}
