import Foundation
import Yams

/// `outputs.gallery.definition`: the image definition's identifier, texts, recommendations
/// and features, checked against Azure's limits for each.
extension ManifestDecoder {
    func decodeDefinition(_ r: MappingReader) -> GalleryDefinitionSettings {
        var out = GalleryDefinitionSettings()
        out.publisher = identifierPart(r, "publisher")
        out.offer = identifierPart(r, "offer")
        out.sku = identifierPart(r, "sku")
        out.description = r.string("description")?.value
        out.eula = r.string("eula")?.value
        out.privacyStatementUri = uri(r, "privacyStatementUri")
        out.releaseNoteUri = uri(r, "releaseNoteUri")
        out.endOfLifeDate = endOfLifeDate(r)
        if let recommended = r.mapping("recommended") {
            out.recommendedVCPUs = range(recommended, "vCPUs", limit: 1...416, unit: "vCPUs")
            out.recommendedMemoryGB = range(recommended, "memory", limit: 1...12_000, unit: "GB")
            recommended.finish()
        }
        if let features = r.mapping("features") {
            if let items = features.strings("diskControllerTypes") {
                var types: [DiskControllerType] = []
                for item in items.value {
                    guard
                        let t = MappingReader.choice(
                            item, DiskControllerType.self, path: features.child("diskControllerTypes"), ctx: ctx)
                    else { continue }
                    if types.contains(t.value) {
                        ctx.error(item.node, "\(t.value.rawValue) is listed twice", fix: "list each controller once")
                    } else {
                        types.append(t.value)
                    }
                }
                if items.value.isEmpty {
                    ctx.error(
                        items.node, "\(features.child("diskControllerTypes")) is empty",
                        fix: "list SCSI, NVMe or both, or remove the key")
                }
                out.diskControllerTypes = types
            }
            out.acceleratedNetworking = features.bool("acceleratedNetworking")?.value
            out.hibernation = features.bool("hibernation")?.value
            features.finish()
        }
        r.finish()
        return out
    }

    /// A part of the definition's identifier: letters, digits, '-', '_' and '.', not ending
    /// in '.', at most 128 characters (Azure's rule for publisher, offer and sku).
    private func identifierPart(_ r: MappingReader, _ key: String) -> String? {
        guard let text = r.string(key) else { return nil }
        let v = text.value
        let allowed = v.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
        guard allowed, !v.hasSuffix("."), v.count <= 128 else {
            ctx.error(
                text.node, "\(r.child(key)) '\(v)' is not allowed in an image definition's identifier",
                fix: "use at most 128 letters, digits, '-', '_' and '.', not ending in '.'")
            return nil
        }
        return v
    }

    private func uri(_ r: MappingReader, _ key: String) -> String? {
        guard let text = r.string(key) else { return nil }
        guard let url = URL(string: text.value), let scheme = url.scheme?.lowercased(),
            scheme == "https" || scheme == "http", url.host?.isEmpty == false
        else {
            ctx.error(
                text.node, "\(r.child(key)) '\(text.value)' is not an http(s) URL",
                fix: "write a full URL such as https://example.com/privacy")
            return nil
        }
        return text.value
    }

    private func range(_ r: MappingReader, _ key: String, limit: ClosedRange<Int>, unit: String) -> RecommendedRange? {
        guard let m = r.mapping(key) else { return nil }
        let min = m.int("min", range: limit, unit: unit)?.value
        let max = m.int("max", range: limit, unit: unit)?.value
        if let min, let max, min > max {
            ctx.error(
                m.node, "\(r.child(key)).min (\(min)) is above its max (\(max))", fix: "swap them, or remove one")
        }
        if !m.has("min") && !m.has("max") {
            ctx.error(m.node, "\(r.child(key)) gives neither min nor max", fix: "give min, max or both")
        }
        m.finish()
        return RecommendedRange(min: min, max: max)
    }
}
