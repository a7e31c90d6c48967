import Foundation

/// The outputs (managed image, gallery version) and the temporary resources of a build.
extension PackerImporter {
    static let galleryOptions: Set<String> = [
        "resource_group", "gallery_name", "image_name", "image_version", "target_regions", "exclude_from_latest",
        "exlude_from_latest"
    ]

    /// `s` without its `{{timestamp}}` markers (and the separator before each); nil when
    /// nothing of a name is left.
    static func removingTimestamps(_ s: String) -> String? {
        var out = s
        for separator in ["-", "_", ".", ""] {
            out = out.replacingOccurrences(of: separator + HCLScope.timestampMarker, with: "")
        }
        return out.hasSuffix("/") || out.isEmpty ? nil : out
    }

    func outputsEntry(_ r: PackerFieldReader) -> Entry? {
        var entries: [Entry] = []
        if r.bool("skip_create_image") == true {
            entries.append(.init(key: "skip", value: .raw("true"), origin: r.field("skip_create_image")?.location))
        }
        if let id = r.resourceID("image_resource_id", allowTimestamp: true) {
            var comments: [String] = []
            var value = id.value
            if value.contains(HCLScope.timestampMarker) {
                if let fixed = Self.removingTimestamps(value) {
                    value = fixed
                    comments.append(
                        "Packer's {{timestamp}} is left out: Kiln keeps one image per build and replaces it when "
                            + "the build's content digest changes")
                } else {
                    diagnostics.error(
                        id.location, "image_resource_id names the image by a timestamp only",
                        fix: "give it a fixed name")
                }
            }
            entries.append(
                .init(
                    key: "image", value: .map([.init(key: "id", value: .scalar(value), origin: id.location)]),
                    comments: comments, origin: id.location))
        }
        if let gallery = galleryEntry(r) { entries.append(gallery) }
        if entries.isEmpty {
            guard r.field("image_resource_id") == nil && r.field("shared_image_destination") == nil else { return nil }
            diagnostics.error(
                r.location, "\(r.owner): image_resource_id or shared_image_destination is required",
                fix: "give one, or skip_create_image = true")
            return nil
        }
        return Entry(key: "outputs", value: .map(entries))
    }

