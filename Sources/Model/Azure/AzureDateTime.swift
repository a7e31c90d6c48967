import Foundation

/// An instant as Azure's date-time properties carry it (`format: date-time`, RFC 3339),
/// e.g. a gallery version's `endOfLifeDate`. A manifest may write a bare date
/// (`2030-12-31`: midnight UTC) or a full RFC 3339 time; Azure answers its own spelling
/// (`2030-12-31T00:00:00+00:00`). Two values are equal when they name the same instant
/// (to the second), whatever their spelling, so a published date never reads as drift
/// because Azure normalised it.
public struct AzureDateTime: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The instant, whole seconds.
    public let date: Date

    public init(_ date: Date) {
        self.date = Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
    }

    /// Parses `YYYY-MM-DD` (midnight UTC) or RFC 3339 (`Z` or an offset, with or without
    /// fractional seconds); nil for anything else.
    public init?(parsing text: String) {
        let text = text.trimmingCharacters(in: .whitespaces)
        if text.count == 10 {
            let day = DateFormatter()
            day.locale = Locale(identifier: "en_US_POSIX")
            day.timeZone = TimeZone(identifier: "UTC")
            day.dateFormat = "yyyy-MM-dd"
            guard let d = day.date(from: text) else { return nil }
            self.init(d)
            return
        }
        let iso = ISO8601DateFormatter()
        if let d = iso.date(from: text) {
            self.init(d)
            return
        }
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        guard let d = iso.date(from: text) else { return nil }
        self.init(d)
    }

    /// `2030-12-31T00:00:00Z`: what Kiln sends.
    public var rfc3339: String {
        let iso = ISO8601DateFormatter()
        iso.timeZone = TimeZone(identifier: "UTC")
        return iso.string(from: date)
    }

    /// `2030-12-31T00:00:00+00:00`: how Azure answers a date-time it stored.
    public var azureSpelling: String {
        String(rfc3339.dropLast()) + "+00:00"
    }

    public var description: String { rfc3339 }

    public static func < (a: AzureDateTime, b: AzureDateTime) -> Bool { a.date < b.date }
}

extension AzureDateTime: TextCodable {
    public static let textCodingName = "a date or an RFC 3339 time"
}
