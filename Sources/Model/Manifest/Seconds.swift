import Foundation

/// A whole number of seconds, written in manifests as `90s`, `15m`, `2h` or `1h30m`.
public struct Seconds: Sendable, Hashable, Comparable, TextCodable {
    public var value: Int
    public init(_ value: Int) { self.value = value }

    public static func < (a: Seconds, b: Seconds) -> Bool { a.value < b.value }

    public var duration: Duration { .seconds(value) }

    /// The shortest spelling: `1h30m`, `15m`, `90s` → `1m30s`.
    public var description: String {
        if value == 0 { return "0s" }
        var rest = value
        var out = ""
        for (unit, size) in [("h", 3600), ("m", 60), ("s", 1)] where rest >= size {
            out += "\(rest / size)\(unit)"
            rest %= size
        }
        return out
    }

    /// Parses `<n><unit>` groups (units h, m, s; at least one group; at most 30 days).
    public init?(parsing text: String) {
        var total = 0
        var number = ""
        var sawGroup = false
        var lastUnitRank = -1
        for c in text.trimmingCharacters(in: .whitespaces) {
            if c.isASCII, c.isNumber {
                number.append(c)
                continue
            }
            let rank: Int
            let size: Int
            switch c {
            case "h": (rank, size) = (0, 3600)
            case "m": (rank, size) = (1, 60)
            case "s": (rank, size) = (2, 1)
            default: return nil
            }
            guard rank > lastUnitRank, !number.isEmpty, number.count <= 7, let n = Int(number) else { return nil }
            total += n * size
            number = ""
            sawGroup = true
            lastUnitRank = rank
        }
        guard sawGroup, number.isEmpty, total <= 30 * 86400 else { return nil }
        value = total
    }

    public static let textCodingName = "a duration"
}
