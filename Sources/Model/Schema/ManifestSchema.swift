/// The JSON Schema (draft 2020-12) of a Kiln manifest, for editors (`kiln schema`): every key
/// the decoder knows, with descriptions, defaults and enums, the source kinds as `oneOf`, and
/// `additionalProperties: false` wherever the decoder reports unknown keys.
///
/// It is built from the model's enums, and accepts every manifest `kiln validate` accepts
/// (scripts/schema-check.sh checks both directions it can); what it cannot express (files that
/// must exist, resource id shapes, unique names, cross-build checks) is left to `kiln validate`.
public enum ManifestSchema {
    /// The whole schema, as `kiln schema` prints it.
    public static var root: JSONSchema {
        var s = JSONSchema.object(
            "A Kiln manifest: one or more builds, each turning a source disk into a managed image and/or an Azure Compute Gallery image version with the chroot method (docs/manifest.md).",
            [
                .optional("version", version),
                .optional("azure", azure),
                .optional("state", state),
                .required(
                    "builds", .list("The builds; each name must be unique in the manifest.", of: build, minItems: 1))
            ])
        s.dialect = JSONSchema.draft202012
        s.title = "Kiln manifest"
        return s
    }

    static var version: JSONSchema {
        var s = JSONSchema.integer("The manifest format's version: 1.", 1...1)
        s.pattern = #"^\s*\+?0*1\s*$"#
        return s.defaulting(.integer(1))
    }

    // MARK: state

    static var state: JSONSchema {
        .object(
            "Where the builds' journals and locks live; without it, the local state directory (--state-dir). With azureBlob, several builder VMs share the manifest (docs/fleet.md).",
            [
                .required(
                    "azureBlob",
                    .object(
                        "Azure Blob Storage: each build's journal is the blob <prefix>/<build>.journal.json, locked with a blob lease.",
                        [
                            .required(
                                "account",
                                .text("The storage account: \(StorageAccountName.rule).", pattern: "^[a-z0-9]{3,24}$")),
                            .required(
                                "container",
                                .text(
                                    "The blob container (made on first use if missing): \(BlobContainerName.rule).",
                                    pattern: "^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")),
                            .optional(
                                "prefix",
                                .text("A folder for this manifest's journals: \(BlobNamePrefix.rule)."))
                        ]))
            ])
    }

    // MARK: azure

    static var azure: JSONSchema {
        .object(
            "Where and as whom Kiln calls Azure; every field has a default.",
            [
                .optional(
                    "cloud",
                    .choice(
                        "The Azure cloud; custom needs metadataEndpoint.", AzureSettings.Cloud.self
                    ).defaulting(.string(AzureSettings.Cloud.public.rawValue))),
                .optional(
                    "metadataEndpoint",
                    .string("ARM metadata URL of a custom cloud (only with cloud: custom).", pattern: Patterns.httpURL)),
                .optional(
                    "subscription",
                    .string(
                        "Subscription id (GUID or template); default: the builder VM's, from instance metadata.",
                        pattern: Patterns.guidOrTemplate)),
                .optional(
                    "tenant",
                    .text(
                        "Tenant id or domain; default: discovered from the subscription's WWW-Authenticate challenge.")
                ),
                .optional("credential", credential)
            ]
        ).requiring([
            .when(
                .having("cloud", .spelled(AzureSettings.Cloud.custom.rawValue)),
                then: .present("metadataEndpoint"))
        ])
    }

    static var credential: JSONSchema {
        typealias Kind = CredentialSettings.Kind
        let needs: [(Kind, [String])] = [
            (.clientSecret, ["clientId", "clientSecretEnv"]),
            (.clientCertificate, ["clientId", "clientCertificatePath"]),
            (.federatedToken, ["clientId"])
        ]
        var noSecret = JSONSchema()
        noSecret.types = [.null]
        noSecret.description =
            "Never: a secret is not written in a manifest. Put it in an environment variable and name it with clientSecretEnv."
        let kindRules = needs.map { kind, keys in
            JSONSchema.when(
                .having("kind", .spelled(kind.rawValue)),
                then: JSONSchema().requiring(keys.map(JSONSchema.present)))
        }
        return JSONSchema.object(
            "The credential Kiln gets tokens with. Secrets are named by environment variable, never written here.",
            [
                .optional(
                    "kind",
                    .choice(
                        "default: environment, then managed identity, then Azure CLI (like DefaultAzureCredential).",
                        Kind.self
                    ).defaulting(.string(Kind.default.rawValue))),
                .optional(
                    "clientId",
                    .string(
                        "Application (client) id; with managedIdentity, a user-assigned identity's client id.",
                        pattern: Patterns.guidOrTemplate)),
                .optional(
                    "clientSecretEnv",
                    .text(
                        "Name of the environment variable holding the client secret.", pattern: Patterns.environmentName
                    )),
                .optional("clientCertificatePath", .text("PEM or PKCS#12 file with the certificate and its key.")),
                .optional(
                    "clientCertificatePasswordEnv",
                    .text(
                        "Name of the environment variable holding the certificate's password.",
                        pattern: Patterns.environmentName)),
                .optional("federatedTokenFile", .text("File with a federated token or a pre-signed client assertion.")),
                .optional(
                    "oidcRequestURL",
                    .string(
                        "The OIDC endpoint asked for a fresh federated token (kind federatedToken without federatedTokenFile); default: $ACTIONS_ID_TOKEN_REQUEST_URL (GitHub Actions).",
                        pattern: Patterns.httpURL)),
                .optional(
                    "oidcRequestTokenEnv",
                    .text(
                        "Name of the environment variable holding the OIDC request's bearer token; default ACTIONS_ID_TOKEN_REQUEST_TOKEN.",
                        pattern: Patterns.environmentName)),
                .optional("clientSecret", noSecret)
            ]
        ).requiring(kindRules)
    }

