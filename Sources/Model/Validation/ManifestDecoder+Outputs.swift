import Foundation
import Yams

/// The outputs, tags, temporary resources and timeouts.
extension ManifestDecoder {
    // MARK: outputs

    func decodeOutputs(_ r: MappingReader) -> Outputs {
        var out = Outputs()
        if let image = r.mapping("image") {
            if let id = image.string("id", required: true, fix: "give the managed image's resource id"),
                resourceID(id, path: image.child("id"), type: "Microsoft.Compute/images") != nil
            {
                out.image = ImageOutput(id: id.value, diskEncryptionSetId: encryptionSet(image))
            }
            image.finish()
        }
        if let g = r.mapping("gallery") { out.gallery = decodeGallery(g) }
        if let skip = r.bool("skip") {
            out.skip = skip.value
            if skip.value, r.has("image") || r.has("gallery") {
                ctx.error(
                    skip.node, "outputs.skip: true conflicts with outputs.image/outputs.gallery",
                    fix: "remove skip, or remove the outputs")
            }
        }
        if !out.skip && !r.has("image") && !r.has("gallery") {
            ctx.error(
                r.node, "outputs names neither an image nor a gallery version",
                fix: "add outputs.image.id and/or outputs.gallery (or outputs.skip: true to provision only)")
        }
        r.finish()
        return out
    }

    func decodeGallery(_ r: MappingReader) -> GalleryOutput? {
        let sub = r.string("subscription")
        if let sub { _ = checkGUIDOrTemplate(sub, path: r.child("subscription")) }
        let rg = r.string("resourceGroup", required: true, fix: "name the gallery's resource group")
        let gallery = r.string("gallery", required: true, fix: "name the compute gallery")
        let definition = r.string("imageDefinition", required: true, fix: "name the gallery image definition")
        let version = r.string(
            "version", required: true, fix: "give the version to publish, MAJOR.MINOR.PATCH, or auto")
        if let rg { checkName(rg, path: r.child("resourceGroup"), kind: .resourceGroup) }
        if let gallery { checkName(gallery, path: r.child("gallery"), kind: .gallery) }
        if let definition { checkName(definition, path: r.child("imageDefinition"), kind: .imageDefinition) }
        var versionOK = false
        if let version {
            versionOK = version.value == "auto" || Self.isGalleryVersion(version.value)
            if !versionOK {
                ctx.error(
                    version.node, "\(r.child("version")) '\(version.value)' is not MAJOR.MINOR.PATCH",
                    fix:
                        "use three whole numbers, e.g. 1.0.0 (each at most 2147483647), or auto for the next patch version"
                )
            }
        }
        var regions: [TargetRegion] = []
        if let items = r.sequence("targetRegions") {
            var seen: [String: Node] = [:]
            for (i, item) in items.enumerated() {
                let p = r.child("targetRegions[\(i)]")
                // A bare region name is accepted as shorthand for {name: region}.
                if case .scalar = item, let name = MappingReader.scalarString(item, path: p, ctx: ctx) {
                    if let region = regionName(name, path: p) {
                        if seen[region] != nil {
                            ctx.error(item, "region \(region) is listed twice", fix: "list each region once")
                        } else {
                            seen[region] = item
                            regions.append(TargetRegion(name: region))
                        }
                    }
                    continue
                }
                guard let t = MappingReader(item, path: p, ctx: ctx) else { continue }
                let name = t.string("name", required: true, fix: "name the region, e.g. name: eastus")
                var region = TargetRegion(name: "")
                if let n = t.int("replicas", range: 1...100) { region.replicas = n.value }
                if let s = t.choice("storageAccountType", ReplicaStorageType.self) {
                    region.storageAccountType = s.value
                }
                region.excludeFromLatest = t.bool("excludeFromLatest")?.value
                region.diskEncryptionSetId = encryptionSet(t)
                t.finish()
                if let name, let rn = regionName(name, path: "\(p).name") {
                    region.name = rn
                    if let first = seen[rn] {
                        ctx.error(
                            name.node, "region \(rn) is listed twice (first at line \(first.mark?.line ?? 0))",
                            fix: "list each region once")
                    } else {
                        seen[rn] = name.node
                        regions.append(region)
                    }
                }
            }
        }
        if regions.isEmpty {
            ctx.warning(
                r.raw("targetRegions") ?? r.node,
                "\(r.path) has no targetRegions, so the version is replicated only to the builder VM's region",
                fix: "list the regions that need the image under targetRegions")
        }
        var exclude = r.bool("excludeFromLatest")?.value ?? false
        if let old = r.bool("exludeFromLatest") {
            ctx.warning(old.node, "exludeFromLatest is misspelt (Packer's old key)", fix: "write excludeFromLatest")
            exclude = exclude || old.value
        }
        let eol = endOfLifeDate(r)
        let mode = r.choice("replicationMode", ReplicationMode.self)?.value ?? .full
        let settings = r.mapping("definition").map(decodeDefinition) ?? GalleryDefinitionSettings()
        r.finish()
        guard let rg, let gallery, let definition, let version, versionOK else { return nil }
        return GalleryOutput(
            subscription: sub?.value, resourceGroup: rg.value, gallery: gallery.value,
            imageDefinition: definition.value,
            version: version.value == "auto" ? .auto : .fixed(version.value), targetRegions: regions,
            excludeFromLatest: exclude, endOfLifeDate: eol, replicationMode: mode, definition: settings)
    }

