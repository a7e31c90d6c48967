/// The outputs section of the manifest's schema.
extension ManifestSchema {
    /// Azure's name rules as `checkName` applies them; a value with a template is checked after rendering.
    static let resourceGroupName = #"^([A-Za-z0-9_.()-]{0,89}[A-Za-z0-9_()-]|[\s\S]*\{\{[\s\S]*)$"#
    static let galleryName = #"^([A-Za-z0-9_]([A-Za-z0-9_.]{0,78}[A-Za-z0-9_])?|[\s\S]*\{\{[\s\S]*)$"#
    static let imageDefinitionName = #"^([A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?|[\s\S]*\{\{[\s\S]*)$"#
    /// A part of a definition's identifier: at most 128 letters, digits, '-', '_' and '.', not ending in '.'.
    static let identifierPart = "^([A-Za-z0-9_.-]{0,127}[A-Za-z0-9_-])?$"

    static var outputs: JSONSchema {
        var skipTrue = JSONSchema()
        skipTrue.enumValues = [.bool(true), .string("true"), .string("True"), .string("TRUE")]
        let skipping = JSONSchema.having("skip", skipTrue)
        var publishing = JSONSchema()
        publishing.anyOf = [.present("image"), .present("gallery")]
        var s = JSONSchema.object(
            "What the build publishes: image and/or gallery, or skip: true to provision only.",
            [
                .optional(
                    "image",
                    .object(
                        "A managed image.",
                        [
                            .required("id", .string("The managed image's resource id (templates allowed).")),
                            .optional("diskEncryptionSetId", .string("Disk encryption set of the image's disks."))
                        ])),
                .optional("gallery", gallery),
                .optional("skip", .boolean("Provision only, publish nothing.").defaulting(.bool(false)))
            ])
        s.anyOf = [.present("image"), .present("gallery"), skipping]
        s.not = JSONSchema.Box(JSONSchema().requiring([skipping, publishing]))
        return s
    }

    static var gallery: JSONSchema {
        let region = JSONSchema.object(
            "A target region with its settings.",
            [
                .required("name", .text("The region's name, e.g. eastus.")),
                .optional("replicas", .integer("Replicas in the region.", 1...100).defaulting(.integer(1))),
                .optional(
                    "storageAccountType",
                    .choice("The replicas' storage type.", ReplicaStorageType.self)
                        .defaulting(TargetRegion(name: "").storageAccountType)),
                .optional(
                    "excludeFromLatest",
                    .boolean("Exclude the region's replica from latest; default: the version's.")),
                .optional(
                    "diskEncryptionSetId",
                    .string("A disk encryption set in that region, encrypting the replicas' disk images."))
            ])
        return .object(
            "An Azure Compute Gallery image version. A missing gallery or definition is created at the start of the apply.",
            [
                .optional(
                    "subscription",
                    .string("The gallery's subscription; default: Kiln's.", pattern: Patterns.guidOrTemplate)),
                .required(
                    "resourceGroup", .text("The gallery's resource group.", pattern: resourceGroupName)),
                .required(
                    "gallery", .text("The compute gallery's name (no hyphens).", pattern: galleryName)),
                .required(
                    "imageDefinition", .text("The gallery image definition's name.", pattern: imageDefinitionName)),
                .required(
                    "version",
                    .string(
                        "MAJOR.MINOR.PATCH, or auto (the next patch version); published versions are immutable.",
                        pattern: Patterns.galleryVersion)),
                .optional(
                    "targetRegions",
                    .list(
                        "Where the version is replicated; default: the builder VM's region (with a warning).",
                        of: .anyOf(
                            "A region name (1 replica, Standard_LRS), or a region with its settings.",
                            [.text("A region name, e.g. eastus."), region]))),
                .optional(
                    "excludeFromLatest",
                    .boolean("Exclude the version from the definition's latest.").defaulting(.bool(false))),
                .optional(
                    "exludeFromLatest",
                    .boolean("Packer's misspelt excludeFromLatest: accepted with a warning; write excludeFromLatest.")),
                .optional(
                    "endOfLifeDate", .string("YYYY-MM-DD or RFC 3339 (a past date is a warning).")),
                .optional(
                    "replicationMode",
                    .choice(
                        "Full, or Shallow (Azure's fast mode for test images: the gallery's region only, one replica).",
                        ReplicationMode.self
                    ).defaulting(ReplicationMode.full)),
                .optional("definition", definition)
            ])
    }

    static var definition: JSONSchema {
        let bounds = { (description: String, limit: ClosedRange<Int>) -> JSONSchema in
            var s = JSONSchema.object(
                description,
                [
                    .optional("min", .integer("The lower bound.", limit)),
                    .optional("max", .integer("The upper bound.", limit))
                ])
            s.anyOf = [.present("min"), .present("max")]
            return s
        }
        return .object(
            "The image definition: compared with an existing one, used for a new one.",
            [
                .optional(
                    "publisher",
                    .text("The identifier's publisher; default: kiln.", pattern: identifierPart)
                        .defaulting(.string("kiln"))),
                .optional(
                    "offer", .text("The identifier's offer; default: the gallery's name.", pattern: identifierPart)),
                .optional(
                    "sku", .text("The identifier's sku; default: the definition's name.", pattern: identifierPart)),
                .optional("description", .text("The definition's description.")),
                .optional("eula", .text("The end-user license agreement.")),
                .optional(
                    "privacyStatementUri", .string("An http(s) URL.", pattern: Patterns.httpURL)),
                .optional("releaseNoteUri", .string("An http(s) URL.", pattern: Patterns.httpURL)),
                .optional("endOfLifeDate", .string("YYYY-MM-DD or RFC 3339.")),
                .optional(
                    "recommended",
                    .object(
                        "Recommended VM sizes.",
                        [
                            .optional("vCPUs", bounds("vCPUs, min and/or max.", 1...416)),
                            .optional("memory", bounds("Memory in GB, min and/or max.", 1...12_000))
                        ])),
                .optional(
                    "features",
                    .object(
                        "Features of the definition (Azure's DiskControllerTypes, IsAcceleratedNetworkSupported, IsHibernateSupported).",
                        [
                            .optional(
                                "diskControllerTypes",
                                .list(
                                    "Storage controllers VMs of the image may use, each once.",
                                    of: .choice("A controller type.", DiskControllerType.self), minItems: 1)),
                            .optional("acceleratedNetworking", .boolean("Accelerated networking is supported.")),
                            .optional("hibernation", .boolean("Hibernation is supported."))
                        ]))
            ])
    }
}
