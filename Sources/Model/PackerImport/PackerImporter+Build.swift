import Foundation

/// One Kiln build from one `azure-chroot` source: source, disk, mount, outputs, temporary.
extension PackerImporter {
    static let builderOptions: Set<String> = [
        "from_scratch", "source", "command_wrapper", "manual_mount_command", "pre_mount_commands", "mount_options",
        "mount_partition", "mount_path", "post_mount_commands", "chroot_mounts", "copy_files", "os_disk_size_gb",
        "os_disk_storage_account_type", "os_disk_cache_type", "data_disk_storage_account_type", "data_disk_cache_type",
        "image_hyperv_generation", "temporary_os_disk_id", "temporary_os_disk_snapshot_id",
        "temporary_data_disk_id_prefix", "temporary_data_disk_snapshot_id", "lvm_root_device", "pre_unmount_commands",
        "skip_cleanup", "image_resource_id", "shared_image_destination", "skip_create_image"
    ]

    typealias Entry = ImportedYAML.Entry

    /// Checks every option is one azure-chroot has.
    func checkOptions(_ source: PackerSource) {
        let known = Self.builderOptions.union(Self.authenticationOptions)
        for a in source.attributes where !known.contains(a.name) {
            let hint = Suggestions.closest(to: a.name, in: Array(known)).map { "did you mean \($0)? " } ?? ""
            diagnostics.error(
                a.field.location, "\(a.name) is not an option of Packer's azure-chroot builder",
                fix: hint + "see docs/manifest.md, \"From Packer's azure-chroot\"")
        }
    }

    /// A value of `E` matched case-insensitively, as Azure (and Packer) match them.
    func choice<E: RawRepresentable & CaseIterable>(_ r: PackerFieldReader, _ key: String, _: E.Type) -> (
        String, SourceLocation
    )?
    where E.RawValue == String {
        guard let v = r.string(key) else { return nil }
        guard let match = E.allCases.first(where: { $0.rawValue.lowercased() == v.value.lowercased() }) else {
            diagnostics.error(
                v.location, "\(key) \"\(v.value)\" is not one of \(E.allCases.map(\.rawValue).joined(separator: ", "))",
                fix: "use one of those")
            return nil
        }
        return (match.rawValue, v.location)
    }

    func sourceEntry(_ r: PackerFieldReader, scratch: inout Bool) -> Entry? {
        if r.bool("from_scratch") == true {
            scratch = true
            if let s = r.field("source") {
                diagnostics.error(
                    s.location, "source cannot be specified when building from_scratch", fix: "remove one")
            }
            guard let size = r.int("os_disk_size_gb") else {
                diagnostics.error(
                    r.field("from_scratch")!.location, "os_disk_size_gb is required with from_scratch",
                    fix: "give the disk size")
                return nil
            }
            return Entry(
                key: "source",
                value: .map([.init(key: "scratch", value: .map([.init(key: "sizeGB", value: .raw(String(size)))]))]),
                comments: ["from_scratch with os_disk_size_gb"], origin: r.field("from_scratch")!.location)
        }
        guard let source = r.string("source"), !source.value.hasPrefix("/") || r.resourceID("source") != nil else {
            if r.field("source") == nil {
                diagnostics.error(
                    r.location,
                    "\(r.owner) has no source",
                    fix: "give source (an image URN or a disk or gallery version id), or from_scratch")
            }
            return nil
        }
        let part = "[-_.a-zA-Z0-9]+"
        if source.value.range(of: "^\(part):\(part):\(part):\(part)$", options: .regularExpression) != nil {
            var urn = source.value
            var comments: [String] = []
            if urn.lowercased().hasSuffix(":latest") {
                urn = String(urn.dropLast(6)) + "latest"
                comments.append(
                    "`latest` resolves at plan time to the numerically highest version (Packer took the first "
                        + "of Azure's list in name order, where 9.0 sorts above 10.0)")
            }
            return Entry(
                key: "source", value: .map([.init(key: "platformImage", value: .scalar(urn))]), comments: comments,
                origin: source.location)
        }
        let segments = source.value.split(separator: "/").map { $0.lowercased() }
        if segments.count >= 8, segments.count % 2 == 0, segments[0] == "subscriptions",
            segments[2] == "resourcegroups",
            segments[4] == "providers", segments[5] == "microsoft.compute"
        {
            let types = stride(from: 6, to: segments.count, by: 2).map { segments[$0] }.joined(separator: "/")
            if types == "disks" {
                return Entry(
                    key: "source", value: .map([.init(key: "disk", value: .scalar(source.value))]),
                    origin: source.location)
            }
            if types == "galleries/images/versions" {
                return Entry(
                    key: "source", value: .map([.init(key: "galleryImageVersion", value: .scalar(source.value))]),
                    comments: [
                        "Packer copied every data disk of this gallery version; Kiln copies those listed under "
                            + "disk.dataDisks: add {lun: N, origin: source} for each"
                    ], origin: source.location)
            }
        }
        diagnostics.error(
            source.location,
            "source \"\(source.value)\" is not a valid platform image specifier, nor a disk or gallery image version resource id",
            fix: "write publisher:offer:sku:version or a /subscriptions/… id")
        return nil
    }