    private func galleryEntry(_ r: PackerFieldReader) -> Entry? {
        guard var destination = r.value("shared_image_destination"),
            let at = r.field("shared_image_destination")?.location
        else { return nil }
        if case .list(let items) = destination.kind {
            guard items.count == 1 else {
                diagnostics.error(at, "shared_image_destination is given \(items.count) times", fix: "give it once")
                return nil
            }
            destination = items[0]
        }
        guard case .object(let members) = destination.kind else {
            diagnostics.error(
                at, "shared_image_destination must be an object", fix: "write shared_image_destination { … }")
            return nil
        }
        for m in members where !Self.galleryOptions.contains(m.key) {
            let hint =
                Suggestions.closest(to: m.key, in: Array(Self.galleryOptions)).map { "did you mean \($0)? " } ?? ""
            diagnostics.error(
                m.value.location, "\(m.key) is not an option of shared_image_destination", fix: hint + "check the name")
        }
        let d = PackerFieldReader(
            attributes: members.map { m in PackerAttribute(m.key, PackerField(at: m.value.location) { _ in m.value }) },
            context: r.context, diagnostics: diagnostics, owner: "shared_image_destination", location: at)
        var entries: [Entry] = []
        var comments: [String] = []
        for (packer, kiln) in [
            ("resource_group", "resourceGroup"), ("gallery_name", "gallery"), ("image_name", "imageDefinition"),
            ("image_version", "version")
        ] {
            guard let v = d.string(packer) else {
                if d.field(packer) == nil {
                    diagnostics.error(at, "shared_image_destination.\(packer) is required", fix: "give it")
                }
                continue
            }
            entries.append(.init(key: kiln, value: .scalar(v.value), origin: v.location))
        }
        if let regions = d.value("target_regions") {
            let list: [PackerValue] = if case .list(let items) = regions.kind { items } else { [regions] }
            var items: [ImportedYAML.Item] = []
            var defaulted = false
            for region in list {
                guard case .object(let fields) = region.kind else {
                    diagnostics.error(
                        region.location, "each target region is an object with a name",
                        fix: "write { name = \"eastus\" }")
                    continue
                }
                let t = PackerFieldReader(
                    attributes: fields.map { m in
                        PackerAttribute(m.key, PackerField(at: m.value.location) { _ in m.value })
                    },
                    context: r.context, diagnostics: diagnostics, owner: "target_regions", location: region.location)
                for m in fields where !["name", "replicas", "storage_account_type"].contains(m.key) {
                    diagnostics.error(
                        m.value.location, "\(m.key) is not an option of target_regions",
                        fix: "name, replicas and storage_account_type are")
                }
                guard let name = t.string("name") else {
                    if t.field("name") == nil {
                        diagnostics.error(region.location, "a target region needs a name", fix: "add name")
                    }
                    continue
                }
                var entries: [Entry] = [.init(key: "name", value: .scalar(name.value), origin: name.location)]
                if let replicas = t.int("replicas") {
                    entries.append(
                        .init(key: "replicas", value: .raw(String(replicas)), origin: t.field("replicas")?.location))
                } else if t.field("replicas") == nil {
                    defaulted = true
                }
                if let (type, typeAt) = choice(t, "storage_account_type", ReplicaStorageType.self) {
                    entries.append(.init(key: "storageAccountType", value: .scalar(type), origin: typeAt))
                } else if t.field("storage_account_type") == nil {
                    defaulted = true
                }
                items.append(.init(value: .map(entries), origin: name.location))
            }
            entries.append(
                .init(
                    key: "targetRegions", value: .list(items),
                    comments: defaulted
                        ? [
                            "a region without replicas or storageAccountType gets 1 and Standard_LRS (Packer sent 0 and \"\", leaving Azure to choose)"
                        ]
                        : [],
                    origin: regions.location))
        } else {
            comments.append(
                "no target_regions: Kiln publishes to the builder VM's region (Packer: the gallery's region)")
        }
        let exclude = d.bool("exclude_from_latest") ?? d.bool("exlude_from_latest")
        if let exclude {
            entries.append(
                .init(
                    key: "excludeFromLatest", value: .raw(exclude ? "true" : "false"),
                    origin: d.field("exclude_from_latest")?.location ?? d.field("exlude_from_latest")?.location))
        }
        return Entry(key: "gallery", value: .map(entries), comments: comments, origin: at)
    }

    func temporaryEntry(_ r: PackerFieldReader) -> Entry? {
        var entries: [Entry] = []
        var comments: [String] = []
        let ids = [
            "temporary_os_disk_id", "temporary_os_disk_snapshot_id", "temporary_data_disk_id_prefix",
            "temporary_data_disk_snapshot_id"
        ]
        if let given = ids.first(where: { r.field($0) != nil }), let id = r.string(given, allowTimestamp: true) {
            comments.append(
                "Packer's temporary_* ids are not kept: Kiln names its disks kiln-<build>-<run>-os so a resume finds them, and takes no snapshots"
            )
            let segments = id.value.split(separator: "/").map(String.init)
            if let i = segments.firstIndex(where: { $0.lowercased() == "resourcegroups" }), i + 1 < segments.count {
                let group = segments[i + 1]
                let squashed = group.replacingOccurrences(of: " ", with: "").replacingOccurrences(of: "`", with: "\"")
                if squashed != "{{vm\"resource_group\"}}" {
                    entries.append(.init(key: "resourceGroup", value: .scalar(group), origin: id.location))
                }
            }
        }
        if r.bool("skip_cleanup") == true {
            entries.append(
                .init(
                    key: "keep", value: .raw("true"),
                    comments: ["skip_cleanup: the temporary disks are kept after a successful build"],
                    origin: r.field("skip_cleanup")?.location))
        }
        guard !entries.isEmpty || !comments.isEmpty else { return nil }
        if entries.isEmpty { entries.append(.init(key: "keep", value: .raw("false"))) }
        return Entry(key: "temporary", value: .map(entries), comments: comments)
    }
}
