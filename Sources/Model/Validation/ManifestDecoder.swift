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
        "location": "eastus", "zone": "1",
        "resource_id":
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm",
        "vm_size": "Standard_D2s_v5"
    ]

    static let shellVariables: Set<String> = ["Device", "MountPath", "BuildName"]

    func decodeManifest(_ root: Node?) -> Manifest? {
        guard let root else {
            ctx.add(
                Diagnostic(
                    .error, at: ctx.location(line: 1, column: 1), "the manifest is empty",
                    fix: "add a `builds:` list; see manifests/quickstart.yaml"))
            return nil
        }
        guard let top = MappingReader(root, path: "", ctx: ctx) else { return nil }
        if let v = top.int("version", range: 1...1000), v.value != 1 {
            ctx.error(
                v.node, "manifest version \(v.value) is not supported by this Kiln",
                fix: "use version: 1, or a newer Kiln")
        }
        let azure = top.mapping("azure").map(decodeAzure) ?? AzureSettings()
        let state = top.mapping("state").map(decodeState) ?? .local
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
                    ctx.error(
                        b.node, "build name '\(b.value.name)' is used twice (first at line \(first.mark?.line ?? 0))",
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
        return Manifest(file: ctx.file, azure: azure, state: state, builds: builds)
    }

    // MARK: azure

    func decodeAzure(_ r: MappingReader) -> AzureSettings {
        var out = AzureSettings()
        if let cloud = r.choice("cloud", AzureSettings.Cloud.self) { out.cloud = cloud.value }
        if let endpoint = r.string("metadataEndpoint") {
            if checkURL(endpoint, path: r.child("metadataEndpoint")) { out.metadataEndpoint = endpoint.value }
            if out.cloud != .custom {
                ctx.error(
                    endpoint.node, "azure.metadataEndpoint is only used with cloud: custom",
                    fix: "set azure.cloud: custom, or remove the endpoint")
            }
        } else if out.cloud == .custom {
            ctx.error(
                r.raw("cloud"), "cloud: custom needs azure.metadataEndpoint",
                fix:
                    "give the ARM metadata URL, e.g. https://management.local.azurestack.external/metadata/endpoints?api-version=2022-09-01"
            )
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
        out.clientId = r.string("clientId").flatMap {
            checkGUIDOrTemplate($0, path: r.child("clientId")) ? $0.value : nil
        }
        out.clientSecretEnv = r.string("clientSecretEnv").flatMap {
            checkEnvName($0, path: r.child("clientSecretEnv")) ? $0.value : nil
        }
        out.clientCertificatePath = r.string("clientCertificatePath")?.value
        out.clientCertificatePasswordEnv = r.string("clientCertificatePasswordEnv").flatMap {
            checkEnvName($0, path: r.child("clientCertificatePasswordEnv")) ? $0.value : nil
        }
        out.federatedTokenFile = r.string("federatedTokenFile")?.value
        if let u = r.string("oidcRequestURL"), checkURL(u, path: r.child("oidcRequestURL")) {
            out.oidcRequestURL = u.value
        }
        out.oidcRequestTokenEnv = r.string("oidcRequestTokenEnv").flatMap {
            checkEnvName($0, path: r.child("oidcRequestTokenEnv")) ? $0.value : nil
        }
        // Each explicit kind needs its own inputs.
        let needs: [CredentialSettings.Kind: [(String, Bool)]] = [
            .clientSecret: [("clientId", out.clientId != nil), ("clientSecretEnv", out.clientSecretEnv != nil)],
            .clientCertificate: [
                ("clientId", out.clientId != nil), ("clientCertificatePath", out.clientCertificatePath != nil)
            ],
            // Without a file, the token is asked of the OIDC endpoint: oidcRequestURL, or GitHub
            // Actions' $ACTIONS_ID_TOKEN_REQUEST_URL at run time.
            .federatedToken: [("clientId", out.clientId != nil)]
        ]
        for (field, present) in needs[out.kind] ?? [] where !present {
            ctx.error(
                kind?.node ?? r.node, "credential kind \(out.kind.rawValue) needs azure.credential.\(field)",
                fix: "add it (secrets are named by environment variable, never written in the manifest)")
        }
        if let secret = r.raw("clientSecret") {
            ctx.error(
                secret, "azure.credential.clientSecret would put a secret in the manifest",
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
            ctx.error(
                name.node, "\(r.child("name")) '\(name.value)' is not a valid build name",
                fix:
                    "use 1 to 48 letters, digits, '-', '_' or '.', starting with a letter or digit (it becomes part of Azure resource names)"
            )
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
        let provision =
            r.sequence("provision", fix: "write each step as a `- shell: …`, `- script: …` or `- upload: …` item")
            .map { decodeProvision($0, path: r.child("provision")) } ?? []
        let outputs = r.mapping("outputs").map(decodeOutputs)
        if r.raw("outputs") == nil {
            r.missing(
                "outputs", fix: "add outputs.image and/or outputs.gallery (or outputs.skip: true to provision only)")
        }
        let tags = decodeTags(r)
        let temporary = r.mapping("temporary").map(decodeTemporary) ?? TemporarySettings()
        let timeouts = r.mapping("timeouts").map(decodeTimeouts) ?? Timeouts()
        r.finish()

        // Cross-field checks that need the source.
        if case .scratch? = source?.value {
            if mount.preMountCommands.isEmpty {
                ctx.error(
                    source?.node, "\(label) starts from scratch but has no mount.preMountCommands",
                    fix: "add commands that partition and format {{.Device}}, e.g. sfdisk and mkfs.ext4")
            }
            if let lvm = mountReader?.raw("lvmRootDevice") {
                ctx.error(
                    lvm, "mount.lvmRootDevice cannot be used with a scratch source",
                    fix: "remove it: a scratch disk has no volume group yet")
            }
            if let size = r.mapping("disk")?.raw("sizeGB") {
                ctx.error(
                    size, "disk.sizeGB conflicts with source.scratch.sizeGB",
                    fix: "give the size once, in source.scratch.sizeGB")
            }
            if disk.hyperVGeneration == nil { disk.hyperVGeneration = .v1 }
        }
        for (i, d) in disk.dataDisks.enumerated() where d.origin == .source {
            if let s = source?.value, case .galleryImageVersion = s { continue }
            ctx.error(
                r.mapping("disk")?.sequence("dataDisks")?[i],
                "data disk at LUN \(d.lun) copies from the source, but the source is not a gallery image version",
                fix: "use origin: empty with a sizeGB, or build from a gallery image version")
        }
        guard let name, let source, let outputs else { return nil }
        var build = Build(
            name: name.value, source: source.value, disk: disk, mount: mount, provision: provision,
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
        let ok = { (c: Unicode.Scalar) in
            c.isASCII && (CharacterSet.alphanumerics.contains(c) || c == "-" || c == "_" || c == ".")
        }
        return first.isASCII && CharacterSet.alphanumerics.contains(first) && s.unicodeScalars.allSatisfy(ok)
    }
}
