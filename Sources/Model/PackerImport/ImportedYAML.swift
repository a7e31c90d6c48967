import Foundation

/// The YAML text of an imported manifest, built as a small tree so that every key can carry
/// comments and remember the template place it came from (to point a diagnostic about the
/// manifest back at the template).
struct ImportedYAML {
    indirect enum Node {
        case scalar(String)
        /// A number or bool, written as it is.
        case raw(String)
        case list([Item])
        case map([Entry])
    }

    struct Entry {
        var key: String
        var value: Node
        var comments: [String] = []
        var origin: SourceLocation?
    }

    struct Item {
        var value: Node
        var comments: [String] = []
        var origin: SourceLocation?
    }

    /// The text, and for each line that a template place produced, that place (1-based lines).
    static func render(_ root: [Entry], header: [String]) -> (text: String, origins: [Int: SourceLocation]) {
        var writer = Writer()
        writer.comments(header, indent: 0)
        writer.map(root, indent: 0)
        return (writer.text, writer.origins)
    }

    private struct Writer {
        var text = ""
        var lineCount = 0
        var origins: [Int: SourceLocation] = [:]

        mutating func line(_ s: String, origin: SourceLocation?) {
            text += s + "\n"
            lineCount += 1
            if let origin { origins[lineCount] = origin }
        }

        /// Comment lines, wrapped at word boundaries to stay within 100 columns.
        mutating func comments(_ comments: [String], indent: Int) {
            let pad = String(repeating: " ", count: indent) + "# "
            let width = max(40, 100 - pad.count)
            for c in comments {
                var current = ""
                for word in c.split(separator: " ") {
                    if !current.isEmpty && current.count + 1 + word.count > width {
                        line(pad + current, origin: nil)
                        current = ""
                    }
                    current += current.isEmpty ? String(word) : " " + word
                }
                if !current.isEmpty { line(pad + current, origin: nil) }
            }
        }

        mutating func map(_ entries: [Entry], indent: Int, firstPrefix: String? = nil) {
            let pad = String(repeating: " ", count: indent)
            for (i, e) in entries.enumerated() {
                let lead = i == 0 && firstPrefix != nil ? firstPrefix! : pad
                if i > 0 || firstPrefix == nil { comments(e.comments, indent: indent) }
                value(e.value, prefix: "\(lead)\(ImportedYAML.scalar(e.key)):", indent: indent, origin: e.origin)
            }
        }

        mutating func value(_ node: Node, prefix: String, indent: Int, origin: SourceLocation?) {
            switch node {
            case .raw(let s):
                line("\(prefix) \(s)", origin: origin)
            case .scalar(let s):
                if let block = ImportedYAML.blockScalar(s) {
                    line("\(prefix) \(block.indicator)", origin: origin)
                    let pad = String(repeating: " ", count: indent + 2)
                    for l in block.lines { line(l.isEmpty ? "" : pad + l, origin: origin) }
                } else {
                    line("\(prefix) \(ImportedYAML.scalar(s))", origin: origin)
                }
            case .map(let entries) where entries.isEmpty:
                line("\(prefix) {}", origin: origin)
            case .list(let items) where items.isEmpty:
                line("\(prefix) []", origin: origin)
            case .map(let entries):
                line(prefix, origin: origin)
                map(entries, indent: indent + 2)
            case .list(let items):
                line(prefix, origin: origin)
                list(items, indent: indent + 2)
            }
        }

        mutating func list(_ items: [Item], indent: Int) {
            let pad = String(repeating: " ", count: indent)
            for item in items {
                comments(item.comments, indent: indent)
                switch item.value {
                case .raw(let s):
                    line("\(pad)- \(s)", origin: item.origin)
                case .scalar(let s):
                    if let block = ImportedYAML.blockScalar(s) {
                        line("\(pad)- \(block.indicator)", origin: item.origin)
                        for l in block.lines { line(l.isEmpty ? "" : pad + "  " + l, origin: item.origin) }
                    } else {
                        line("\(pad)- \(ImportedYAML.scalar(s))", origin: item.origin)
                    }
                case .map(let entries) where !entries.isEmpty:
                    comments(entries[0].comments, indent: indent)
                    map(entries, indent: indent + 2, firstPrefix: "\(pad)- ")
                case .list(let inner) where !inner.isEmpty:
                    line("\(pad)-", origin: item.origin)
                    list(inner, indent: indent + 2)
                case .map: line("\(pad)- {}", origin: item.origin)
                case .list: line("\(pad)- []", origin: item.origin)
                }
            }
        }
    }

    /// A scalar as YAML: plain when that reads back as the same string, else single-quoted,
    /// else double-quoted with escapes.
    static func scalar(_ s: String) -> String {
        if isPlainSafe(s) { return s }
        if !s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || $0 == "\u{FEFF}" }) {
            return "'" + s.replacingOccurrences(of: "'", with: "''") + "'"
        }
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if u.value < 0x20 || u.value == 0x7F || u == "\u{FEFF}" {
                    out +=
                        "\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count)
                        + String(u.value, radix: 16)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    static func isPlainSafe(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, let last = s.unicodeScalars.last else { return false }
        if "-?:,[]{}#&*!|>'\"%@`.+0123456789 ".unicodeScalars.contains(first) || last == " " || last == ":" {
            return false
        }
        if s.contains(": ") || s.contains(" #")
            || s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value >= 0x7F })
        {
            return false
        }
        let reserved = ["true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", "<<", "="]
        return !reserved.contains(s.lowercased())
    }

    /// A literal block (`|`, `|-`, `|+`) for multi-line text that reads back unchanged, or nil.
    static func blockScalar(_ s: String) -> (indicator: String, lines: [String])? {
        guard s.contains("\n"), let first = s.unicodeScalars.first, first != " ", first != "\n",
            !s.unicodeScalars.contains(where: { ($0.value < 0x20 && $0 != "\n" && $0 != "\t") || $0.value == 0x7F }),
            !s.hasPrefix("\t")
        else { return nil }
        var body = s
        var trailing = 0
        while body.hasSuffix("\n") {
            body.removeLast()
            trailing += 1
        }
        let lines = body.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // A line of only blanks would be read as part of the indentation; keep those quoted.
        if lines.contains(where: { !$0.isEmpty && $0.allSatisfy { $0 == " " || $0 == "\t" } }) { return nil }
        let indicator = trailing == 0 ? "|-" : trailing == 1 ? "|" : "|+"
        return (indicator, lines + Array(repeating: "", count: max(0, trailing - 1)))
    }
}
