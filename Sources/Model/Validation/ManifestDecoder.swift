import Foundation
import Yams

/// Turns a composed YAML document into a `Manifest`, reporting every problem it finds to the
/// context, then applying defaults. Each section has its own method; cross-field checks sit
/// in the method that owns both fields.
struct ManifestDecoder {
    let ctx: DecodeContext
    /// The source text split into lines, to place errors inside block scalars.
    let lines: [Substring]

    /// Placeholder instance metadata used to check that templated resource ids have the right shape.
    static let placeholderVM: [String: String] = [
        "name": "vm", "subscription_id": "00000000-0000-0000-0000-000000000000", "resource_group": "rg",
        "location": "eastus", "zone": "1", "resource_id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm",
        "vm_size": "Standard_D2s_v5",
    ]

    static let shellVariables: Set<String> = ["Device", "MountPath", "BuildName"]

    func decodeManifest(_ root: Node?) -> Manifest? {
        guard let root else {
            ctx.add(Diagnostic(.error, at: ctx.location(line: 1, column: 1), "the manifest is empty",
                               fix: "add a `builds:` list; see manifests/quickstart.yaml"))
            return nil
        }
        guard let top = MappingReader(root, path: "", ctx: ctx) else { return nil }
        if let v = top.int("version", range: 1...1000) , v.value != 1 {
            ctx.error(v.node, "manifest version \(v.value) is not supported by this Kiln", fix: "use version: 1, or a newer Kiln")
        }
        let azure = top.mapping("azure").map(decodeAzure) ?? AzureSettings()
        var builds: [Build] = []
        if let items = top.sequence("builds", fix: "write each build as a `- name: …` item") {
            if items.isEmpty {
                ctx.error(top.raw("builds"), "builds is empty", fix: "add at least one build")
            }
            var seen: [String: Node] = [:]
            var located: [Located<Build>] = []
            for (i, item) in items.enumerated() {
                guard let b = decodeBuild(item, path: "builds[\(i)]") else { continue }
                located.append(b)
                if let first = seen[b.value.name.lowercased()] {
                    ctx.error(b.node, "build name '\(b.value.name)' is used twice (first at line \(first.mark?.line ?? 0))",
                              fix: "give each build its own name: it names the temporary resources and the journal")
                } else {
                    seen[b.value.name.lowercased()] = b.node
                }
                builds.append(b.value)
            }
            checkOutputsUnique(located)
        } else if !top.has("builds") {
            top.missing("builds", fix: "add a `builds:` list; see manifests/quickstart.yaml")
        }
        top.finish()
        return Manifest(file: ctx.file, azure: azure, builds: builds)
    }

    // MARK: azure

    func decodeAzure(_ r: MappingReader) -> AzureSettings {
        var out = AzureSettings()
        if let cloud = r.choice("cloud", AzureSettings.Cloud.self) { out.cloud = cloud.value }
        if let endpoint = r.string("metadataEndpoint") {
            if checkURL(endpoint, path: r.child("metadataEndpoint")) { out.metadataEndpoint = endpoint.value }
            if out.cloud != .custom {
                ctx.error(endpoint.node, "azure.metadataEndpoint is only used with cloud: custom", fix: "set azure.cloud: custom, or remove the endpoint")
            }
        } else if out.cloud == .custom {
            ctx.error(r.raw("cloud"), "cloud: custom needs azure.metadataEndpoint", fix: "give the ARM metadata URL, e.g. https://management.local.azurestack.external/metadata/endpoints?api-version=2022-09-01")
        }
        if let s = r.string("subscription") {
            if checkGUIDOrTemplate(s, path: r.child("subscription")) { out.subscription = s.value }
        }
        if let t = r.string("tenant") {
            if checkGUIDOrTemplate(t, path: r.child("tenant"), allowDomain: true) { out.tenant = t.value }
        }
        if let c = r.mapping("credential") { out.credential = decodeCredential(c) }
        r.finish()
        return out
    }

