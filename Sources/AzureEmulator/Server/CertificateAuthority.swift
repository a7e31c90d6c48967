import Crypto
import Foundation
import SwiftASN1
import X509

/// The emulator's own certificate authority, kept in the state directory (`ca.pem`,
/// `ca-key.pem`) so a client trusts it once across restarts, and a server certificate it
/// issues for loopback and the public Azure host names the emulator impersonates.
struct CertificateAuthority: Sendable {
    let caCertificate: Certificate
    let caKey: Certificate.PrivateKey
    let caFile: URL

    /// Host names the server certificate covers (the proxy only lets these through).
    static let azureHosts = [
        "management.azure.com", "management.core.windows.net", "login.microsoftonline.com", "login.windows.net",
        "sts.windows.net", "management.chinacloudapi.cn", "login.chinacloudapi.cn", "login.partner.microsoftonline.cn",
        "management.usgovcloudapi.net", "login.microsoftonline.us", "localhost"
    ]

    /// Loads the CA from `directory`, or creates it.
    static func loadOrCreate(in directory: URL) throws -> CertificateAuthority {
        let certURL = directory.appendingPathComponent("ca.pem")
        let keyURL = directory.appendingPathComponent("ca-key.pem")
        if FileManager.default.fileExists(atPath: certURL.path), FileManager.default.fileExists(atPath: keyURL.path) {
            let cert = try Certificate(pemEncoded: String(contentsOf: certURL, encoding: .utf8))
            let key = try Certificate.PrivateKey(pemEncoded: String(contentsOf: keyURL, encoding: .utf8))
            return CertificateAuthority(caCertificate: cert, caKey: key, caFile: certURL)
        }
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let name = try DistinguishedName {
            OrganizationName("Kiln")
            CommonName("Kiln Azure Emulator CA")
        }
        let now = Date()
        let cert = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(10 * 365 * 86_400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: key)
        try cert.serializeAsPEM().pemString.write(to: certURL, atomically: true, encoding: .utf8)
        try key.serializeAsPEM().pemString.write(to: keyURL, atomically: true, encoding: .utf8)
        try? FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: keyURL.path)
        return CertificateAuthority(caCertificate: cert, caKey: key, caFile: certURL)
    }

    /// A fresh server certificate (PEM chain: leaf then CA) and its key (PEM).
    func issueServerCertificate() throws -> (chainPEM: String, keyPEM: String) {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        var names: [GeneralName] = Self.azureHosts.map { .dnsName($0) }
        names.append(.dnsName("*" + BlobAddress.hostSuffix))
        names.append(.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])))
        names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice([UInt8](repeating: 0, count: 15) + [1]))))
        let now = Date()
        let cert = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(365 * 86_400),
            issuer: caCertificate.subject, subject: try DistinguishedName { CommonName("management.azure.com") },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: caKey)
        let chain = try cert.serializeAsPEM().pemString + "\n" + caCertificate.serializeAsPEM().pemString + "\n"
        return (chain, try key.serializeAsPEM().pemString)
    }
}