    /// `diskEncryptionSetId` of `r`, checked to be a disk encryption set's resource id.
    func encryptionSet(_ r: MappingReader) -> String? {
        guard let id = r.string("diskEncryptionSetId") else { return nil }
        return resourceID(id, path: r.child("diskEncryptionSetId"), type: "Microsoft.Compute/diskEncryptionSets")
            != nil ? id.value : nil
    }

    /// `endOfLifeDate` of `r`: a date or an RFC 3339 time (a past one is warned about).
    func endOfLifeDate(_ r: MappingReader) -> AzureDateTime? {
        guard let e = r.string("endOfLifeDate") else { return nil }
        guard let date = AzureDateTime(parsing: e.value) else {
            ctx.error(
                e.node, "\(r.child("endOfLifeDate")) '\(e.value)' is not a date",
                fix: "write YYYY-MM-DD or an RFC 3339 time such as 2027-06-30T00:00:00Z")
            return nil
        }
        if date.date < Date() {
            ctx.warning(
                e.node, "\(r.child("endOfLifeDate")) \(e.value) is in the past", fix: "use a future date, or remove it")
        }
        return date
    }

    static func isGalleryVersion(_ v: String) -> Bool {
        let parts = v.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 3
            && parts.allSatisfy { p in
                !p.isEmpty && p.count <= 10 && p.allSatisfy { $0.isASCII && $0.isNumber }
                    && (Int(p) ?? .max) <= Int(Int32.max)
            }
    }

    func regionName(_ text: Located<String>, path: String) -> String? {
        if text.value.contains("{{") {
            return template(text, path: path, allowed: []) != nil ? text.value : nil
        }
        let squashed = RegionName.normalized(text.value)
        guard !squashed.isEmpty, squashed.count <= 40,
            squashed.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) })
        else {
            ctx.error(
                text.node, "\(path) '\(text.value)' is not an Azure region name",
                fix: "use a name such as eastus or westeurope, or {{vm \"location\"}}")
            return nil
        }
        return squashed
    }

    // MARK: tags, temporary, timeouts

    func decodeTags(_ r: MappingReader) -> [String: String] {
        guard let tags = r.stringMap("tags") else { return [:] }
        var out: [String: String] = [:]
        for (k, v) in tags.value {
            if k.value.lowercased().hasPrefix(KilnTag.prefix) {
                ctx.error(
                    k.node, "tag '\(k.value)' uses the reserved prefix \(KilnTag.prefix)",
                    fix: "Kiln sets \(KilnTag.prefix)* tags itself; rename yours")
                continue
            }
            if k.value.count > 512 || k.value.contains(where: { "<>%&\\?/".contains($0) }) {
                ctx.error(
                    k.node, "tag name '\(k.value.prefix(40))' is not allowed by Azure",
                    fix: "use at most 512 characters and none of < > % & \\ ? /")
                continue
            }
            if v.value.count > 256 {
                ctx.error(
                    v.node, "tag '\(k.value)' has a value of \(v.value.count) characters; Azure allows 256",
                    fix: "shorten it")
                continue
            }
            if template(v, path: "\(r.child("tags")).\(k.value)", allowed: ["BuildName"]) != nil {
                out[k.value] = v.value
            }
        }
        if out.count > 46 {
            ctx.error(
                tags.node, "\(r.child("tags")) has \(out.count) tags; Azure allows 50 per resource and Kiln uses 4",
                fix: "keep at most 46")
        }
        return out
    }

    func decodeTemporary(_ r: MappingReader) -> TemporarySettings {
        var out = TemporarySettings()
        if let rg = r.string("resourceGroup") {
            checkName(rg, path: r.child("resourceGroup"), kind: .resourceGroup)
            out.resourceGroup = rg.value
        }
        if let keep = r.bool("keep") { out.keep = keep.value }
        r.finish()
        return out
    }

    func decodeTimeouts(_ r: MappingReader) -> Timeouts {
        var out = Timeouts()
        if let v = r.duration("deviceWait") { out.deviceWait = v.value }
        if let v = r.duration("azureOperation") { out.azureOperation = v.value }
        if let v = r.duration("replication") { out.replication = v.value }
        if let v = r.duration("provisionStep") { out.provisionStep = v.value }
        for key in ["deviceWait", "azureOperation", "replication", "provisionStep"] {
            if let v = r.duration(key), v.value.value == 0 {
                ctx.error(v.node, "\(r.child(key)) is zero", fix: "give a positive duration, e.g. 5m")
            }
        }
        r.finish()
        return out
    }
}