    func decodeCredential(_ r: MappingReader) -> CredentialSettings {
        var out = CredentialSettings()
        let kind = r.choice("kind", CredentialSettings.Kind.self)
        if let kind { out.kind = kind.value }
        out.clientId = r.string("clientId").flatMap { checkGUIDOrTemplate($0, path: r.child("clientId")) ? $0.value : nil }
        out.clientSecretEnv = r.string("clientSecretEnv").flatMap { checkEnvName($0, path: r.child("clientSecretEnv")) ? $0.value : nil }
        out.clientCertificatePath = r.string("clientCertificatePath")?.value
        out.clientCertificatePasswordEnv = r.string("clientCertificatePasswordEnv").flatMap { checkEnvName($0, path: r.child("clientCertificatePasswordEnv")) ? $0.value : nil }
        out.federatedTokenFile = r.string("federatedTokenFile")?.value
        if let u = r.string("oidcRequestURL"), checkURL(u, path: r.child("oidcRequestURL")) { out.oidcRequestURL = u.value }
        out.oidcRequestTokenEnv = r.string("oidcRequestTokenEnv").flatMap { checkEnvName($0, path: r.child("oidcRequestTokenEnv")) ? $0.value : nil }
        // Each explicit kind needs its own inputs.
        let needs: [CredentialSettings.Kind: [(String, Bool)]] = [
            .clientSecret: [("clientId", out.clientId != nil), ("clientSecretEnv", out.clientSecretEnv != nil)],
            .clientCertificate: [("clientId", out.clientId != nil), ("clientCertificatePath", out.clientCertificatePath != nil)],
            .federatedToken: [("clientId", out.clientId != nil), ("federatedTokenFile or oidcRequestURL", out.federatedTokenFile != nil || out.oidcRequestURL != nil)],
        ]
        for (field, present) in needs[out.kind] ?? [] where !present {
            ctx.error(kind?.node ?? r.node, "credential kind \(out.kind.rawValue) needs azure.credential.\(field)",
                      fix: "add it (secrets are named by environment variable, never written in the manifest)")
        }
        if let secret = r.raw("clientSecret") {
            ctx.error(secret, "azure.credential.clientSecret would put a secret in the manifest",
                      fix: "put the secret in an environment variable and name it with clientSecretEnv")
        }
        r.finish()
        return out
    }

    // MARK: build

    func decodeBuild(_ node: Node, path: String) -> Located<Build>? {
        guard let r = MappingReader(node, path: path, ctx: ctx) else { return nil }
        let name = r.string("name", required: true, fix: "name the build, e.g. name: ubuntu-base")
        if let name, !Self.isBuildName(name.value) {
            ctx.error(name.node, "\(r.child("name")) '\(name.value)' is not a valid build name",
                      fix: "use 1 to 48 letters, digits, '-', '_' or '.', starting with a letter or digit (it becomes part of Azure resource names)")
        }
        let label = name.map { "build '\($0.value)'" } ?? path
        let source = r.mapping("source").flatMap { decodeSource($0) }
        if r.raw("source") == nil {
            r.missing("source", fix: "add source: with one of platformImage, disk, galleryImageVersion or scratch")
        }
        var disk = r.mapping("disk").map { decodeDisk($0, source: source) } ?? DiskSettings()
        let mountReader = r.mapping("mount")
        var mount = mountReader.map { decodeMount($0) } ?? MountSettings()
        if mountReader?.raw("copyFiles") == nil, case .scratch? = source?.value {
            mount.copyFiles = []
        }
        let provision = r.sequence("provision", fix: "write each step as a `- shell: …`, `- script: …` or `- upload: …` item")
            .map { decodeProvision($0, path: r.child("provision")) } ?? []
        let outputs = r.mapping("outputs").map(decodeOutputs)
        if r.raw("outputs") == nil {
            r.missing("outputs", fix: "add outputs.image and/or outputs.gallery (or outputs.skip: true to provision only)")
        }
        let tags = decodeTags(r)
        let temporary = r.mapping("temporary").map(decodeTemporary) ?? TemporarySettings()
        let timeouts = r.mapping("timeouts").map(decodeTimeouts) ?? Timeouts()
        r.finish()

        // Cross-field checks that need the source.
        if case .scratch? = source?.value {
            if mount.preMountCommands.isEmpty {
                ctx.error(source?.node, "\(label) starts from scratch but has no mount.preMountCommands",
                          fix: "add commands that partition and format {{.Device}}, e.g. sfdisk and mkfs.ext4")
            }
            if let lvm = mountReader?.raw("lvmRootDevice") {
                ctx.error(lvm, "mount.lvmRootDevice cannot be used with a scratch source", fix: "remove it: a scratch disk has no volume group yet")
            }
            if let size = r.mapping("disk")?.raw("sizeGB") {
                ctx.error(size, "disk.sizeGB conflicts with source.scratch.sizeGB", fix: "give the size once, in source.scratch.sizeGB")
            }
            if disk.hyperVGeneration == nil { disk.hyperVGeneration = .v1 }
        }
        for (i, d) in disk.dataDisks.enumerated() where d.origin == .source {
            if let s = source?.value, case .galleryImageVersion = s { continue }
            ctx.error(r.mapping("disk")?.sequence("dataDisks")?[i], "data disk at LUN \(d.lun) copies from the source, but the source is not a gallery image version",
                      fix: "use origin: empty with a sizeGB, or build from a gallery image version")
        }
        guard let name, let source, let outputs else { return nil }
        var build = Build(name: name.value, source: source.value, disk: disk, mount: mount, provision: provision,
                          outputs: outputs, tags: tags, temporary: temporary, timeouts: timeouts)
        build.provision = build.provision.map { step in
            var s = step
            if s.timeout == Timeouts.defaultProvisionStep { s.timeout = timeouts.provisionStep }
            return s
        }
        return Located(value: build, node: node)
    }

