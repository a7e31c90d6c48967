import Foundation

/// A JSON value with the place of each part, as Packer's JSON templates need for located errors.
struct JSONNode: Sendable {
    indirect enum Kind: Sendable {
        case string(String)
        case number(Double)
        case bool(Bool)
        case null
        case array([JSONNode])
        case object([Member])
    }

    struct Member: Sendable {
        var key: String
        var keyLocation: SourceLocation
        var value: JSONNode
    }

    var kind: Kind
    var location: SourceLocation

    var members: [Member]? { if case .object(let m) = kind { m } else { nil } }
    var string: String? { if case .string(let s) = kind { s } else { nil } }
    subscript(key: String) -> JSONNode? { members?.last { $0.key == key }?.value }
}

/// Reads JSON text (RFC 8259) into located nodes; the first syntax error is thrown with its
/// line and column.
enum JSONTemplateReader {
    static let maxDepth = 200
    static let escapes = TextCursor.commonEscapes.merging(["/": "/", "b": "\u{8}", "f": "\u{C}"]) { a, _ in a }

    static func parse(_ text: String, file: String) throws(PackerImportError) -> JSONNode {
        var cursor = TextCursor(file: file, text: text)
        if cursor.peek() == "\u{FEFF}" { cursor.advance() }
        skipSpace(&cursor)
        let node = try value(&cursor, depth: 0)
        skipSpace(&cursor)
        if !cursor.atEnd {
            throw cursor.error("unexpected text after the template's closing brace", fix: "remove it")
        }
        return node
    }

    private static func skipSpace(_ c: inout TextCursor) {
        while let s = c.peek(), s == " " || s == "\t" || s == "\n" || s == "\r" { c.advance() }
    }

    private static func value(_ c: inout TextCursor, depth: Int) throws(PackerImportError) -> JSONNode {
        let start = c.location
        guard depth < maxDepth else {
            throw c.error("the JSON nests deeper than \(maxDepth) levels", fix: "a Packer template never needs that")
        }
        guard let s = c.peek() else {
            throw c.error("the JSON ends where a value was expected", fix: "complete the template")
        }
        switch s {
        case "{":
            c.advance()
            var members: [JSONNode.Member] = []
            skipSpace(&c)
            if c.peek() == "}" {
                c.advance()
                return JSONNode(kind: .object([]), location: start)
            }
            while true {
                skipSpace(&c)
                let keyStart = c.location
                guard c.peek() == "\"" else {
                    throw c.error(
                        c.peek() == "}" ? "a trailing comma before '}'" : "expected a quoted key",
                        fix: c.peek() == "}" ? "remove the comma" : "write keys in double quotes")
                }
                let key = try string(&c)
                skipSpace(&c)
                guard c.peek() == ":" else { throw c.error("expected ':' after the key \"\(key)\"", fix: "add it") }
                c.advance()
                skipSpace(&c)
                members.append(JSONNode.Member(key: key, keyLocation: keyStart, value: try value(&c, depth: depth + 1)))
                skipSpace(&c)
                if c.peek() == "," {
                    c.advance()
                    continue
                }
                guard c.peek() == "}" else {
                    throw c.error("expected ',' or '}' after the value of \"\(key)\"", fix: "add the missing comma")
                }
                c.advance()
                return JSONNode(kind: .object(members), location: start)
            }
        case "[":
            c.advance()
            var items: [JSONNode] = []
            skipSpace(&c)
            if c.peek() == "]" {
                c.advance()
                return JSONNode(kind: .array([]), location: start)
            }
            while true {
                skipSpace(&c)
                if c.peek() == "]" { throw c.error("a trailing comma before ']'", fix: "remove the comma") }
                items.append(try value(&c, depth: depth + 1))
                skipSpace(&c)
                if c.peek() == "," {
                    c.advance()
                    continue
                }
                guard c.peek() == "]" else {
                    throw c.error("expected ',' or ']' in the list", fix: "add the missing comma")
                }
                c.advance()
                return JSONNode(kind: .array(items), location: start)
            }
        case "\"":
            return JSONNode(kind: .string(try string(&c)), location: start)
        case "t", "f", "n":
            for (word, kind) in [("true", JSONNode.Kind.bool(true)), ("false", .bool(false)), ("null", .null)]
            where c.starts(with: word) {
                c.advance(by: word.unicodeScalars.count)
                return JSONNode(kind: kind, location: start)
            }
            throw c.error(
                "unexpected text where a value was expected", fix: "quote strings; JSON has true, false and null")
        default:
            var text = ""
            while let d = c.peek(), "+-0123456789.eE".unicodeScalars.contains(d) {
                text.unicodeScalars.append(d)
                c.advance()
            }
            guard !text.isEmpty, let n = Double(text) else {
                throw c.error(
                    text.isEmpty ? "unexpected '\(s)' where a value was expected" : "'\(text)' is not a number",
                    fix: "quote strings in double quotes", at: start)
            }
            return JSONNode(kind: .number(n), location: start)
        }
    }

    private static func string(_ c: inout TextCursor) throws(PackerImportError) -> String {
        let start = c.location
        c.advance()
        var out = String.UnicodeScalarView()
        while true {
            guard let s = c.advance(), s != "\n" else {
                throw c.error("the string is not closed", fix: "close it with \"", at: start)
            }
            if s == "\"" { return String(out) }
            if s != "\\" {
                if s.value < 0x20 {
                    throw c.error("a control character inside a string", fix: "escape it, e.g. \\t")
                }
                out.append(s)
                continue
            }
            out.append(try c.escape(Self.escapes))
        }
    }
}
