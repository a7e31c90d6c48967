/// The disk, mount and provision sections of the manifest's schema.
extension ManifestSchema {
    // MARK: disk

    static var disk: JSONSchema {
        let defaults = DiskSettings()
        let sizeGB = JSONSchema.integer(
            "Grow the OS disk to this size in GiB (never shrinks); default: the source's size.", 1...32767)
        let storageKeys = storage(
            "The temporary OS disk's storage type.",
            caching: "Host caching of the published image's OS disk and the gallery version.",
            defaults.storageAccountType, defaults.cacheType)
        return .object(
            "The working OS disk and its data disks.",
            [.optional("sizeGB", sizeGB)] + storageKeys + [
                .optional(
                    "hyperVGeneration",
                    .choice("The image's generation; default: the source's (V1 for scratch).", HyperVGeneration.self)),
                .optional(
                    "zone", .text("Availability zone of the temporary disks (1, 2 or 3); default: the builder VM's.")),
                .optional(
                    "securityType",
                    .choice(
                        "Azure's security type; default: chosen at plan time (TrustedLaunch when the source supports it on V2 and no managed image is published, else Standard). Not Standard needs V2.",
                        SecurityType.self)),
                .optional(
                    "diskEncryptionSetId",
                    .string("Disk encryption set (resource id, templates allowed) of the temporary disks.")),
                .optional(
                    "dataDisks", .list("Data disks, each at its own LUN.", of: dataDisk).defaulting(.array([])))
            ])
    }

    static var dataDisk: JSONSchema {
        let defaults = DataDisk(lun: 0)
        let origin = JSONSchema.choice(
            "empty: a new disk of sizeGB; source: the gallery source's data disk at this LUN.", DataDisk.Origin.self)
        let storageKeys = storage(
            "The disk's storage type.", caching: "The disk's host caching.", defaults.storageAccountType,
            defaults.cacheType)
        return JSONSchema.object(
            "A data disk built and published beside the OS disk.",
            [
                .required("lun", .integer("The disk's LUN in the image, unique.", 0...63)),
                .optional("origin", origin.defaulting(defaults.origin)),
                .optional("sizeGB", .integer("Size in GiB (required when origin is empty).", 1...32767))
            ] + storageKeys + [
                .optional(
                    "mountPath",
                    .string(
                        "Where to mount it inside the image while provisioning (absolute, no '..').",
                        pattern: Patterns.absolutePath)),
                .optional("partition", partition("The partition to mount.").defaulting(.string("whole")))
            ]
        ).requiring([
            .when(.not(.having("origin", .spelled(DataDisk.Origin.source.rawValue))), then: .present("sizeGB"))
        ])
    }

    /// A disk's storageAccountType and cacheType, with their defaults.
    static func storage(
        _ description: String, caching: String, _ storage: StorageAccountType, _ cache: CacheType
    ) -> [JSONSchema.Property] {
        [
            .optional("storageAccountType", .choice(description, StorageAccountType.self).defaulting(storage)),
            .optional("cacheType", .choice(caching, CacheType.self).defaulting(cache))
        ]
    }

    /// A partition number, or `whole` (also `0`) for the whole disk.
    static func partition(_ description: String) -> JSONSchema {
        var s = JSONSchema.integer(
            description + " A number from 1 to 128, or whole (also 0) for the whole disk.", 0...128)
        s.pattern = #"^([Ww][Hh][Oo][Ll][Ee]|\s*[+-]?[0-9]+\s*)$"#
        return s
    }

    // MARK: mount

