/// A platform (marketplace) image reference `publisher:offer:sku:version`, where version is a
/// concrete `A.B.C` style version or `latest`.
public struct PlatformImageURN: Sendable, Hashable, Codable, CustomStringConvertible {
    public var publisher: String
    public var offer: String
    public var sku: String
    /// A concrete version, or nil for `latest`.
    public var version: String?

    public init(publisher: String, offer: String, sku: String, version: String?) {
        self.publisher = publisher
        self.offer = offer
        self.sku = sku
        self.version = version
    }

    public var isLatest: Bool { version == nil }
    public var description: String { "\(publisher):\(offer):\(sku):\(version ?? "latest")" }

    /// Returns a copy whose version is `version` (used once `latest` is resolved).
    public func resolved(to version: String) -> PlatformImageURN {
        PlatformImageURN(publisher: publisher, offer: offer, sku: sku, version: version)
    }

    /// The ARM id of one version of this image in a location, as disks' `imageReference.id` takes it.
    public func versionID(subscription: String, location: String) -> String? {
        guard let version else { return nil }
        return
            "/subscriptions/\(subscription)/providers/Microsoft.Compute/locations/\(location)/publishers/\(publisher)/artifacttypes/vmimage/offers/\(offer)/skus/\(sku)/versions/\(version)"
    }
}

public struct PlatformImageURNError: Error, Sendable, Equatable, CustomStringConvertible {
    public let input: String
    public let reason: String
    public var message: String { "'\(input)' is not a platform image URN (\(reason))" }
    public var fix: String { "write publisher:offer:sku:version, e.g. Canonical:ubuntu-24_04-lts:server:latest" }
    public var description: String { "\(message) — \(fix)" }
}

extension PlatformImageURN {
    static func isNameCharacter(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || c == "-" || c == "_" || c == ".")
    }

    public init(parsing text: String) throws(PlatformImageURNError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4 else {
            throw PlatformImageURNError(
                input: text, reason: "it has \(parts.count) part\(parts.count == 1 ? "" : "s"), not 4")
        }
        let names = ["publisher", "offer", "sku", "version"]
        for (name, part) in zip(names, parts) {
            if part.isEmpty { throw PlatformImageURNError(input: text, reason: "the \(name) is empty") }
            if !part.allSatisfy(Self.isNameCharacter) {
                throw PlatformImageURNError(
                    input: text, reason: "the \(name) may hold only letters, digits, '-', '_' and '.'")
            }
        }
        let version: String?
        if parts[3].lowercased() == "latest" {
            version = nil
        } else {
            guard ImageVersionOrder.components(parts[3]) != nil else {
                throw PlatformImageURNError(
                    input: text, reason: "the version must be 'latest' or dot-separated numbers such as 22.04.202501010"
                )
            }
            version = parts[3]
        }
        self.init(publisher: parts[0], offer: parts[1], sku: parts[2], version: version)
    }
}

/// Numeric ordering of dot-separated image versions: `1.10.0` > `1.9.9`, unlike string order.
public enum ImageVersionOrder {
    /// The numeric components, or nil when a component is not a non-negative integer.
    public static func components(_ version: String) -> [UInt64]? {
        let parts = version.split(separator: ".", omittingEmptySubsequences: false)
        guard !parts.isEmpty else { return nil }
        var out: [UInt64] = []
        for p in parts {
            guard !p.isEmpty, p.allSatisfy(\.isASCII), let n = UInt64(p) else { return nil }
            out.append(n)
        }
        return out
    }

    /// True when `a` sorts before `b` numerically; non-numeric versions sort first, by string.
    public static func less(_ a: String, _ b: String) -> Bool {
        switch (components(a), components(b)) {
        case (let x?, let y?):
            for i in 0..<max(x.count, y.count) {
                let l = i < x.count ? x[i] : 0
                let r = i < y.count ? y[i] : 0
                if l != r { return l < r }
            }
            return x.count < y.count
        case (nil, _?): return true
        case (_?, nil): return false
        case (nil, nil): return a < b
        }
    }

    /// The highest of `versions` by numeric comparison.
    public static func highest(_ versions: [String]) -> String? { versions.max(by: less) }
}
