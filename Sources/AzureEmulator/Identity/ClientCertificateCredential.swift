import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// A self-signed RSA client certificate and the client assertions it signs, as MSAL builds
/// them. For tests and tools that exercise the emulator's certificate credential: register
/// `certificatePEM` on a client in the configuration, then send `assertion(...)` as
/// `client_assertion`.
public struct ClientCertificateCredential: Sendable {
    public let certificatePEM: String
    public let privateKeyPEM: String
    let der: [UInt8]
    let key: _RSA.Signing.PrivateKey

    /// Generates a 2048-bit key and a certificate valid for a day.
    public static func generate(commonName: String = "kiln-emulator-client") throws -> ClientCertificateCredential {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let name = try DistinguishedName { CommonName(commonName) }
        let now = Date()
        let cert = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(86_400),
            issuer: name, subject: name, signatureAlgorithm: .sha256WithRSAEncryption,
            extensions: Certificate.Extensions(), issuerPrivateKey: Certificate.PrivateKey(key))
        var serializer = DER.Serializer()
        try serializer.serialize(cert)
        let der = serializer.serializedBytes
        return ClientCertificateCredential(
            certificatePEM: pem(der, label: "CERTIFICATE"), privateKeyPEM: key.pemRepresentation, der: der, key: key)
    }

    static func pem(_ der: [UInt8], label: String) -> String {
        let b64 = Data(der).base64EncodedString()
        var lines: [String] = []
        var i = b64.startIndex
        while i < b64.endIndex {
            let j = b64.index(i, offsetBy: 64, limitedBy: b64.endIndex) ?? b64.endIndex
            lines.append(String(b64[i..<j]))
            i = j
        }
        return "-----BEGIN \(label)-----\n" + lines.joined(separator: "\n") + "\n-----END \(label)-----\n"
    }

    /// A signed client assertion: PS256 with `x5t#S256` (current MSAL) or RS256 with `x5t`
    /// (legacy and ADFS). `lifetime` may be negative to make an expired one.
    public func assertion(clientID: String, audience: String, pss: Bool = true, lifetime: TimeInterval = 600) throws
        -> String
    {
        let now = Int(Date().timeIntervalSince1970)
        var header: JSON = ["alg": pss ? "PS256" : "RS256", "typ": "JWT"]
        if pss {
            header["x5t#S256"] = .string(Base64URL.encode(Data(SHA256.hash(data: der))))
        } else {
            header["x5t"] = .string(Base64URL.encode(Data(Insecure.SHA1.hash(data: der))))
        }
        let claims: JSON = [
            "aud": .string(audience), "iss": .string(clientID), "sub": .string(clientID),
            "jti": .string(UUID().uuidString.lowercased()), "nbf": JSON(now), "iat": JSON(now),
            "exp": JSON(now + Int(lifetime))
        ]
        let input = Base64URL.encode(header.encoded()) + "." + Base64URL.encode(claims.encoded())
        let digest = SHA256.hash(data: Data(input.utf8))
        let sig = try key.signature(for: digest, padding: pss ? .PSS : .insecurePKCS1v1_5)
        return input + "." + Base64URL.encode(sig.rawRepresentation)
    }
}