    static var mount: JSONSchema {
        let defaults = MountSettings()
        let chrootMount = JSONSchema.anyOf(
            "A mount inside the image root: {type, source, target}, or Packer's [type, source, target].",
            [
                .object(
                    "type, source and target of the mount.",
                    [
                        .required("type", .text("The filesystem type, or bind.")),
                        .required("source", .text("The source: a filesystem name, or a host path for bind.")),
                        .required(
                            "target", .string("The absolute path inside the image.", pattern: Patterns.absolutePath))
                    ]),
                {
                    var triple = JSONSchema()
                    triple.description = "[type, source, target]"
                    triple.types = [.array]
                    triple.prefixItems = [
                        .text("The filesystem type, or bind."), .text("The source."),
                        .string("The absolute path inside the image.", pattern: Patterns.absolutePath)
                    ]
                    triple.minItems = 3
                    triple.maxItems = 3
                    return triple
                }()
            ])
        let commands = { (description: String) in
            JSONSchema.list(description, of: .text("A host command (a template).")).defaulting(.array([]))
        }
        return .object(
            "How the working disk is mounted on the builder VM and prepared for the chroot.",
            [
                .optional("partition", partition("The partition holding the root filesystem.").defaulting(.integer(1))),
                .optional(
                    "path",
                    .string(
                        "Mount point on the builder VM ({{.BuildName}}, {{.Device}}); stable across runs so a resume finds it.",
                        pattern: #"^(/|\{\{)"#
                    ).defaulting(.string(defaults.path))),
                .optional(
                    "options",
                    .list("Mount options, one per item; each becomes -o OPTION.", of: .text("A mount option."))
                        .defaulting(.array([]))),
                .optional(
                    "lvmRootDevice",
                    .string("The root logical volume, a path under /dev/; default: auto-detected.", pattern: "^/dev/")),
                .optional(
                    "manualMountCommand",
                    .text("Replaces Kiln's root mount; a template with {{.Device}} and {{.MountPath}}.")),
                .optional("preMountCommands", commands("Host commands after attach, before mount ({{.Device}}).")),
                .optional(
                    "postMountCommands", commands("Host commands after mount ({{.Device}}, {{.MountPath}}).")),
                .optional("preUnmountCommands", commands("Host commands after provisioning, before unmount.")),
                .optional(
                    "chrootMounts",
                    .list("Mounts made inside the image root; an explicit [] means none.", of: chrootMount)
                        .defaulting(
                            .array(
                                ChrootMount.defaults.map {
                                    .object([
                                        "type": .string($0.type), "source": .string($0.source),
                                        "target": .string($0.target)
                                    ])
                                }))),
                .optional(
                    "copyFiles",
                    .list(
                        "Host files copied in for the build and restored to what the image had afterwards (none for scratch).",
                        of: .string("An absolute file path.", pattern: #"^/[\s\S]*[^/]$"#)
                    ).defaulting(.array(defaults.copyFiles.map { .string($0) }))),
                .optional(
                    "emulation",
                    .choice(
                        "When the image's architecture is not the builder VM's: auto runs provisioning under qemu-user-static, off refuses the build.",
                        Emulation.self
                    ).defaulting(defaults.emulationMode)),
                .optional(
                    "commandWrapper",
                    .text(
                        "Wraps every host command Kiln runs, e.g. sudo -n {{.Command}}; must use {{.Command}}.",
                        pattern: "Command"
                    ).defaulting(.string(defaults.commandWrapper)))
            ])
    }

    // MARK: provision

    static var provisionStep: JSONSchema {
        var step = JSONSchema.object(
            "A step run inside the chroot: exactly one of shell, script or upload.",
            [
                .optional(
                    "shell",
                    .list(
                        "Commands, each run by /bin/sh -c inside the chroot.", of: .text("A command (a template)."),
                        minItems: 1)),
                .optional("script", .text("A host script (relative to the manifest) copied in and run.")),
                .optional("args", .list("The script's arguments (templates).", of: .text("An argument."))),
                .optional(
                    "upload",
                    .object(
                        "A host file or directory copied in atomically.",
                        [
                            .required("source", .text("A file or directory, relative to the manifest.")),
                            .required(
                                "destination",
                                .string("The absolute path inside the image.", pattern: Patterns.absolutePath)),
                            .optional("mode", uploadMode)
                        ])),
                .optional(
                    "env",
                    .map(
                        "Environment variables of the step (values are templates).", values: .text("The value."),
                        names: .string("A variable name.", pattern: Patterns.environmentName))),
                .optional("timeout", .duration("The step's time limit; default: timeouts.provisionStep.")),
                .optional(
                    "name",
                    .text(
                        "Names the step in plans and the journal; default: shell-1, script-2, …", pattern: Patterns.name
                    ))
            ])
        step.oneOf = ["shell", "script", "upload"].map { key in
            var branch = JSONSchema.present(key)
            branch.title = key
            return branch
        }
        return step
    }

    /// An octal file mode, quoted ("0644"); a plain 0644 reads as the number 644, which Kiln
    /// reads as the same digits.
    static var uploadMode: JSONSchema {
        var s = JSONSchema.integer("The file mode, octal and quoted (\"0644\"); default: the source's mode.", 0...7777)
        s.pattern = Patterns.octalMode
        return s
    }
}
