import Foundation
import Yams

/// The mount section: host commands, chroot mounts, copied files.
extension ManifestDecoder {
    // MARK: mount

    func decodeMount(_ r: MappingReader) -> MountSettings {
        var out = MountSettings()
        if let p = r.raw("partition") {
            if case .scalar(let s) = p, s.string.lowercased() == "whole" || s.string == "0" {
                out.partition = .whole
            } else if let n = r.int(
                "partition", range: 1...128, fix: "give a partition number, or `whole` to mount the whole disk")
            {
                out.partition = .number(n.value)
            }
        }
        if let path = r.string("path"), let t = template(path, path: r.child("path"), allowed: ["BuildName", "Device"])
        {
            let probe =
                (try? t.render(
                    TemplateValues(variables: ["BuildName": "b", "Device": "sdc"], vm: Self.placeholderVM), mode: .plain
                )) ?? path.value
            if !probe.hasPrefix("/") || probe == "/" || probe.split(separator: "/").contains("..") {
                ctx.error(
                    path.node, "mount.path must be an absolute directory other than / and without '..'",
                    fix: "e.g. /mnt/kiln/{{.BuildName}}")
            } else {
                out.path = path.value
            }
        }
        if let opts = r.strings("options") {
            out.options = opts.value.compactMap { o in
                if o.value.contains(where: { $0.isWhitespace }) {
                    ctx.error(
                        o.node, "mount option '\(o.value)' contains whitespace",
                        fix: "give one option per item, e.g. - noatime")
                    return nil
                }
                return o.value
            }
        }
        if let lvm = r.string("lvmRootDevice") {
            let v = lvm.value
            if v.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 } == true }) {
                ctx.error(
                    lvm.node, "mount.lvmRootDevice contains whitespace or control characters",
                    fix: "give a device path such as /dev/rootvg/rootlv")
            } else if v.split(separator: "/").contains("..") {
                ctx.error(
                    lvm.node, "mount.lvmRootDevice must not contain '..'",
                    fix: "give a device path such as /dev/rootvg/rootlv")
            } else if !v.hasPrefix("/dev/") {
                ctx.error(
                    lvm.node, "mount.lvmRootDevice must be a path under /dev/",
                    fix: "e.g. /dev/rootvg/rootlv or /dev/mapper/rootvg-rootlv")
            } else {
                out.lvmRootDevice = v
            }
        }
        if let m = r.string("manualMountCommand"),
            template(m, path: r.child("manualMountCommand"), allowed: ["Device", "MountPath", "BuildName"]) != nil
        {
            out.manualMountCommand = m.value
            if let o = r.raw("options") {
                ctx.error(
                    o, "mount.options has no effect with mount.manualMountCommand",
                    fix: "put the options in your mount command")
            }
        }
        out.preMountCommands = commands(r, "preMountCommands", allowed: ["Device", "BuildName"])
        out.postMountCommands = commands(r, "postMountCommands", allowed: Self.shellVariables)
        out.preUnmountCommands = commands(r, "preUnmountCommands", allowed: Self.shellVariables)
        if let items = r.sequence("chrootMounts") {
            out.chrootMounts = items.enumerated().compactMap { i, item in
                decodeChrootMount(item, path: r.child("chrootMounts[\(i)]"))
            }
        }
        if let files = r.strings("copyFiles") {
            out.copyFiles = files.value.compactMap { f in
                guard f.value.hasPrefix("/"), !f.value.hasSuffix("/"), !f.value.split(separator: "/").contains("..")
                else {
                    ctx.error(
                        f.node, "copyFiles entry '\(f.value)' must be an absolute file path without '..'",
                        fix: "e.g. /etc/resolv.conf")
                    return nil
                }
                return f.value
            }
        }
        if let e = r.choice("emulation", Emulation.self) { out.emulation = e.value }
        if let w = r.string("commandWrapper"),
            let t = template(w, path: r.child("commandWrapper"), allowed: ["Command"])
        {
            if !t.variables.contains("Command") {
                ctx.error(
                    w.node, "mount.commandWrapper does not use {{.Command}}, so every host command would be dropped",
                    fix: "include {{.Command}}, e.g. sudo {{.Command}}")
            } else {
                out.commandWrapper = w.value
            }
        }
        r.finish()
        return out
    }

    func decodeChrootMount(_ node: Node, path: String) -> ChrootMount? {
        // Packer writes these as [type, source, target]; Kiln also accepts {type, source, target}.
        if case .sequence(let seq) = node {
            guard seq.count == 3 else {
                ctx.error(
                    node, "\(path) has \(seq.count) items; a chroot mount is [type, source, target]",
                    fix: "e.g. [proc, proc, /proc]")
                return nil
            }
            let parts = seq.enumerated().compactMap {
                MappingReader.scalarString($1, path: "\(path)[\($0)]", ctx: ctx)?.value
            }
            guard parts.count == 3 else { return nil }
            return checkedChrootMount(
                ChrootMount(type: parts[0], source: parts[1], target: parts[2]), node: node, path: path)
        }
        guard let r = MappingReader(node, path: path, ctx: ctx) else { return nil }
        let type = r.string("type", required: true, fix: "e.g. type: proc, or bind")
        let source = r.string("source", required: true, fix: "e.g. source: proc, or a host path for bind")
        let target = r.string("target", required: true, fix: "e.g. target: /proc")
        r.finish()
        guard let type, let source, let target else { return nil }
        return checkedChrootMount(
            ChrootMount(type: type.value, source: source.value, target: target.value), node: node, path: path)
    }

    private func checkedChrootMount(_ m: ChrootMount, node: Node, path: String) -> ChrootMount? {
        guard m.target.hasPrefix("/"), !m.target.split(separator: "/").contains("..") else {
            ctx.error(
                node, "\(path) target '\(m.target)' must be an absolute path inside the image without '..'",
                fix: "e.g. /proc")
            return nil
        }
        return m
    }

    func commands(_ r: MappingReader, _ key: String, allowed: Set<String>) -> [String] {
        guard let list = r.strings(key) else { return [] }
        return list.value.compactMap { c in template(c, path: r.child(key), allowed: allowed) != nil ? c.value : nil }
    }
}
