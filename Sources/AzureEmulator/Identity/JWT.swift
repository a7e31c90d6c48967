import Crypto
import Foundation

/// Base64url without padding, as JWTs use it.
enum Base64URL {
    static func encode(_ data: some DataProtocol) -> String {
        Data(data).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ text: some StringProtocol) -> Data? {
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s)
    }
}

/// A parsed (not yet trusted) compact JWT.
struct ParsedJWT: Sendable {
    var header: JSON
    var claims: JSON
    /// `base64url(header).base64url(payload)`, the signed bytes.
    var signingInput: Data
    var signature: Data

    init?(_ token: String) {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
            let h = Base64URL.decode(parts[0]), let p = Base64URL.decode(parts[1]), let s = Base64URL.decode(parts[2]),
            let header = try? JSON.decode(h), header.objectValue != nil,
            let claims = try? JSON.decode(p), claims.objectValue != nil
        else { return nil }
        self.header = header
        self.claims = claims
        self.signingInput = Data("\(parts[0]).\(parts[1])".utf8)
        self.signature = s
    }

    var expiry: Double? { claims["exp"]?.doubleValue }
    var notBefore: Double? { claims["nbf"]?.doubleValue }
}

/// Issues and verifies the emulator's own access tokens: HS256 JWTs under a key kept in the
/// state directory, so tokens stay valid across a restart.
struct TokenSigner: Sendable {
    let key: SymmetricKey

    init(keyBase64: String) {
        key = SymmetricKey(data: Data(base64Encoded: keyBase64) ?? Data(repeating: 7, count: 32))
    }

    static func newKeyBase64() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
    }

    func issue(claims: JSON) -> String {
        let header: JSON = ["alg": "HS256", "typ": "JWT", "kid": "kiln-emulator"]
        let input = Base64URL.encode(header.encoded()) + "." + Base64URL.encode(claims.encoded())
        let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: key)
        return input + "." + Base64URL.encode(Data(mac))
    }

    /// The claims of a token this emulator signed, or nil when the signature does not verify.
    func verify(_ token: String) -> ParsedJWT? {
        guard let jwt = ParsedJWT(token), jwt.header["alg"]?.stringValue == "HS256" else { return nil }
        guard HMAC<SHA256>.isValidAuthenticationCode(jwt.signature, authenticating: jwt.signingInput, using: key) else {
            return nil
        }
        return jwt
    }
}
