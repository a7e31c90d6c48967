import Crypto
import Foundation

/// What a Blob service request addresses: `/blob/<account>[/<container>[/<blob>]]`.
struct BlobAddress: Sendable {
    var account: String
    var container: String?
    var blob: String?

    /// Parses a path below the `/blob` prefix; nil when it names no account.
    init?(path: String) {
        var rest = Substring(path)
        while rest.hasPrefix("/") { rest = rest.dropFirst() }
        let parts = rest.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2, parts[0].lowercased() == "blob", !parts[1].isEmpty else { return nil }
        account = parts[1]
        container = parts.count > 2 && !parts[2].isEmpty ? parts[2] : nil
        blob = parts.count > 3 && !parts[3].isEmpty ? parts[3] : nil
    }

    /// Azure's own Blob host names, `<account>.blob.core.windows.net`, which the proxy serves too.
    static let hostSuffix = ".blob.core.windows.net"

    /// The account a `<account>.blob.core.windows.net[:port]` host names; nil for any other host.
    static func account(ofHost host: String) -> String? {
        let name = (host.split(separator: ":").first.map(String.init) ?? host).lowercased()
        guard name.hasSuffix(hostSuffix) else { return nil }
        let account = String(name.dropLast(hostSuffix.count))
        guard (3...24).contains(account.count), account.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber) })
        else { return nil }
        return account
    }

    var containerKey: BlobContainerKey? { container.map { BlobContainerKey(account: account, container: $0) } }
}

/// Azure Blob Storage on the emulator: containers, block blobs, conditional requests and
/// leases, authenticated with Entra tokens for the storage audience (docs/emulator.md, "Blob
/// storage", names the source of each rule).
extension Emulator {
    /// The time the Blob service sees: the wall clock plus the control surface's offset, so a
    /// test can let a lease expire without waiting.
    var storageNow: Date { Date().addingTimeInterval(storageClockOffset) }

    static let storageAudiences: Set<String> = ["https://storage.azure.com", "https://storage.azure.com/"]

    /// Whether a token for `resource` is one the Blob service accepts (the storage audience,
    /// or an account's own `https://<account>.blob.core.windows.net`).
    static func isStorageAudience(_ resource: String) -> Bool {
        if storageAudiences.contains(resource.lowercased()) { return true }
        guard let host = URL(string: resource)?.host?.lowercased() else { return false }
        return host.hasSuffix(".blob.core.windows.net")
    }

    func blobService(_ request: EmulatorRequest) async -> EmulatorResponse {
        let requestID = UUID().uuidString.lowercased()
        let now = storageNow
        let head = request.method == "HEAD"
        // `Date` (the wall clock) is set on every answer by the HTTP server.
        var common: [(String, String)] = [("x-ms-request-id", requestID)]
        if let v = request.header("x-ms-version") { common.append(("x-ms-version", v)) }
        if let c = request.header("x-ms-client-request-id") { common.append(("x-ms-client-request-id", c)) }
        var response: EmulatorResponse
        do {
            try authenticateStorage(request)
            guard request.header("x-ms-version") != nil else { throw BlobError.missingHeader("x-ms-version") }
            guard let address = BlobAddress(path: request.path) else {
                throw BlobError(400, "InvalidUri", "The requested URI does not represent any resource on the server.")
            }
            response = try routeBlob(request, address, now: now)
        } catch let e as BlobError {
            response = e.response(requestID: requestID, now: now, head: head)
        } catch {
            response = BlobError(500, "InternalError", "The server encountered an internal error: \(error)")
                .response(requestID: requestID, now: now, head: head)
        }
        response.headers += common
        if head { response.body = Data() }
        return response
    }