    // MARK: build

    static var build: JSONSchema {
        .object(
            "One build: a source disk, provisioned in a chroot on the builder VM, published as its outputs.",
            [
                .required(
                    "name",
                    .text(
                        "1 to 48 letters, digits, '-', '_' or '.', starting with a letter or digit; names the temporary resources and the journal.",
                        pattern: Patterns.name)),
                .required("source", source),
                .optional("disk", disk),
                .optional("mount", mount),
                .optional(
                    "provision",
                    .list("Steps run in order inside the chroot.", of: provisionStep).defaulting(.array([]))),
                .required("outputs", outputs),
                .optional(
                    "tags",
                    .map(
                        "Tags on the temporary and output resources (kiln:* is reserved; at most 46).",
                        values: .text("A tag's value (templates: {{.BuildName}})."),
                        names: tagName
                    ).limitingProperties(to: 46)),
                .optional("temporary", temporary),
                .optional("timeouts", timeouts)
            ])
    }

    static var tagName: JSONSchema {
        var reserved = JSONSchema()
        reserved.pattern = "^" + Patterns.anyCase(KilnTag.prefix)
        var s = JSONSchema.string("A tag's name: none of < > % & \\ ? /, and not kiln:*.", pattern: #"^[^<>%&\\?/]*$"#)
        s.not = JSONSchema.Box(reserved)
        return s
    }

    static var source: JSONSchema {
        var s = JSONSchema.object(
            "Where the working OS disk comes from: exactly one of the four kinds.",
            SourceKind.allCases.map { kind in .optional(kind.rawValue, sourceValue(kind)) })
        s.oneOf = SourceKind.allCases.map { kind in
            var branch = JSONSchema.present(kind.rawValue)
            branch.title = kind.rawValue
            branch.description = sourceSummary(kind)
            return branch
        }
        return s
    }

    static func sourceSummary(_ kind: SourceKind) -> String {
        switch kind {
        case .platformImage:
            "A platform (marketplace) image; latest resolves to the numerically highest version at plan time."
        case .disk: "A copy of an existing managed disk."
        case .galleryImageVersion:
            "A gallery image version (its data disks can be copied with origin: source); an id ending in /versions/latest resolves at plan time."
        case .scratch: "An empty disk, partitioned and formatted by mount.preMountCommands."
        }
    }

    static func sourceValue(_ kind: SourceKind) -> JSONSchema {
        switch kind {
        case .platformImage:
            .string("publisher:offer:sku:version (latest allowed).", pattern: Patterns.platformImage)
        case .disk: .string("The managed disk's resource id (templates allowed).")
        case .galleryImageVersion: .string("The gallery image version's resource id (templates allowed).")
        case .scratch:
            .object(
                "An empty disk of sizeGB.", [.required("sizeGB", .integer("The empty disk's size in GiB.", 1...32767))])
        }
    }

    static var temporary: JSONSchema {
        .object(
            "The temporary disks.",
            [
                .optional(
                    "resourceGroup",
                    .text("Where the temporary disks go; default: the builder VM's resource group.")),
                .optional(
                    "keep",
                    .boolean("Keep the temporary disks after success (the outputs are made straight from them).")
                        .defaulting(.bool(false)))
            ])
    }

    static var timeouts: JSONSchema {
        .object(
            "Time limits, written 90s, 15m, 2h or 1h30m.",
            [
                .optional(
                    "deviceWait",
                    .duration("For an attached disk's device to appear.").defaulting(.string("3m"))),
                .optional(
                    "azureOperation",
                    .duration("For each Azure operation (create, attach, detach, image, delete).")
                        .defaulting(.string("30m"))),
                .optional(
                    "replication",
                    .duration("For a gallery version to reach every target region.").defaulting(.string("4h"))),
                .optional(
                    "provisionStep",
                    .duration("Default for each provisioning step (a step's own timeout wins).")
                        .defaulting(.string("1h")))
            ])
    }
}

extension JSONSchema {
    func limitingProperties(to count: Int) -> JSONSchema {
        var s = self
        s.maxProperties = count
        return s
    }
}
