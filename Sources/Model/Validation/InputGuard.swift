/// Cheap checks that run before the YAML parser sees a manifest, so that no input can make
/// Kiln crash, hang or use unbounded memory: a size cap, UTF-8 validity, control bytes, and a
/// bound on nesting (the YAML composer and tree walkers recurse once per level).
enum InputGuard {
    /// Manifests are hand-written; anything larger is almost certainly not one.
    static let maxBytes = 1024 * 1024
    /// Deepest indentation (or compact `- - -` nesting) column accepted.
    static let maxBlockColumn = 512
    /// Deepest `[`/`{` nesting accepted.
    static let maxFlowDepth = 128

    enum Verdict {
        case text(String)
        case rejected(line: Int, column: Int, message: String, fix: String)
    }

    static func check(_ bytes: [UInt8]) -> Verdict {
        if bytes.count > maxBytes {
            return .rejected(
                line: 1, column: 1,
                message: "the file is \(bytes.count) bytes; Kiln reads manifests of at most \(maxBytes) bytes",
                fix: "check that this is the manifest you meant (split very large manifests into several files)")
        }
        var body = bytes[...]
        if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }
        // Validate UTF-8 and look for bytes YAML does not allow, tracking line and column.
        var line = 1
        var column = 1
        var i = body.startIndex
        while i < body.endIndex {
            let b = body[i]
            let length: Int
            switch b {
            case 0x00..<0x80: length = 1
            case 0xC2..<0xE0: length = 2
            case 0xE0..<0xF0: length = 3
            case 0xF0..<0xF5: length = 4
            default: length = 0
            }
            var valid = length > 0 && i + length <= body.endIndex
            if valid && length > 1 {
                for k in 1..<length where body[i + k] & 0xC0 != 0x80 { valid = false }
                if valid && length == 3 {
                    let b1 = body[i + 1]
                    if (b == 0xE0 && b1 < 0xA0) || (b == 0xED && b1 >= 0xA0) { valid = false }
                }
                if valid && length == 4 {
                    let b1 = body[i + 1]
                    if (b == 0xF0 && b1 < 0x90) || (b == 0xF4 && b1 >= 0x90) { valid = false }
                }
            }
            if !valid {
                return .rejected(
                    line: line, column: column,
                    message:
                        "the file is not valid UTF-8 (byte 0x\(String(b, radix: 16, uppercase: true)) at offset \(i))",
                    fix: "save the manifest as UTF-8 text")
            }
            if length == 1 && b < 0x20 && b != 0x0A && b != 0x0D && b != 0x09 {
                return .rejected(
                    line: line, column: column,
                    message:
                        "the file holds a control byte 0x\(String(b, radix: 16, uppercase: true)); it looks binary, not YAML",
                    fix: "remove the byte, or check that this is the manifest you meant")
            }
            if b == 0x0A {
                line += 1
                column = 1
            } else {
                column += 1
            }
            i += length
        }
        let text = String(decoding: body, as: UTF8.self)
        if let deep = firstTooDeep(text) {
            return .rejected(
                line: deep.line, column: deep.column,
                message: "the YAML nests deeper than Kiln accepts (\(deep.what))",
                fix: "a manifest needs only a few levels; flatten this structure")
        }
        return .text(text)
    }

    /// Finds the first place where block indentation or flow nesting exceeds the limits.
    /// Brackets inside quoted scalars and comments are ignored; a bracket opens flow only at
    /// the start of a value or inside flow already, so shell text in block scalars is mostly
    /// left alone (and the limits are far above anything a real manifest needs).
    static func firstTooDeep(_ text: String) -> (line: Int, column: Int, what: String)? {
        var flowDepth = 0
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let chars = Array(rawLine.unicodeScalars)
            // Block nesting: the column where content starts after indentation and `- `/`? `/`: ` indicators.
            var col = 0
            while col < chars.count {
                if chars[col] == " " || chars[col] == "\t" {
                    col += 1
                    continue
                }
                if col + 1 < chars.count, chars[col] == "-" || chars[col] == "?" || chars[col] == ":",
                    chars[col + 1] == " "
                {
                    col += 2
                    continue
                }
                break
            }
            if col > maxBlockColumn {
                return (lineNumber, col, "content starts at column \(col + 1); the limit is \(maxBlockColumn)")
            }
            var quote: Unicode.Scalar?
            var atValueStart = true
            var k = 0
            while k < chars.count {
                let c = chars[k]
                if let q = quote {
                    if c == "\\" && q == "\"" {
                        k += 2
                        continue
                    }
                    if c == q { quote = nil }
                    k += 1
                    continue
                }
                switch c {
                case "#" where k == 0 || chars[k - 1] == " " || chars[k - 1] == "\t":
                    k = chars.count
                    continue
                case "\"", "'":
                    if atValueStart || flowDepth > 0 { quote = c }
                case "[", "{":
                    if atValueStart || flowDepth > 0 {
                        flowDepth += 1
                        if flowDepth > maxFlowDepth {
                            return (lineNumber, k + 1, "more than \(maxFlowDepth) levels of [ ] or { }")
                        }
                    }
                case "]", "}":
                    if flowDepth > 0 { flowDepth -= 1 }
                default: break
                }
                if c == " " || c == "\t" || c == "," || c == "[" || c == "{" {
                    // keep atValueStart as it was: whitespace and flow openers do not end a value start
                    if c == "," || c == "[" || c == "{" { atValueStart = true }
                } else if c == ":" || c == "-" || c == "?" {
                    atValueStart = k + 1 >= chars.count || chars[k + 1] == " "
                } else {
                    atValueStart = false
                }
                k += 1
            }
        }
        return nil
    }
}
