import Foundation
import Yams

/// The source and disk sections.
extension ManifestDecoder {
    // MARK: source

    func decodeSource(_ r: MappingReader) -> Located<Source>? {
        let kinds = SourceKind.allCases.map(\.rawValue)
        let present = kinds.filter { r.has($0) }
        var out: Source?
        if present.count > 1 {
            ctx.error(
                r.keyNode(present[1]), "source has both \(present[0]) and \(present[1])",
                fix: "a build has exactly one source: keep one of \(present.joined(separator: ", "))")
        } else if present.isEmpty {
            ctx.error(
                r.node, "source names no image",
                fix:
                    "add one of: platformImage: publisher:offer:sku:version, disk: <disk id>, galleryImageVersion: <version id>, scratch: {sizeGB: N}"
            )
        }
        if let urn = r.string("platformImage") {
            do throws(PlatformImageURNError) {
                let parsed = try PlatformImageURN(parsing: urn.value)
                if out == nil { out = .platformImage(parsed) }
            } catch {
                ctx.error(urn.node, "\(r.child("platformImage")): \(error.message)", fix: error.fix)
            }
        }
        if let id = r.string("disk"), resourceID(id, path: r.child("disk"), type: "Microsoft.Compute/disks") != nil {
            if out == nil { out = .disk(id.value) }
        }
        if let id = r.string("galleryImageVersion"),
            resourceID(id, path: r.child("galleryImageVersion"), type: "Microsoft.Compute/galleries/images/versions")
                != nil
        {
            if out == nil { out = .galleryImageVersion(id.value) }
        }
        if let scratch = r.mapping("scratch") {
            if let size = scratch.int(
                "sizeGB", range: 1...32767, required: true, unit: "GiB",
                fix: "give the empty disk's size, e.g. sizeGB: 30")
            {
                if out == nil { out = .scratch(sizeGB: size.value) }
            }
            scratch.finish()
        }
        r.finish()
        return out.map { Located(value: $0, node: r.node) }
    }

    func resourceID(_ text: Located<String>, path: String, type: String) -> ResourceID? {
        let candidate: String
        do throws(TemplateError) {
            let t = try Template(parsing: text.value, allowed: ["BuildName"])
            candidate =
                (try? t.render(TemplateValues(variables: ["BuildName": "b"], vm: Self.placeholderVM), mode: .plain))
                ?? text.value
        } catch {
            report(error, in: text, path: path)
            return nil
        }
        do throws(ResourceIDError) {
            let id = try ResourceID(parsing: candidate)
            guard id.isType(type) else {
                ctx.error(
                    text.node, "\(path) is a \(id.fullType) id, not a \(type) id",
                    fix: "give the id of a \(type.split(separator: "/").last.map(String.init) ?? type) resource")
                return nil
            }
            return id
        } catch {
            ctx.error(text.node, "\(path): \(error.message)", fix: error.fix)
            return nil
        }
    }

    // MARK: disk

    func decodeDisk(_ r: MappingReader, source: Located<Source>?) -> DiskSettings {
        var out = DiskSettings()
        out.sizeGB = r.int("sizeGB", range: 1...32767, unit: "GiB")?.value
        if let v = r.choice("storageAccountType", StorageAccountType.self) { out.storageAccountType = v.value }
        if let v = r.choice("cacheType", CacheType.self) { out.cacheType = v.value }
        if let v = r.choice("hyperVGeneration", HyperVGeneration.self) { out.hyperVGeneration = v.value }
        if let v = r.choice("securityType", SecurityType.self) {
            out.securityType = v.value
            if v.value != .standard, out.hyperVGeneration == .v1 {
                ctx.error(
                    v.node,
                    "disk.securityType \(v.value.rawValue) needs a generation 2 (V2) disk; disk.hyperVGeneration is V1",
                    fix: "use hyperVGeneration: V2 (and a V2 source), or securityType: Standard")
            }
        }
        out.diskEncryptionSetId = encryptionSet(r)
        if out.securityType == .confidentialVMDiskEncryptedWithCustomerKey, out.diskEncryptionSetId == nil {
            ctx.error(
                r.raw("securityType") ?? r.node,
                "disk.securityType ConfidentialVM_DiskEncryptedWithCustomerKey needs the customer key's disk encryption set",
                fix: "add disk.diskEncryptionSetId, or use ConfidentialVM_DiskEncryptedWithPlatformKey")
        }
        if let z = r.string("zone") {
            if z.value.count <= 3, z.value.allSatisfy(\.isNumber) {
                out.zone = z.value
            } else {
                ctx.error(
                    z.node, "disk.zone is '\(z.value)', not an availability zone number",
                    fix: "use 1, 2 or 3, or leave it out to use the builder VM's zone")
            }
        }
        if let items = r.sequence("dataDisks") {
            var luns: [Int: Node] = [:]
            for (i, item) in items.enumerated() {
                guard let d = MappingReader(item, path: r.child("dataDisks[\(i)]"), ctx: ctx) else { continue }
                let lun = d.int(
                    "lun", range: 0...63, required: true, fix: "give the LUN the disk has in the image, 0 to 63")
                var disk = DataDisk(lun: lun?.value ?? 0)
                if let o = d.choice("origin", DataDisk.Origin.self) { disk.origin = o.value }
                disk.sizeGB = d.int("sizeGB", range: 1...32767, unit: "GiB")?.value
                if let v = d.choice("storageAccountType", StorageAccountType.self) { disk.storageAccountType = v.value }
                if let v = d.choice("cacheType", CacheType.self) { disk.cacheType = v.value }
                if let p = d.string("mountPath") {
                    if p.value.hasPrefix("/") && !p.value.split(separator: "/").contains("..") {
                        disk.mountPath = p.value
                    } else {
                        ctx.error(
                            p.node, "\(d.child("mountPath")) must be an absolute path inside the image with no '..'",
                            fix: "e.g. /var/lib/data")
                    }
                }
                if let p = d.raw("partition") {
                    if case .scalar(let s) = p, s.string.lowercased() == "whole" || s.string == "0" {
                        disk.partition = .whole
                    } else if let n = d.int("partition", range: 1...128, fix: "give a partition number, or `whole`") {
                        disk.partition = .number(n.value)
                    }
                }
                if disk.origin == .empty && disk.sizeGB == nil {
                    d.missing("sizeGB", fix: "an empty data disk needs a size, e.g. sizeGB: 16")
                }
                if let lun {
                    if let first = luns[lun.value] {
                        ctx.error(
                            lun.node,
                            "LUN \(lun.value) is used by two data disks (first at line \(first.mark?.line ?? 0))",
                            fix: "give each data disk its own LUN")
                    } else {
                        luns[lun.value] = lun.node
                        out.dataDisks.append(disk)
                    }
                }
                d.finish()
            }
        }
        r.finish()
        return out
    }
}