    func diskEntry(_ r: PackerFieldReader, scratch: Bool, gallerySource: Bool) -> Entry {
        var entries: [Entry] = []
        if !scratch, let size = r.int("os_disk_size_gb") {
            entries.append(
                .init(key: "sizeGB", value: .raw(String(size)), origin: r.field("os_disk_size_gb")?.location))
        }
        if let (type, at) = choice(r, "os_disk_storage_account_type", StorageAccountType.self) {
            entries.append(.init(key: "storageAccountType", value: .scalar(type), origin: at))
        } else if r.field("os_disk_storage_account_type") == nil {
            entries.append(
                .init(
                    key: "storageAccountType", value: .scalar(StorageAccountType.standardLRS.rawValue),
                    comments: [
                        "Packer's code made the working disk Premium_LRS when not told (its docs say Standard_LRS); "
                            + "Kiln's default is Standard_LRS, which every VM size can attach"
                    ]))
        }
        if let (type, at) = choice(r, "os_disk_cache_type", CacheType.self) {
            entries.append(.init(key: "cacheType", value: .scalar(type), origin: at))
        }
        if let (generation, at) = choice(r, "image_hyperv_generation", HyperVGeneration.self) {
            entries.append(.init(key: "hyperVGeneration", value: .scalar(generation), origin: at))
        }
        var comments: [String] = []
        if r.field("image_hyperv_generation") == nil && !gallerySource && !scratch {
            comments.append("hyperVGeneration is the source's (Packer set V1 on the working disk unless told)")
        }
        for key in ["data_disk_storage_account_type", "data_disk_cache_type"] {
            guard let f = r.field(key) else { continue }
            if gallerySource {
                let value =
                    key == "data_disk_cache_type"
                    ? choice(r, key, CacheType.self) : choice(r, key, StorageAccountType.self)
                if let value {
                    comments.append("\(key) \(value.0): in Kiln, set it on each disk.dataDisks entry")
                }
            } else {
                diagnostics.warning(f.location, "\(key) has no effect: only a gallery source has data disks to copy")
            }
        }
        return Entry(key: "disk", value: .map(entries), comments: comments)
    }

    func mountEntry(_ r: PackerFieldReader, scratch: Bool) -> Entry? {
        var entries: [Entry] = []
        func text(_ packer: String, _ kiln: String, comment: String? = nil) {
            if let v = r.string(packer) {
                entries.append(
                    .init(key: kiln, value: .scalar(v.value), comments: comment.map { [$0] } ?? [], origin: v.location))
            }
        }
        func list(_ packer: String, _ kiln: String) {
            if let v = r.strings(packer) {
                entries.append(
                    .init(
                        key: kiln, value: .list(v.map { .init(value: .scalar($0)) }), origin: r.field(packer)?.location)
                )
            }
        }
        if let p = r.string("mount_partition") {
            if let n = Int(p.value), n >= 1 {
                entries.append(.init(key: "partition", value: .raw(String(n)), origin: p.location))
            } else {
                diagnostics.error(
                    p.location, "mount_partition \"\(p.value)\" is not a partition number", fix: "write e.g. \"1\"")
            }
        }
        text("mount_path", "path")
        list("mount_options", "options")
        text("lvm_root_device", "lvmRootDevice")
        text("manual_mount_command", "manualMountCommand")
        list("pre_mount_commands", "preMountCommands")
        list("post_mount_commands", "postMountCommands")
        list("pre_unmount_commands", "preUnmountCommands")
        if let v = r.value("chroot_mounts"), let f = r.field("chroot_mounts") {
            if case .list(let mounts) = v.kind {
                if mounts.isEmpty {
                    diagnostics.warning(
                        f.location,
                        "an empty chroot_mounts means Packer's default mounts; the manifest leaves the key out",
                        fix: "Kiln's explicit [] would mount nothing")
                } else {
                    var items: [ImportedYAML.Item] = []
                    for m in mounts {
                        guard
                            let parts = PackerFieldReader.strings(
                                m, key: "chroot_mounts", owner: r.owner, at: f.location, diagnostics: diagnostics)
                        else { continue }
                        guard parts.count == 3 else {
                            diagnostics.error(
                                f.location, "each chroot_mounts entry has 3 parts: type, source, target",
                                fix: "e.g. [\"proc\", \"proc\", \"/proc\"]")
                            continue
                        }
                        items.append(
                            .init(
                                value: .map(
                                    zip(["type", "source", "target"], parts).map { .init(key: $0, value: .scalar($1)) })
                            ))
                    }
                    entries.append(.init(key: "chrootMounts", value: .list(items), origin: f.location))
                }
            } else {
                diagnostics.error(
                    f.location, "chroot_mounts must be a list of [type, source, target]",
                    fix: "e.g. [[\"proc\", \"proc\", \"/proc\"]]")
            }
        }
        let restored =
            "Kiln restores these files to what the image had after provisioning; Packer deleted them, leaving images without /etc/resolv.conf"
        if let files = r.strings("copy_files") {
            entries.append(
                .init(
                    key: "copyFiles", value: .list(files.map { .init(value: .scalar($0)) }),
                    comments: files.isEmpty ? [] : [restored], origin: r.field("copy_files")?.location))
        } else if !scratch {
            entries.append(
                .init(
                    key: "copyFiles", value: .list([.init(value: .scalar("/etc/resolv.conf"))]),
                    comments: ["Packer's default. " + restored]))
        }
        text(
            "command_wrapper", "commandWrapper",
            comment: "Kiln also wraps the mkdir of the mount point (Packer did not)")
        return entries.isEmpty ? nil : Entry(key: "mount", value: .map(entries))
    }
}