    private func routeBlob(_ request: EmulatorRequest, _ address: BlobAddress, now: Date) throws -> EmulatorResponse {
        let restype = request.query["restype"]?.lowercased()
        let comp = request.query["comp"]?.lowercased()
        guard let key = address.containerKey else {
            throw BlobError(400, "InvalidUri", "The requested URI does not represent any resource on the server.")
        }
        if address.blob == nil, restype == "container" {
            switch (request.method, comp) {
            case ("PUT", nil): return try createContainer(key, now: now)
            case ("DELETE", nil): return try deleteContainer(key)
            case ("GET", nil), ("HEAD", nil): return try containerProperties(key)
            case ("GET", "list"): return try listBlobs(request, key)
            default: break
            }
        }
        if let name = address.blob {
            switch (request.method, comp) {
            case ("PUT", nil): return try putBlob(request, key, name, now: now)
            case ("GET", nil), ("HEAD", nil): return try getBlob(request, key, name, now: now)
            case ("DELETE", nil): return try deleteBlob(request, key, name, now: now)
            case ("PUT", "lease"): return try leaseBlob(request, key, name, now: now)
            default: break
            }
        }
        throw BlobError(
            400, "UnsupportedHttpVerb", "The resource doesn't support the specified HTTP verb \(request.method).")
    }

    // MARK: Authentication

