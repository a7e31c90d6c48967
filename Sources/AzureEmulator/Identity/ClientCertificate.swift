import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// A certificate registered on an app: its thumbprints (what `x5t` / `x5t#S256` name) and the
/// RSA key that must have signed a client assertion.
struct ClientCertificate: Sendable {
    var sha1: Data
    var sha256: Data
    var publicKey: _RSA.Signing.PublicKey

    /// Parses the first `CERTIFICATE` block of `pem`.
    init(pem: String) throws {
        guard let begin = pem.range(of: "-----BEGIN CERTIFICATE-----"),
            let end = pem.range(of: "-----END CERTIFICATE-----", range: begin.upperBound..<pem.endIndex)
        else { throw ConfigurationError(message: "no '-----BEGIN CERTIFICATE-----' block") }
        let b64 = pem[begin.upperBound..<end.lowerBound].filter { !$0.isWhitespace }
        guard let der = Data(base64Encoded: String(b64)) else {
            throw ConfigurationError(message: "the certificate block is not valid base64")
        }
        let cert = try Certificate(derEncoded: Array(der))
        guard let key = _RSA.Signing.PublicKey(cert.publicKey) else {
            throw ConfigurationError(
                message: "the certificate's key is not RSA; Entra client assertions are RS256/PS256")
        }
        sha1 = Data(Insecure.SHA1.hash(data: der))
        sha256 = Data(SHA256.hash(data: der))
        publicKey = key
    }

    /// Loads each entry as PEM text, or as a path to a PEM file.
    static func load(_ entries: [String], client: String) throws -> [ClientCertificate] {
        try entries.map { entry in
            let text: String
            if entry.contains("-----BEGIN") {
                text = entry
            } else {
                do { text = try String(contentsOfFile: entry, encoding: .utf8) } catch {
                    throw ConfigurationError(
                        message:
                            "client \(client): cannot read certificate file \(entry): \(error.localizedDescription)")
                }
            }
            do { return try ClientCertificate(pem: text) } catch {
                throw ConfigurationError(
                    message: "client \(client): certificate \(entry.prefix(60)) is unusable: \(error)")
            }
        }
    }

    /// Checks an RS256 (PKCS#1 v1.5) or PS256 (PSS) signature over the JWT's signing input.
    func verifies(_ jwt: ParsedJWT, alg: String) -> Bool {
        let sig = _RSA.Signing.RSASignature(rawRepresentation: jwt.signature)
        switch alg {
        case "RS256":
            return publicKey.isValidSignature(
                sig, for: SHA256.hash(data: jwt.signingInput), padding: .insecurePKCS1v1_5)
        case "PS256": return publicKey.isValidSignature(sig, for: SHA256.hash(data: jwt.signingInput), padding: .PSS)
        default: return false
        }
    }
}
