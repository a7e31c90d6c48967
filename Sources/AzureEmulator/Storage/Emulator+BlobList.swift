import Foundation

/// List Blobs (`GET ?restype=container&comp=list`): names in order, `prefix`, `maxresults`
/// (1–5000, default 5000) and an opaque `marker` answered as `NextMarker`, in Azure's
/// `EnumerationResults` XML.
extension Emulator {
    func listBlobs(_ request: EmulatorRequest, _ key: BlobContainerKey) throws -> EmulatorResponse {
        let c = try container(key)
        let now = storageNow
        let prefix = request.query["prefix"] ?? ""
        var max = 5000
        if let m = request.query["maxresults"] {
            guard let v = Int(m), (1...5000).contains(v) else { throw BlobError.invalidQuery("maxresults", m) }
            max = v
        }
        let marker = request.query["marker"] ?? ""
        let after = marker.isEmpty ? nil : Self.decodeMarker(marker)
        if !marker.isEmpty, after == nil {
            throw BlobError(
                400, "InvalidQueryParameterValue",
                "Value for one of the query parameters specified in the request URI is invalid.",
                details: [("QueryParameterName", "marker"), ("QueryParameterValue", marker)])
        }
        let byteOrder: (String, String) -> Bool = { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        let names = c.blobs.keys.filter { name in
            name.hasPrefix(prefix) && (after.map { !byteOrder(name, $0) } ?? true)
        }
        .sorted(by: byteOrder)
        let page = names.prefix(max)
        let next = names.count > max ? Self.encodeMarker(names[max]) : ""

        let hosted = BlobAddress.account(ofHost: request.host) != nil
        let endpoint = hosted ? "\(request.baseURL)/" : "\(request.baseURL)/blob/\(key.account)/"
        var xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
        xml += "<EnumerationResults ServiceEndpoint=\"\(endpoint.xmlEscaped)\" ContainerName=\"\(key.container)\">"
        if request.query["prefix"] != nil { xml += "<Prefix>\(prefix.xmlEscaped)</Prefix>" }
        if !marker.isEmpty { xml += "<Marker>\(marker.xmlEscaped)</Marker>" }
        if request.query["maxresults"] != nil { xml += "<MaxResults>\(max)</MaxResults>" }
        xml += "<Blobs>"
        for name in page {
            guard let b = c.blobs[name] else { continue }
            let lease = b.lease
            let state = lease.state(at: now)
            xml += "<Blob><Name>\(name.xmlEscaped)</Name><Properties>"
            xml += "<Creation-Time>\(BlobDate.rfc1123(b.created))</Creation-Time>"
            xml += "<Last-Modified>\(BlobDate.rfc1123(b.lastModified))</Last-Modified>"
            xml += "<Etag>\(b.etag.value)</Etag><Content-Length>\(b.contentLength)</Content-Length>"
            xml += "<Content-Type>\(b.contentType.xmlEscaped)</Content-Type><Content-Encoding /><Content-Language />"
            xml += "<Content-CRC64 /><Content-MD5>\(b.contentMD5)</Content-MD5><Cache-Control /><Content-Disposition />"
            xml +=
                "<BlobType>BlockBlob</BlobType><AccessTier>Hot</AccessTier><AccessTierInferred>true</AccessTierInferred>"
            xml += "<LeaseStatus>\(lease.isActive(at: now) ? "locked" : "unlocked")</LeaseStatus>"
            xml += "<LeaseState>\(state.rawValue)</LeaseState>"
            if state == .leased {
                xml += "<LeaseDuration>\(lease.durationSeconds == nil ? "infinite" : "fixed")</LeaseDuration>"
            }
            xml += "<ServerEncrypted>true</ServerEncrypted></Properties></Blob>"
        }
        xml += "</Blobs><NextMarker>\(next)</NextMarker></EnumerationResults>"
        return EmulatorResponse(
            status: 200, headers: [("Content-Type", "application/xml")], body: Data(xml.utf8))
    }

    /// The name the next page starts at, opaque to the client (as Azure's markers are).
    static func encodeMarker(_ name: String) -> String {
        "1!" + Data(name.utf8).base64EncodedString()
    }

    static func decodeMarker(_ marker: String) -> String? {
        guard marker.hasPrefix("1!"), let d = Data(base64Encoded: String(marker.dropFirst(2))) else { return nil }
        return String(data: d, encoding: .utf8)
    }
}