    /// A bearer token the emulator signed, unexpired, from its tenant, for the storage audience.
    /// Azure answers a token it cannot accept with 401 `InvalidAuthenticationInfo` and the
    /// reason in `AuthenticationErrorDetail`, pointing at the authority in `WWW-Authenticate`.
    func authenticateStorage(_ request: EmulatorRequest) throws(BlobError) {
        let www =
            "Bearer authorization_uri=\(loginBase(for: request))/\(config.tenant)/oauth2/authorize resource_id=https://storage.azure.com"
        func refuse(_ detail: String) -> BlobError {
            BlobError(
                401, "InvalidAuthenticationInfo",
                "Server failed to authenticate the request. Please refer to the information in the www-authenticate header.",
                headers: [("WWW-Authenticate", www)], details: [("AuthenticationErrorDetail", detail)])
        }
        guard let auth = request.header("authorization"), !auth.isEmpty else {
            throw BlobError(
                401, "NoAuthenticationInformation",
                "Server failed to authenticate the request. Please refer to the information in the www-authenticate header.",
                headers: [("WWW-Authenticate", www)])
        }
        let parts = auth.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            // Shared Key and SAS are not emulated: every signature is one the emulator cannot check.
            throw BlobError(
                403, "AuthenticationFailed",
                "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature."
            )
        }
        guard let jwt = signer.verify(String(parts[1])) else { throw refuse("Signature validation failed.") }
        if let exp = jwt.claims["exp"]?.doubleValue, exp <= Date().timeIntervalSince1970 {
            throw refuse("Lifetime validation failed. The token is expired.")
        }
        guard let aud = jwt.claims["aud"]?.stringValue, Self.isStorageAudience(aud) else {
            throw refuse("Audience validation failed. Audience did not match.")
        }
        if let tid = jwt.claims["tid"]?.stringValue, tid.lowercased() != config.tenant.lowercased() {
            throw refuse("Issuer validation failed. Issuer did not match.")
        }
    }

    // MARK: Containers

    private func createContainer(_ key: BlobContainerKey, now: Date) throws -> EmulatorResponse {
        guard Self.isValidContainerName(key.container) else {
            throw BlobError(400, "InvalidResourceName", "The specified resource name contains invalid characters.")
        }
        guard blobStore.containers[key.id] == nil else { throw BlobError.containerAlreadyExists }
        let etag = blobStore.newETag(at: now)
        blobStore.containers[key.id] = StoredBlobContainer(key: key, etag: etag, lastModified: now)
        try blobStore.save()
        return .empty(201, headers: [("ETag", etag.quoted), ("Last-Modified", BlobDate.rfc1123(now))])
    }

    /// 3–63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit.
    static func isValidContainerName(_ name: String) -> Bool {
        guard (3...63).contains(name.count), !name.hasPrefix("-"), !name.hasSuffix("-"), !name.contains("--")
        else { return false }
        return name.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "-" }
    }

    private func deleteContainer(_ key: BlobContainerKey) throws -> EmulatorResponse {
        guard let c = blobStore.containers.removeValue(forKey: key.id) else { throw BlobError.containerNotFound }
        try blobStore.save()
        for b in c.blobs.values { blobStore.removeContent(b.dataFile) }
        return .empty(202)
    }

    private func containerProperties(_ key: BlobContainerKey) throws -> EmulatorResponse {
        guard let c = blobStore.containers[key.id] else { throw BlobError.containerNotFound }
        return .empty(
            200,
            headers: [
                ("ETag", c.etag.quoted), ("Last-Modified", BlobDate.rfc1123(c.lastModified)),
                ("x-ms-lease-state", "available"), ("x-ms-lease-status", "unlocked"),
                ("x-ms-has-immutability-policy", "false"), ("x-ms-has-legal-hold", "false")
            ])
    }

    func container(_ key: BlobContainerKey) throws(BlobError) -> StoredBlobContainer {
        guard let c = blobStore.containers[key.id] else { throw BlobError.containerNotFound }
        return c
    }

    // MARK: Blobs

    private func putBlob(_ request: EmulatorRequest, _ key: BlobContainerKey, _ name: String, now: Date) throws
        -> EmulatorResponse
    {
        var c = try container(key)
        guard let type = request.header("x-ms-blob-type") else { throw BlobError.missingHeader("x-ms-blob-type") }
        guard type == "BlockBlob" else {
            throw BlobError(
                400, "InvalidHeaderValue", "Only block blobs are emulated; x-ms-blob-type '\(type)' is not.",
                details: [("HeaderName", "x-ms-blob-type"), ("HeaderValue", type)])
        }
        let existing = c.blobs[name]
        try checkConditions(request, existing, write: true)
        let lease = existing?.lease ?? BlobLease()
        try checkLeaseForBlobOperation(request, lease, now: now)
        let md5 = Data(Insecure.MD5.hash(data: request.body)).base64EncodedString()
        if let sent = request.header("content-md5"), sent != md5 {
            throw BlobError(
                400, "Md5Mismatch",
                "The MD5 value specified in the request did not match with the MD5 value calculated by the server.")
        }
        let file = try blobStore.writeContent(request.body)
        var metadata: [String: String] = [:]
        for (h, v) in request.headers where h.hasPrefix("x-ms-meta-") { metadata[String(h.dropFirst(10))] = v }
        let etag = blobStore.newETag(at: now)
        c.blobs[name] = StoredBlob(
            etag: etag, created: existing?.created ?? now, lastModified: now, contentLength: request.body.count,
            contentType: request.header("x-ms-blob-content-type") ?? request.header("content-type")
                ?? "application/octet-stream",
            contentMD5: md5, metadata: metadata, dataFile: file, lease: lease)
        blobStore.containers[key.id] = c
        try blobStore.save()
        if let old = existing { blobStore.removeContent(old.dataFile) }
        return .empty(
            201,
            headers: [
                ("ETag", etag.quoted), ("Last-Modified", BlobDate.rfc1123(now)), ("Content-MD5", md5),
                ("x-ms-request-server-encrypted", "true")
            ])
    }

    private func getBlob(_ request: EmulatorRequest, _ key: BlobContainerKey, _ name: String, now: Date) throws
        -> EmulatorResponse
    {
        let c = try container(key)
        guard let blob = c.blobs[name] else { throw BlobError.blobNotFound }
        if let notModified = try checkConditions(request, blob, write: false) { return notModified }
        try checkLeaseForBlobOperation(request, blob.lease, now: now)
        var headers: [(String, String)] = [
            ("ETag", blob.etag.quoted), ("Last-Modified", BlobDate.rfc1123(blob.lastModified)),
            ("x-ms-creation-time", BlobDate.rfc1123(blob.created)), ("x-ms-blob-type", "BlockBlob"),
            ("Content-Type", blob.contentType), ("Content-MD5", blob.contentMD5), ("Accept-Ranges", "bytes"),
            ("x-ms-server-encrypted", "true")
        ]
        headers += blob.lease.headers(at: now)
        headers += blob.metadata.sorted { $0.key < $1.key }.map { ("x-ms-meta-\($0.key)", $0.value) }
        let content = request.method == "HEAD" ? Data() : try blobStore.content(of: blob)
        if let range = request.header("x-ms-range") ?? request.header("range"), request.method == "GET" {
            let (lo, hi) = try Self.parseRange(range, length: blob.contentLength)
            headers.removeAll { $0.0 == "Content-MD5" }
            headers.append(("Content-Range", "bytes \(lo)-\(hi)/\(blob.contentLength)"))
            headers.append(("Content-Length", String(hi - lo + 1)))
            return EmulatorResponse(status: 206, headers: headers, body: content.subdata(in: lo..<(hi + 1)))
        }
        headers.append(("Content-Length", String(blob.contentLength)))
        return EmulatorResponse(status: 200, headers: headers, body: content)
    }

    /// `bytes=a-b` or `bytes=a-` within the blob; 416 `InvalidRange` outside it.
    static func parseRange(_ header: String, length: Int) throws(BlobError) -> (Int, Int) {
        let spec = header.hasPrefix("bytes=") ? header.dropFirst(6) : Substring(header)
        let ends = spec.split(separator: "-", omittingEmptySubsequences: false)
        guard ends.count == 2, let lo = Int(ends[0]) else { throw BlobError.invalidHeader("x-ms-range", header) }
        guard lo < length else {
            throw BlobError(
                416, "InvalidRange", "The range specified is invalid for the current size of the resource.",
                headers: [("Content-Range", "bytes */\(length)")])
        }
        let hi = ends[1].isEmpty ? length - 1 : min(Int(ends[1]) ?? -1, length - 1)
        guard hi >= lo else { throw BlobError.invalidHeader("x-ms-range", header) }
        return (lo, hi)
    }

    private func deleteBlob(_ request: EmulatorRequest, _ key: BlobContainerKey, _ name: String, now: Date) throws
        -> EmulatorResponse
    {
        var c = try container(key)
        guard let blob = c.blobs[name] else { throw BlobError.blobNotFound }
        try checkConditions(request, blob, write: true)
        try checkLeaseForBlobOperation(request, blob.lease, now: now)
        c.blobs[name] = nil
        blobStore.containers[key.id] = c
        try blobStore.save()
        blobStore.removeContent(blob.dataFile)
        return .empty(202, headers: [("x-ms-delete-type-permanent", "true")])
    }

    // MARK: Conditions and leases on blob operations

    /// `If-Match`, `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since`. A write that fails
    /// one is 412 `ConditionNotMet` (`If-None-Match: *` on an existing blob: 409
    /// `BlobAlreadyExists`); a read whose `If-None-Match`/`If-Modified-Since` fails is a bodiless
    /// 304, returned here.
    @discardableResult
    func checkConditions(_ request: EmulatorRequest, _ blob: StoredBlob?, write: Bool) throws(BlobError)
        -> EmulatorResponse?
    {
        if let ifMatch = request.header("if-match") {
            guard let blob, blob.etag.matches(ifMatch) else { throw BlobError.conditionNotMet }
        }
        if let ifNoneMatch = request.header("if-none-match"), let blob, blob.etag.matches(ifNoneMatch) {
            if !write { return .empty(304, headers: [("ETag", blob.etag.quoted)]) }
            if ifNoneMatch.trimmingCharacters(in: .whitespaces) == "*" { throw BlobError.blobAlreadyExists }
            throw BlobError.conditionNotMet
        }
        if let since = request.header("if-modified-since").flatMap(BlobDate.parse), let blob,
            blob.lastModified.timeIntervalSince1970.rounded(.down) <= since.timeIntervalSince1970
        {
            if !write { return .empty(304, headers: [("ETag", blob.etag.quoted)]) }
            throw BlobError.conditionNotMet
        }
        if let since = request.header("if-unmodified-since").flatMap(BlobDate.parse), let blob,
            blob.lastModified.timeIntervalSince1970.rounded(.down) > since.timeIntervalSince1970
        {
            throw BlobError.conditionNotMet
        }
        return nil
    }

    /// A blob with an active lease is written, deleted or read with a lease id only with its
    /// own; a lease id on a blob without an active lease is refused too.
    func checkLeaseForBlobOperation(_ request: EmulatorRequest, _ lease: BlobLease, now: Date) throws(BlobError) {
        let sent = request.header("x-ms-lease-id")
        if lease.isActive(at: now) {
            guard let sent else {
                if request.method == "GET" || request.method == "HEAD" { return }
                throw BlobError.leaseIdMissing
            }
            guard sent.lowercased() == lease.id?.lowercased() else { throw BlobError.leaseIdMismatchWithBlobOperation }
        } else if sent != nil {
            throw BlobError.leaseNotPresentWithBlobOperation
        }
    }
}
