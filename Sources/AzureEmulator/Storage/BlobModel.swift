import Foundation

/// Where a container lives: any account name is served (path-style, as Azurite does).
struct BlobContainerKey: Hashable, Sendable, Codable {
    var account: String
    var container: String

    /// How the index spells it (`account/container`).
    var id: String { "\(account)/\(container)" }
}

/// A stored container: its properties and its blobs by name.
struct StoredBlobContainer: Codable, Sendable {
    var key: BlobContainerKey
    var etag: BlobETag
    var lastModified: Date
    var blobs: [String: StoredBlob] = [:]
}

/// A stored block blob; its bytes are in the file named `dataFile` under the store's data folder.
struct StoredBlob: Codable, Sendable {
    var etag: BlobETag
    var created: Date
    var lastModified: Date
    var contentLength: Int
    var contentType: String
    /// Base64 MD5 of the content, as Put Blob computes it.
    var contentMD5: String
    var metadata: [String: String] = [:]
    var dataFile: String
    var lease = BlobLease()
}

/// An entity tag as Azure Storage spells it: `0x` and 15 hex digits, quoted in headers.
struct BlobETag: Codable, Sendable, Hashable {
    var value: String

    var quoted: String { "\"\(value)\"" }

    /// Whether a header's entity tag (quoted or not, or `*`) names this one.
    func matches(_ header: String) -> Bool {
        header.split(separator: ",").contains { part in
            let t = part.trimmingCharacters(in: .whitespaces)
            return t == "*" || t.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) == value
        }
    }
}

/// What `x-ms-lease-state` says.
enum BlobLeaseState: String, Sendable {
    case available, leased, expired, breaking, broken
}

/// A blob's lease as stored; its visible state depends on the time it is looked at, so a lease
/// expires (or a break completes) by the emulator's clock without anything running.
struct BlobLease: Codable, Sendable, Equatable {
    enum Phase: String, Codable, Sendable { case available, leased, breaking, broken }

    var phase: Phase = .available
    /// The current (or last) lease id.
    var id: String?
    /// Seconds; nil for an infinite lease.
    var durationSeconds: Int?
    /// When a leased phase expires (nil: infinite), or when a breaking phase becomes broken.
    var endsAt: Date?

    func state(at now: Date) -> BlobLeaseState {
        switch phase {
        case .available: return .available
        case .leased: return endsAt.map { $0 <= now } == true ? .expired : .leased
        case .breaking: return endsAt.map { $0 <= now } == true ? .broken : .breaking
        case .broken: return .broken
        }
    }

    /// Whether writes need the lease id (`x-ms-lease-status: locked`).
    func isActive(at now: Date) -> Bool {
        let s = state(at: now)
        return s == .leased || s == .breaking
    }

    /// The `x-ms-lease-*` headers of a blob's GET/HEAD.
    func headers(at now: Date) -> [(String, String)] {
        let s = state(at: now)
        var out = [("x-ms-lease-state", s.rawValue), ("x-ms-lease-status", isActive(at: now) ? "locked" : "unlocked")]
        if s == .leased { out.append(("x-ms-lease-duration", durationSeconds == nil ? "infinite" : "fixed")) }
        return out
    }
}

/// Formats and parses the dates of the Blob service's headers (RFC 1123) and bodies.
enum BlobDate {
    static func rfc1123(_ d: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return f.string(from: d)
    }

    static func parse(_ s: String) -> Date? {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return f.date(from: s)
    }

    /// `2026-12-06T19:19:21.0000000Z`, as in error messages.
    static func iso(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: d)
    }
}

/// XML text escaping for the Blob service's bodies.
extension String {
    var xmlEscaped: String {
        var out = ""
        out.reserveCapacity(count)
        for c in self {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(c)
            }
        }
        return out
    }
}
