import Foundation

/// A position-tracking cursor over template text: 1-based lines, columns counted in Unicode
/// scalars (as manifest diagnostics count them).
struct TextCursor {
    let file: String
    let scalars: [Unicode.Scalar]
    private(set) var index = 0
    private(set) var line = 1
    private(set) var column = 1

    init(file: String, text: String) {
        self.file = file
        scalars = Array(text.unicodeScalars)
    }

    /// A cursor over `text` that is part of a file, starting at `start`.
    init(file: String, text: String, at start: SourceLocation) {
        self.init(file: file, text: text)
        line = start.line
        column = start.column
    }

    var atEnd: Bool { index >= scalars.count }
    var location: SourceLocation { SourceLocation(file: file, line: line, column: column) }

    func peek(_ offset: Int = 0) -> Unicode.Scalar? {
        index + offset < scalars.count ? scalars[index + offset] : nil
    }

    /// Whether the text at the cursor starts with `s`.
    func starts(with s: String) -> Bool {
        var i = index
        for c in s.unicodeScalars {
            guard i < scalars.count, scalars[i] == c else { return false }
            i += 1
        }
        return true
    }

    @discardableResult
    mutating func advance() -> Unicode.Scalar? {
        guard index < scalars.count else { return nil }
        let c = scalars[index]
        index += 1
        if c == "\n" {
            line += 1
            column = 1
        } else {
            column += 1
        }
        return c
    }

    mutating func advance(by n: Int) {
        for _ in 0..<n { advance() }
    }

    func error(_ message: String, fix: String = "", at location: SourceLocation? = nil) -> PackerImportError {
        PackerImportError(at: location ?? self.location, message, fix: fix)
    }

    /// The escapes HCL and JSON strings share.
    static let commonEscapes: [Unicode.Scalar: Unicode.Scalar] = [
        "n": "\n", "r": "\r", "t": "\t", "\"": "\"", "\\": "\\"
    ]

    /// Reads the escape after a backslash (the cursor is past it): one of `simple`, or `\uXXXX`.
    mutating func escape(_ simple: [Unicode.Scalar: Unicode.Scalar]) throws(PackerImportError) -> Unicode.Scalar {
        let start = location
        let c = advance()
        if c == "u" { return try unicodeEscape(start: start) }
        guard let c, let value = simple[c] else {
            throw error("unknown escape in a string", fix: "escape a backslash as \\\\", at: start)
        }
        return value
    }

    /// Reads the four hex digits of a `\uXXXX` escape (the cursor is after the `u`).
    mutating func unicodeEscape(start: SourceLocation) throws(PackerImportError) -> Unicode.Scalar {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let c = peek(), let digit = UInt32(String(c), radix: 16) else {
                throw error("\\u needs four hex digits", fix: "write e.g. \\u00e9", at: start)
            }
            value = value * 16 + digit
            advance()
        }
        guard let scalar = Unicode.Scalar(value) else {
            throw error(
                "\\u\(String(value, radix: 16)) is not a character", fix: "write the character itself", at: start)
        }
        return scalar
    }
}
