import Crypto
import Foundation
import _CryptoExtras

/// How a certificate client assertion is signed and which thumbprint header it carries.
public enum ClientAssertionStyle: String, Sendable, Codable, CaseIterable {
    /// `alg: PS256` with `x5t#S256` (SHA-256 thumbprint): what current Entra docs ask for.
    case ps256
    /// `alg: RS256` with `x5t#S256`: PKCS#1 v1.5 signature, SHA-256 thumbprint.
    case rs256
    /// `alg: RS256` with `x5t` (SHA-1 thumbprint): older Entra docs and ADFS (Azure Stack Hub).
    case rs256SHA1Thumbprint
}

/// A service principal with a certificate (`AZURE_CLIENT_CERTIFICATE_PATH`, a PEM file
/// holding the certificate and its unencrypted RSA private key): the client-credentials
/// grant with a JWT client assertion signed by the key.
public struct ClientCertificateCredential: TokenCredential {
    public let name = "client certificate"
    public var tenantID: String
    public var clientID: String
    public var style: ClientAssertionStyle
    private let key: _RSA.Signing.PrivateKey
    private let certificateDER: Data
    private let entra: EntraTokenClient
    private let now: @Sendable () -> Date

    /// Reads the PEM file. Throws `AzureCredentialError` (`.unavailable`) naming the file when
    /// it cannot be read or lacks a certificate or an RSA key; never prints the key.
    public init(
        tenantID: String, clientID: String, certificatePath: String, context: AzureCredentialContext,
        style: ClientAssertionStyle = .ps256, authorityHost: URL? = nil
    ) throws {
        let pem: String
        do {
            pem = try String(contentsOfFile: certificatePath, encoding: .utf8)
        } catch {
            throw AzureCredentialError(
                kind: .unavailable, credential: "client certificate",
                reason: "cannot read the certificate file \(certificatePath)",
                hint:
                    "check AZURE_CLIENT_CERTIFICATE_PATH; it must be a PEM file with the certificate and its private key"
            )
        }
        try self.init(
            tenantID: tenantID, clientID: clientID, pem: pem, source: certificatePath, context: context, style: style,
            authorityHost: authorityHost)
    }

    /// Uses PEM text holding a certificate and an RSA private key; `source` names it in errors.
    public init(
        tenantID: String, clientID: String, pem: String, source: String, context: AzureCredentialContext,
        style: ClientAssertionStyle = .ps256, authorityHost: URL? = nil
    ) throws {
        func fail(_ reason: String) -> AzureCredentialError {
            AzureCredentialError(
                kind: .unavailable, credential: "client certificate", reason: "\(source): \(reason)",
                hint: "the file must be PEM with a CERTIFICATE block and an unencrypted RSA PRIVATE KEY block")
        }
        let blocks = PEMBlock.parse(pem)
        guard let certificate = blocks.first(where: { $0.label == "CERTIFICATE" }) else {
            throw fail("no certificate found")
        }
        if blocks.contains(where: { $0.label == "ENCRYPTED PRIVATE KEY" }) {
            throw fail("the private key is encrypted, which Kiln does not support")
        }
        guard let keyBlock = blocks.first(where: { $0.label == "PRIVATE KEY" || $0.label == "RSA PRIVATE KEY" }) else {
            throw fail("no private key found")
        }
        do {
            self.key = try _RSA.Signing.PrivateKey(pemRepresentation: keyBlock.pem)
        } catch {
            throw fail("the private key is not an RSA key of 2048 bits or more")
        }
        self.tenantID = tenantID
        self.clientID = clientID
        self.style = style
        self.certificateDER = certificate.der
        self.entra = context.entra(tenantID: tenantID, authorityHost: authorityHost)
        self.now = context.now
    }

    public func token(for scope: String) async throws -> AzureAccessToken {
        let assertion = try makeAssertion()
        return try await entra.requestToken(
            credential: name,
            form: [
                ("grant_type", AzureSecret("client_credentials")),
                ("client_id", AzureSecret(clientID)),
                ("client_assertion_type", AzureSecret("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")),
                ("client_assertion", assertion),
                ("scope", AzureSecret(scope))
            ])
    }

    /// The signed JWT: audience the token endpoint, issuer and subject the client id, valid
    /// for 10 minutes from now, a fresh `jti`.
    func makeAssertion() throws -> AzureSecret {
        var header: [String: String] = ["typ": "JWT"]
        switch style {
        case .ps256:
            header["alg"] = "PS256"
            header["x5t#S256"] = Base64URL.encode(Data(SHA256.hash(data: certificateDER)))
        case .rs256:
            header["alg"] = "RS256"
            header["x5t#S256"] = Base64URL.encode(Data(SHA256.hash(data: certificateDER)))
        case .rs256SHA1Thumbprint:
            header["alg"] = "RS256"
            header["x5t"] = Base64URL.encode(Data(Insecure.SHA1.hash(data: certificateDER)))
        }
        let issued = Int(now().timeIntervalSince1970)
        let claims: [String: Any] = [
            "aud": entra.tokenURL.absoluteString, "iss": clientID, "sub": clientID,
            "jti": UUID().uuidString.lowercased(), "nbf": issued, "iat": issued, "exp": issued + 600
        ]
        let headerJSON = try JSONSerialization.data(
            withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])
        let claimsJSON = try JSONSerialization.data(
            withJSONObject: claims, options: [.sortedKeys, .withoutEscapingSlashes])
        let signingInput = Base64URL.encode(headerJSON) + "." + Base64URL.encode(claimsJSON)
        let padding: _RSA.Signing.Padding = style == .ps256 ? .PSS : .insecurePKCS1v1_5
        let signature: _RSA.Signing.RSASignature
        do {
            signature = try key.signature(for: Data(signingInput.utf8), padding: padding)
        } catch {
            throw AzureCredentialError(
                kind: .failed, credential: name, reason: "could not sign the client assertion: \(error)")
        }
        return AzureSecret(signingInput + "." + Base64URL.encode(signature.rawRepresentation))
    }
}

/// base64url without padding (RFC 7515), as JWTs use it.
enum Base64URL {
    static func encode(_ data: Data) -> String {
        data.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ text: String) -> Data? {
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s)
    }
}

/// One `-----BEGIN X-----` ... `-----END X-----` block of a PEM file.
struct PEMBlock {
    var label: String
    var der: Data
    /// The block's own text, for parsers that take PEM.
    var pem: String

    static func parse(_ text: String) -> [PEMBlock] {
        var blocks: [PEMBlock] = []
        var label: String?
        var lines: [String] = []
        var base64 = ""
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("-----BEGIN "), line.hasSuffix("-----") {
                label = String(line.dropFirst("-----BEGIN ".count).dropLast(5))
                lines = [line]
                base64 = ""
            } else if let current = label, line == "-----END \(current)-----" {
                lines.append(line)
                if let der = Data(base64Encoded: base64) {
                    blocks.append(PEMBlock(label: current, der: der, pem: lines.joined(separator: "\n") + "\n"))
                }
                label = nil
            } else if label != nil {
                lines.append(line)
                if !line.contains(":") { base64 += line }
            }
        }
        return blocks
    }
}
