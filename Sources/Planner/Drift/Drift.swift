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
            let norm = RegionName.normalized
            let have = Dictionary(v.regions.map { (norm($0.name), $0) }, uniquingKeysWith: { a, _ in a })
            let want = Dictionary(g.targetRegions.map { (norm($0.name), $0) }, uniquingKeysWith: { a, _ in a })
            for name in want.keys.sorted() {
                guard let w = want[name] else { continue }
                guard let h = have[name] else {
                    add(g.id, "gallery.targetRegions[\(name)]", "present", "missing", inPlace: true)
                    continue
                }
                if h.replicas != w.replicas {
                    add(
                        g.id, "gallery.targetRegions[\(name)].replicas", "\(w.replicas)", "\(h.replicas)", inPlace: true
                    )
                }
                if h.storageAccountType.lowercased() != w.storageAccountType.rawValue.lowercased() {
                    add(
                        g.id, "gallery.targetRegions[\(name)].storageAccountType", w.storageAccountType.rawValue,
                        h.storageAccountType, inPlace: true)
                }
            }
            for name in have.keys.sorted() where want[name] == nil {
                add(g.id, "gallery.targetRegions[\(name)]", "absent", "present", inPlace: true)
            }
            if v.excludeFromLatest != g.excludeFromLatest {
                add(
                    g.id, "gallery.excludeFromLatest", "\(g.excludeFromLatest)", "\(v.excludeFromLatest)", inPlace: true
                )
            }
            if v.endOfLifeDate != g.endOfLifeDate {
                add(
                    g.id, "gallery.endOfLifeDate", g.endOfLifeDate?.rfc3339 ?? "none",
                    v.endOfLifeDate?.rfc3339 ?? "none",
                    inPlace: true)
            }
        }
        return out
    }
}
