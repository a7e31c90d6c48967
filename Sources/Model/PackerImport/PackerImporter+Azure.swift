import Foundation

/// The `azure` section: cloud, subscription, tenant and credential, from a source's
/// authentication options. Secret values are never read: a secret option becomes the name
/// of the environment variable Kiln reads it from.
extension PackerImporter {
    /// Credential options whose value is a secret, with Kiln's key for the variable holding it
    /// and the variable named when the template does not read one.
    static let secretOptions: [(packer: String, kiln: String?, variable: String)] = [
        ("client_secret", "clientSecretEnv", "ARM_CLIENT_SECRET"),
        ("client_cert_password", "clientCertificatePasswordEnv", "ARM_CLIENT_CERTIFICATE_PASSWORD"),
        ("oidc_request_token", "oidcRequestTokenEnv", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
        ("client_jwt", nil, "")
    ]

    static let authenticationOptions: Set<String> = [
        "cloud_environment_name", "metadata_host", "client_id", "client_secret", "client_cert_path",
        "client_cert_password", "client_jwt", "object_id", "tenant_id", "subscription_id", "oidc_request_token",
        "oidc_request_url", "use_azure_cli_auth"
    ]

    /// The `azure` entries for `reader`'s source (empty when every default holds).
    func azureEntries(_ r: PackerFieldReader) -> [ImportedYAML.Entry] {
        var out: [ImportedYAML.Entry] = []
        if let cloud = r.string("cloud_environment_name") {
            let names = [
                "public": "public", "azurepubliccloud": "public", "china": "china", "azurechinacloud": "china",
                "usgovernment": "usgovernment", "azureusgovernmentcloud": "usgovernment"
            ]
            if let kiln = names[cloud.value.lowercased()] {
                if r.field("metadata_host") == nil {
                    out.append(.init(key: "cloud", value: .scalar(kiln), origin: cloud.location))
                }
            } else {
                diagnostics.error(
                    cloud.location, "cloud_environment_name \"\(cloud.value)\" is not a cloud Kiln knows",
                    fix: "use Public, China or USGovernment, or metadata_host for a custom cloud")
            }
        }
        if let host = r.string("metadata_host") {
            let url =
                host.value.contains("://")
                ? host.value : "https://\(host.value)/metadata/endpoints?api-version=2022-09-01"
            out.append(.init(key: "cloud", value: .scalar("custom"), origin: host.location))
            out.append(
                .init(
                    key: "metadataEndpoint", value: .scalar(url),
                    comments: ["from metadata_host: Kiln reads the custom cloud's endpoints from this URL"],
                    origin: host.location))
        }
        if let s = r.string("subscription_id") {
            out.append(.init(key: "subscription", value: .scalar(s.value), origin: s.location))
        }
        if let t = r.string("tenant_id") {
            out.append(.init(key: "tenant", value: .scalar(t.value), origin: t.location))
        }
        if let credential = credentialEntry(r) { out.append(credential) }
        if r.field("object_id") != nil, !out.isEmpty {
            out[0].comments.append("object_id is left out: Kiln never needs the principal's object id")
        }
        return out
    }

    /// The environment variable a secret option is read from.
    private func secretVariable(_ r: PackerFieldReader, _ option: String, fallback: String) -> (
        name: String, comment: String
    ) {
        let f = r.field(option)!
        if let name = f.environmentName, name.range(of: "^[A-Za-z_][A-Za-z0-9_]*$", options: .regularExpression) != nil
        {
            return (name, "\(option) is not copied: Kiln reads the secret from $\(name) when it runs, as Packer did")
        }
        return (
            fallback,
            "\(option) is not copied (secrets stay out of manifests): put the secret in $\(fallback) before kiln runs"
        )
    }

    private func credentialEntry(_ r: PackerFieldReader) -> ImportedYAML.Entry? {
        var entries: [ImportedYAML.Entry] = []
        var comments: [String] = []
        let at = { (key: String) in r.field(key)?.location }
        let clientID = r.string("client_id")
        func add(_ key: String, _ value: String, _ origin: SourceLocation?, _ comment: String? = nil) {
            entries.append(.init(key: key, value: .scalar(value), comments: comment.map { [$0] } ?? [], origin: origin))
        }
        func kind(_ k: String, _ origin: SourceLocation?) {
            add("kind", k, origin)
            if let clientID { add("clientId", clientID.value, clientID.location) }
        }
        if r.bool("use_azure_cli_auth") == true {
            kind("azureCLI", at("use_azure_cli_auth"))
        } else if r.field("client_secret") != nil {
            kind("clientSecret", at("client_secret"))
            let v = secretVariable(r, "client_secret", fallback: "ARM_CLIENT_SECRET")
            add("clientSecretEnv", v.name, at("client_secret"), v.comment)
        } else if let path = r.string("client_cert_path") {
            kind("clientCertificate", path.location)
            add("clientCertificatePath", path.value, path.location)
            if r.field("client_cert_password") != nil {
                let v = secretVariable(r, "client_cert_password", fallback: "ARM_CLIENT_CERTIFICATE_PASSWORD")
                add("clientCertificatePasswordEnv", v.name, at("client_cert_password"), v.comment)
            }
        } else if let url = r.string("oidc_request_url") {
            kind("federatedToken", url.location)
            add("oidcRequestURL", url.value, url.location)
            let v =
                r.field("oidc_request_token") != nil
                ? secretVariable(r, "oidc_request_token", fallback: "ACTIONS_ID_TOKEN_REQUEST_TOKEN")
                : (
                    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                    "the OIDC request token is read from $ACTIONS_ID_TOKEN_REQUEST_TOKEN"
                )
            add("oidcRequestTokenEnv", v.0, at("oidc_request_token") ?? url.location, v.1)
        } else if let jwt = r.field("client_jwt") {
            comments.append(
                "client_jwt is not copied (secrets stay out of manifests). Kiln reads a client assertion from a file: "
                    + "set credential: {kind: federatedToken, clientId: …, federatedTokenFile: PATH}")
            return ImportedYAML.Entry(
                key: "credential", value: .map([.init(key: "kind", value: .scalar("default"), origin: jwt.location)]),
                comments: comments, origin: jwt.location)
        } else if let clientID {
            kind("managedIdentity", clientID.location)
            comments.append("client_id without a secret: Packer used the VM's managed identity with that client id")
        } else {
            add("kind", "managedIdentity", nil)
            comments.append("Packer used the VM's managed identity when given no credential options; so does this")
        }
        return ImportedYAML.Entry(
            key: "credential", value: .map(entries), comments: comments, origin: entries.first?.origin)
    }
}