    static func isBuildName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, s.unicodeScalars.count <= 48 else { return false }
        let ok = { (c: Unicode.Scalar) in c.isASCII && (CharacterSet.alphanumerics.contains(c) || c == "-" || c == "_" || c == ".") }
        return first.isASCII && CharacterSet.alphanumerics.contains(first) && s.unicodeScalars.allSatisfy(ok)
    }

    // MARK: source

    func decodeSource(_ r: MappingReader) -> Located<Source>? {
        let kinds = ["platformImage", "disk", "galleryImageVersion", "scratch"]
        let present = kinds.filter { r.has($0) }
        var out: Source?
        if present.count > 1 {
            ctx.error(r.keyNode(present[1]), "source has both \(present[0]) and \(present[1])",
                      fix: "a build has exactly one source: keep one of \(present.joined(separator: ", "))")
        } else if present.isEmpty {
            ctx.error(r.node, "source names no image", fix: "add one of: platformImage: publisher:offer:sku:version, disk: <disk id>, galleryImageVersion: <version id>, scratch: {sizeGB: N}")
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
           resourceID(id, path: r.child("galleryImageVersion"), type: "Microsoft.Compute/galleries/images/versions") != nil {
            if out == nil { out = .galleryImageVersion(id.value) }
        }
        if let scratch = r.mapping("scratch") {
            if let size = scratch.int("sizeGB", range: 1...32767, required: true, unit: "GiB", fix: "give the empty disk's size, e.g. sizeGB: 30") {
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
            candidate = (try? t.render(TemplateValues(variables: ["BuildName": "b"], vm: Self.placeholderVM), mode: .plain)) ?? text.value
        } catch {
            report(error, in: text, path: path)
            return nil
        }
        do throws(ResourceIDError) {
            let id = try ResourceID(parsing: candidate)
            guard id.isType(type) else {
                ctx.error(text.node, "\(path) is a \(id.fullType) id, not a \(type) id", fix: "give the id of a \(type.split(separator: "/").last.map(String.init) ?? type) resource")
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
        if let z = r.string("zone") {
            if z.value.count <= 3, z.value.allSatisfy(\.isNumber) { out.zone = z.value } else {
                ctx.error(z.node, "disk.zone is '\(z.value)', not an availability zone number", fix: "use 1, 2 or 3, or leave it out to use the builder VM's zone")
            }
        }
        if let items = r.sequence("dataDisks") {
            var luns: [Int: Node] = [:]
            for (i, item) in items.enumerated() {
                guard let d = MappingReader(item, path: r.child("dataDisks[\(i)]"), ctx: ctx) else { continue }
                let lun = d.int("lun", range: 0...63, required: true, fix: "give the LUN the disk has in the image, 0 to 63")
                var disk = DataDisk(lun: lun?.value ?? 0)
                if let o = d.choice("origin", DataDisk.Origin.self) { disk.origin = o.value }
                disk.sizeGB = d.int("sizeGB", range: 1...32767, unit: "GiB")?.value
                if let v = d.choice("storageAccountType", StorageAccountType.self) { disk.storageAccountType = v.value }
                if let v = d.choice("cacheType", CacheType.self) { disk.cacheType = v.value }
                if let p = d.string("mountPath") {
                    if p.value.hasPrefix("/") && !p.value.split(separator: "/").contains("..") { disk.mountPath = p.value } else {
                        ctx.error(p.node, "\(d.child("mountPath")) must be an absolute path inside the image with no '..'", fix: "e.g. /var/lib/data")
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
                        ctx.error(lun.node, "LUN \(lun.value) is used by two data disks (first at line \(first.mark?.line ?? 0))", fix: "give each data disk its own LUN")
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

    // MARK: mount

    func decodeMount(_ r: MappingReader) -> MountSettings {
        var out = MountSettings()
        if let p = r.raw("partition") {
            if case .scalar(let s) = p, s.string.lowercased() == "whole" || s.string == "0" {
                out.partition = .whole
            } else if let n = r.int("partition", range: 1...128, fix: "give a partition number, or `whole` to mount the whole disk") {
                out.partition = .number(n.value)
            }
        }
        if let path = r.string("path"), let t = template(path, path: r.child("path"), allowed: ["BuildName", "Device"]) {
            let probe = (try? t.render(TemplateValues(variables: ["BuildName": "b", "Device": "sdc"], vm: Self.placeholderVM), mode: .plain)) ?? path.value
            if !probe.hasPrefix("/") || probe == "/" || probe.split(separator: "/").contains("..") {
                ctx.error(path.node, "mount.path must be an absolute directory other than / and without '..'", fix: "e.g. /mnt/kiln/{{.BuildName}}")
            } else {
                out.path = path.value
            }
        }
        if let opts = r.strings("options") {
            out.options = opts.value.compactMap { o in
                if o.value.contains(where: { $0.isWhitespace }) {
                    ctx.error(o.node, "mount option '\(o.value)' contains whitespace", fix: "give one option per item, e.g. - noatime")
                    return nil
                }
                return o.value
            }
        }
        if let lvm = r.string("lvmRootDevice") {
            let v = lvm.value
            if v.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 } == true }) {
                ctx.error(lvm.node, "mount.lvmRootDevice contains whitespace or control characters", fix: "give a device path such as /dev/rootvg/rootlv")
            } else if v.split(separator: "/").contains("..") {
                ctx.error(lvm.node, "mount.lvmRootDevice must not contain '..'", fix: "give a device path such as /dev/rootvg/rootlv")
            } else if !v.hasPrefix("/dev/") {
                ctx.error(lvm.node, "mount.lvmRootDevice must be a path under /dev/", fix: "e.g. /dev/rootvg/rootlv or /dev/mapper/rootvg-rootlv")
            } else {
                out.lvmRootDevice = v
            }
        }
        if let m = r.string("manualMountCommand"), template(m, path: r.child("manualMountCommand"), allowed: ["Device", "MountPath", "BuildName"]) != nil {
            out.manualMountCommand = m.value
            if let o = r.raw("options") {
                ctx.error(o, "mount.options has no effect with mount.manualMountCommand", fix: "put the options in your mount command")
            }
        }
        out.preMountCommands = commands(r, "preMountCommands", allowed: ["Device", "BuildName"])
        out.postMountCommands = commands(r, "postMountCommands", allowed: Self.shellVariables)
        out.preUnmountCommands = commands(r, "preUnmountCommands", allowed: Self.shellVariables)
        if let items = r.sequence("chrootMounts") {
            out.chrootMounts = items.enumerated().compactMap { i, item in decodeChrootMount(item, path: r.child("chrootMounts[\(i)]")) }
        }
        if let files = r.strings("copyFiles") {
            out.copyFiles = files.value.compactMap { f in
                guard f.value.hasPrefix("/"), !f.value.hasSuffix("/"), !f.value.split(separator: "/").contains("..") else {
                    ctx.error(f.node, "copyFiles entry '\(f.value)' must be an absolute file path without '..'", fix: "e.g. /etc/resolv.conf")
                    return nil
                }
                return f.value
            }
        }
        if let w = r.string("commandWrapper"), let t = template(w, path: r.child("commandWrapper"), allowed: ["Command"]) {
            if !t.variables.contains("Command") {
                ctx.error(w.node, "mount.commandWrapper does not use {{.Command}}, so every host command would be dropped",
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
                ctx.error(node, "\(path) has \(seq.count) items; a chroot mount is [type, source, target]", fix: "e.g. [proc, proc, /proc]")
                return nil
            }
            let parts = seq.enumerated().compactMap { MappingReader.scalarString($1, path: "\(path)[\($0)]", ctx: ctx)?.value }
            guard parts.count == 3 else { return nil }
            return checkedChrootMount(ChrootMount(type: parts[0], source: parts[1], target: parts[2]), node: node, path: path)
        }
        guard let r = MappingReader(node, path: path, ctx: ctx) else { return nil }
        let type = r.string("type", required: true, fix: "e.g. type: proc, or bind")
        let source = r.string("source", required: true, fix: "e.g. source: proc, or a host path for bind")
        let target = r.string("target", required: true, fix: "e.g. target: /proc")
        r.finish()
        guard let type, let source, let target else { return nil }
        return checkedChrootMount(ChrootMount(type: type.value, source: source.value, target: target.value), node: node, path: path)
    }

    private func checkedChrootMount(_ m: ChrootMount, node: Node, path: String) -> ChrootMount? {
        guard m.target.hasPrefix("/"), !m.target.split(separator: "/").contains("..") else {
            ctx.error(node, "\(path) target '\(m.target)' must be an absolute path inside the image without '..'", fix: "e.g. /proc")
            return nil
        }
        return m
    }

    func commands(_ r: MappingReader, _ key: String, allowed: Set<String>) -> [String] {
        guard let list = r.strings(key) else { return [] }
        return list.value.compactMap { c in template(c, path: r.child(key), allowed: allowed) != nil ? c.value : nil }
    }

    // MARK: provision

    func decodeProvision(_ items: [Node], path: String) -> [ProvisionStep] {
        var out: [ProvisionStep] = []
        var names: [String: Node] = [:]
        for (i, item) in items.enumerated() {
            let p = "\(path)[\(i)]"
            guard let r = MappingReader(item, path: p, ctx: ctx) else { continue }
            let kinds = ["shell", "script", "upload"].filter { r.has($0) }
            if kinds.count > 1 {
                ctx.error(r.keyNode(kinds[1]), "\(p) has both \(kinds[0]) and \(kinds[1])", fix: "split them into two steps")
            } else if kinds.isEmpty {
                ctx.error(item, "\(p) says nothing to do", fix: "add shell: [commands], script: path, or upload: {source, destination}")
            }
            var action: ProvisionStep.Action?
            if let lines = r.strings("shell", fix: "write the commands as a list, one `- command` per line") {
                if lines.value.isEmpty { ctx.error(lines.node, "\(p).shell is empty", fix: "add at least one command") }
                let ok = templates(lines.value, path: r.child("shell"), allowed: Self.shellVariables)
                if ok, action == nil { action = .shell(lines.value.map(\.value)) }
            }
            if let script = r.string("script") {
                let args = r.strings("args")?.value ?? []
                let argsOK = templates(args, path: r.child("args"), allowed: Self.shellVariables)
                if checkFile(script, path: r.child("script"), directoryAllowed: false), argsOK, action == nil {
                    action = .script(path: script.value, args: args.map(\.value))
                }
            } else if let a = r.raw("args") {
                ctx.error(a, "\(p).args is only used with script", fix: "remove it, or make the step a script")
            }
            if let upload = r.mapping("upload") {
                let src = upload.string("source", required: true, fix: "give a file or directory next to the manifest")
                let dst = upload.string("destination", required: true, fix: "give the absolute path inside the image, e.g. /etc/motd")
                var mode: UInt16?
                if let m = upload.raw("mode") {
                    let text: String? = if case .scalar(let s) = m { s.string } else { nil }
                    let digits = text.map { $0.hasPrefix("0o") ? String($0.dropFirst(2)) : $0 }
                    if let digits, let v = UInt16(digits, radix: 8), v <= 0o7777, !digits.isEmpty {
                        mode = v
                    } else {
                        ctx.error(m, "\(upload.child("mode")) is not an octal file mode", fix: "write it quoted, e.g. mode: \"0644\"")
                    }
                }
                if let dst, !(dst.value.hasPrefix("/") && !dst.value.split(separator: "/").contains("..")) {
                    ctx.error(dst.node, "\(upload.child("destination")) must be an absolute path inside the image without '..'", fix: "e.g. /etc/motd")
                }
                let srcOK = src.map { checkFile($0, path: upload.child("source"), directoryAllowed: true) } ?? false
                upload.finish()
                if let src, let dst, srcOK, dst.value.hasPrefix("/"), action == nil {
                    action = .upload(source: src.value, destination: dst.value, mode: mode)
                }
            }
            var env: [String: String] = [:]
            if let e = r.stringMap("env") {
                for (k, v) in e.value {
                    if checkEnvName(k, path: "\(p).env") && template(v, path: "\(p).env.\(k.value)", allowed: Self.shellVariables) != nil {
                        env[k.value] = v.value
                    }
                }
            }
            let timeout = r.duration("timeout")
            let kindName = kinds.first ?? "step"
            var name = "\(kindName)-\(i + 1)"
            if let n = r.string("name") {
                if Self.isBuildName(n.value) { name = n.value } else {
                    ctx.error(n.node, "\(p).name '\(n.value)' is not a valid step name", fix: "use letters, digits, '-', '_' or '.'")
                }
                if let first = names[n.value] {
                    ctx.error(n.node, "step name '\(n.value)' is used twice (first at line \(first.mark?.line ?? 0))", fix: "give each step its own name")
                }
                names[n.value] = n.node
            }
            r.finish()
            if let action {
                out.append(ProvisionStep(name: name, action: action, env: env, timeout: timeout?.value ?? Timeouts.defaultProvisionStep))
            }
        }
        return out
    }

    // MARK: outputs

    func decodeOutputs(_ r: MappingReader) -> Outputs {
        var out = Outputs()
        if let image = r.mapping("image") {
            if let id = image.string("id", required: true, fix: "give the managed image's resource id"),
               resourceID(id, path: image.child("id"), type: "Microsoft.Compute/images") != nil {
                out.image = ImageOutput(id: id.value)
            }
            image.finish()
        }
        if let g = r.mapping("gallery") { out.gallery = decodeGallery(g) }
        if let skip = r.bool("skip") {
            out.skip = skip.value
            if skip.value, r.has("image") || r.has("gallery") {
                ctx.error(skip.node, "outputs.skip: true conflicts with outputs.image/outputs.gallery", fix: "remove skip, or remove the outputs")
            }
        }
        if !out.skip && !r.has("image") && !r.has("gallery") {
            ctx.error(r.node, "outputs names neither an image nor a gallery version",
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
        let version = r.string("version", required: true, fix: "give the version to publish, MAJOR.MINOR.PATCH")
        if let rg { checkName(rg, path: r.child("resourceGroup"), kind: .resourceGroup) }
        if let gallery { checkName(gallery, path: r.child("gallery"), kind: .gallery) }
        if let definition { checkName(definition, path: r.child("imageDefinition"), kind: .imageDefinition) }
        var versionOK = false
        if let version {
            versionOK = Self.isGalleryVersion(version.value)
            if !versionOK {
                ctx.error(version.node, "\(r.child("version")) '\(version.value)' is not MAJOR.MINOR.PATCH",
                          fix: "use three whole numbers, e.g. 1.0.0 (each at most 2147483647)")
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
                        if seen[region] != nil { ctx.error(item, "region \(region) is listed twice", fix: "list each region once") } else {
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
                if let s = t.choice("storageAccountType", ReplicaStorageType.self) { region.storageAccountType = s.value }
                t.finish()
                if let name, let rn = regionName(name, path: "\(p).name") {
                    region.name = rn
                    if let first = seen[rn] {
                        ctx.error(name.node, "region \(rn) is listed twice (first at line \(first.mark?.line ?? 0))", fix: "list each region once")
                    } else {
                        seen[rn] = name.node
                        regions.append(region)
                    }
                }
            }
        }
        if regions.isEmpty {
            ctx.warning(r.raw("targetRegions") ?? r.node, "\(r.path) has no targetRegions, so the version is replicated only to the builder VM's region",
                        fix: "list the regions that need the image under targetRegions")
        }
        var exclude = r.bool("excludeFromLatest")?.value ?? false
        if let old = r.bool("exludeFromLatest") {
            ctx.warning(old.node, "exludeFromLatest is misspelt (Packer's old key)", fix: "write excludeFromLatest")
            exclude = exclude || old.value
        }
        var eol: String?
        if let e = r.string("endOfLifeDate") {
            if let date = Self.parseDate(e.value) {
                eol = e.value
                if date < Date() {
                    ctx.warning(e.node, "\(r.child("endOfLifeDate")) \(e.value) is in the past", fix: "use a future date, or remove it")
                }
            } else {
                ctx.error(e.node, "\(r.child("endOfLifeDate")) '\(e.value)' is not a date", fix: "write YYYY-MM-DD or an RFC 3339 time such as 2027-06-30T00:00:00Z")
            }
        }
        r.finish()
        guard let rg, let gallery, let definition, let version, versionOK else { return nil }
        return GalleryOutput(subscription: sub?.value, resourceGroup: rg.value, gallery: gallery.value, imageDefinition: definition.value,
                             version: version.value, targetRegions: regions, excludeFromLatest: exclude, endOfLifeDate: eol)
    }

    static func isGalleryVersion(_ v: String) -> Bool {
        let parts = v.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 3 && parts.allSatisfy { p in !p.isEmpty && p.count <= 10 && p.allSatisfy { $0.isASCII && $0.isNumber } && (Int(p) ?? .max) <= Int(Int32.max) }
    }

    static func parseDate(_ text: String) -> Date? {
        let day = DateFormatter()
        day.locale = Locale(identifier: "en_US_POSIX")
        day.timeZone = TimeZone(identifier: "UTC")
        day.dateFormat = "yyyy-MM-dd"
        if text.count == 10, let d = day.date(from: text) { return d }
        let iso = ISO8601DateFormatter()
        if let d = iso.date(from: text) { return d }
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return iso.date(from: text)
    }

    func regionName(_ text: Located<String>, path: String) -> String? {
        if text.value.contains("{{") {
            return template(text, path: path, allowed: []) != nil ? text.value : nil
        }
        let squashed = RegionName.normalized(text.value)
        guard !squashed.isEmpty, squashed.count <= 40, squashed.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            ctx.error(text.node, "\(path) '\(text.value)' is not an Azure region name", fix: "use a name such as eastus or westeurope, or {{vm \"location\"}}")
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
                ctx.error(k.node, "tag '\(k.value)' uses the reserved prefix \(KilnTag.prefix)",
                          fix: "Kiln sets \(KilnTag.prefix)* tags itself; rename yours")
                continue
            }
            if k.value.count > 512 || k.value.contains(where: { "<>%&\\?/".contains($0) }) {
                ctx.error(k.node, "tag name '\(k.value.prefix(40))' is not allowed by Azure", fix: "use at most 512 characters and none of < > % & \\ ? /")
                continue
            }
            if v.value.count > 256 {
                ctx.error(v.node, "tag '\(k.value)' has a value of \(v.value.count) characters; Azure allows 256", fix: "shorten it")
                continue
            }
            if template(v, path: "\(r.child("tags")).\(k.value)", allowed: ["BuildName"]) != nil { out[k.value] = v.value }
        }
        if out.count > 46 {
            ctx.error(tags.node, "\(r.child("tags")) has \(out.count) tags; Azure allows 50 per resource and Kiln uses 4", fix: "keep at most 46")
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

    // MARK: checks

    enum NameKind { case resourceGroup, gallery, imageDefinition }

    func checkName(_ text: Located<String>, path: String, kind: NameKind) {
        if text.value.contains("{{") {
            _ = template(text, path: path, allowed: ["BuildName"])
            return
        }
        let v = text.value
        let ascii = v.allSatisfy(\.isASCII)
        switch kind {
        case .resourceGroup:
            let ok = ascii && (1...90).contains(v.count) && !v.hasSuffix(".")
                && v.allSatisfy { $0.isLetter || $0.isNumber || "-_.()".contains($0) }
            if !ok { ctx.error(text.node, "\(path) '\(v)' is not a valid resource group name", fix: "use 1 to 90 letters, digits, - _ . ( ), not ending in a period") }
        case .gallery:
            let ok = ascii && (1...80).contains(v.count) && v.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }
                && !v.hasPrefix(".") && !v.hasSuffix(".")
            if !ok { ctx.error(text.node, "\(path) '\(v)' is not a valid gallery name", fix: "use 1 to 80 letters, digits, '_' and '.' (no hyphens), not starting or ending with '.'") }
        case .imageDefinition:
            let ok = ascii && (1...80).contains(v.count) && v.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) }
                && (v.first?.isLetter == true || v.first?.isNumber == true) && !v.hasSuffix(".") && !v.hasSuffix("-")
            if !ok { ctx.error(text.node, "\(path) '\(v)' is not a valid image definition name", fix: "use 1 to 80 letters, digits, '-', '_' and '.', starting with a letter or digit") }
        }
    }

    func checkGUIDOrTemplate(_ text: Located<String>, path: String, allowDomain: Bool = false) -> Bool {
        if text.value.contains("{{") { return template(text, path: path, allowed: []) != nil }
        if UUID(uuidString: text.value) != nil { return true }
        if allowDomain, text.value.contains("."), text.value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }) { return true }
        ctx.error(text.node, "\(path) '\(text.value)' is not a GUID\(allowDomain ? " or a domain" : "")",
                  fix: "write it as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, or use {{env \"NAME\"}}")
        return false
    }

    func checkEnvName(_ text: Located<String>, path: String) -> Bool {
        let ok = text.value.first.map { $0.isLetter || $0 == "_" } == true
            && text.value.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
        if !ok { ctx.error(text.node, "\(path) '\(text.value)' is not an environment variable name", fix: "use letters, digits and _, e.g. AZURE_CLIENT_SECRET") }
        return ok
    }

    func checkURL(_ text: Located<String>, path: String) -> Bool {
        guard let url = URL(string: text.value), let scheme = url.scheme?.lowercased(), scheme == "https" || scheme == "http", url.host != nil else {
            ctx.error(text.node, "\(path) '\(text.value)' is not an http(s) URL", fix: "write a full URL such as https://example.com/path")
            return false
        }
        return true
    }

    func checkFile(_ text: Located<String>, path: String, directoryAllowed: Bool) -> Bool {
        let url = text.value.hasPrefix("/") ? URL(fileURLWithPath: text.value) : ctx.baseDirectory.appendingPathComponent(text.value)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            ctx.error(text.node, "\(path) '\(text.value)' does not exist (looked for \(url.standardizedFileURL.path))",
                      fix: "paths are relative to the manifest's directory; create the file or fix the path")
            return false
        }
        if isDirectory.boolValue && !directoryAllowed {
            ctx.error(text.node, "\(path) '\(text.value)' is a directory, not a script", fix: "name the script file")
            return false
        }
        return true
    }

    /// Parses a template and reports a syntax error at its exact place.
    @discardableResult
    func template(_ text: Located<String>, path: String, allowed: Set<String>) -> Template? {
        let problems = Template.problems(in: text.value, allowed: allowed)
        for p in problems { report(p, in: text, path: path) }
        return problems.isEmpty ? try? Template(parsing: text.value, allowed: allowed) : nil
    }

    /// Checks every template of a list (not stopping at the first bad one).
    func templates(_ texts: [Located<String>], path: String, allowed: Set<String>) -> Bool {
        texts.map { template($0, path: path, allowed: allowed) != nil }.allSatisfy { $0 }
    }

    func report(_ error: TemplateError, in text: Located<String>, path: String) {
        let loc = location(of: error.offset, in: text)
        ctx.add(Diagnostic(.error, at: loc, "\(path): \(error.message)", fix: error.fix))
    }

    /// The line and column of a character offset inside a scalar, following the scalar's style.
    func location(of offset: Int, in text: Located<String>) -> SourceLocation {
        guard case .scalar(let s) = text.node, let mark = s.mark else { return ctx.location(text.node) }
        let prefix = text.value.unicodeScalars.prefix(offset)
        let newlines = prefix.filter { $0 == "\n" }.count
        let sinceNewline = prefix.count - (prefix.lastIndex(of: "\n").map { prefix.distance(from: prefix.startIndex, to: $0) + 1 } ?? 0)
        switch s.style {
        case .literal, .folded:
            let line = mark.line + 1 + newlines
            let indent = line - 1 < lines.count ? lines[line - 1].prefix(while: { $0 == " " }).count : 0
            return ctx.location(line: line, column: indent + sinceNewline + 1)
        case .singleQuoted, .doubleQuoted:
            return ctx.location(line: mark.line + newlines, column: newlines == 0 ? mark.column + 1 + offset : sinceNewline + 1)
        default:
            return ctx.location(line: mark.line + newlines, column: newlines == 0 ? mark.column + offset : sinceNewline + 1)
        }
    }

    /// Two builds publishing to the same image or gallery version would overwrite each other.
    func checkOutputsUnique(_ builds: [Located<Build>]) {
        var images: [String: String] = [:], versions: [String: String] = [:]
        for located in builds {
            let (b, node) = (located.value, located.node)
            if let id = b.outputs.image?.id.lowercased() {
                if let other = images[id] {
                    ctx.error(node, "builds '\(other)' and '\(b.name)' both publish the image \(b.outputs.image!.id)", fix: "give each build its own outputs.image.id")
                } else { images[id] = b.name }
            }
            if let g = b.outputs.gallery {
                let key = [g.subscription ?? "", g.resourceGroup, g.gallery, g.imageDefinition, g.version].joined(separator: "/").lowercased()
                if let other = versions[key] {
                    ctx.error(node, "builds '\(other)' and '\(b.name)' both publish \(g.gallery)/\(g.imageDefinition) version \(g.version)",
                              fix: "give each build its own gallery version")
                } else { versions[key] = b.name }
            }
        }
    }
}
