import Foundation

/// Parses the HCL2 subset of Packer templates (`.pkr.hcl`, `.pkrvars.hcl`): blocks, attributes,
/// quoted strings with `${…}` interpolation, heredocs (`<<EOF`, `<<-EOF`), lists, objects,
/// numbers, bools, null, `#`, `//` and `/* */` comments, references (`var.x`, `local.x`),
/// function calls and operators. Throws the first syntax error with its line and column;
/// `for` expressions, splats and `%{…}` directives are refused by name.
struct HCLParser {
    static let maxDepth = 100

    var c: TextCursor
    private var depth = 0

    static func parse(_ text: String, file: String) throws(PackerImportError) -> HCLBody {
        var parser = HCLParser(c: TextCursor(file: file, text: text))
        if parser.c.peek() == "\u{FEFF}" { parser.c.advance() }
        return try parser.body(closing: false)
    }

    /// Parses one expression, e.g. a `--var` value of a variable that is not a string.
    static func parseExpression(_ text: String, at location: SourceLocation) throws(PackerImportError) -> HCLExpression
    {
        var parser = HCLParser(c: TextCursor(file: location.file, text: text, at: location))
        try parser.skip(newlines: true)
        let e = try parser.expression(newlines: true)
        try parser.skip(newlines: true)
        guard parser.c.atEnd else { throw parser.c.error("unexpected text after the value", fix: "quote it") }
        return e
    }

    init(c: TextCursor) { self.c = c }

    // MARK: layout

    /// Skips blanks and comments; newlines too when `newlines` (inside brackets).
    mutating func skip(newlines: Bool) throws(PackerImportError) {
        while let s = c.peek() {
            if s == " " || s == "\t" || s == "\r" || (newlines && s == "\n") {
                c.advance()
            } else if s == "#" || (s == "/" && c.peek(1) == "/") {
                while let t = c.peek(), t != "\n" { c.advance() }
            } else if s == "/" && c.peek(1) == "*" {
                let start = c.location
                c.advance(by: 2)
                while !c.starts(with: "*/") {
                    guard c.advance() != nil else {
                        throw c.error("the comment is never closed", fix: "close it with */", at: start)
                    }
                }
                c.advance(by: 2)
            } else {
                return
            }
        }
    }

    private static func isNameStart(_ s: Unicode.Scalar) -> Bool {
        s == "_" || (s.isASCII && s.properties.isAlphabetic)
    }

    private static func isNameScalar(_ s: Unicode.Scalar) -> Bool {
        isNameStart(s) || s == "-" || ("0"..."9").contains(s)
    }

    mutating func name() -> String {
        var out = ""
        while let s = c.peek(), Self.isNameScalar(s) {
            out.unicodeScalars.append(s)
            c.advance()
        }
        return out
    }

    private mutating func expect(_ s: Unicode.Scalar, _ what: String, fix: String) throws(PackerImportError) {
        guard c.peek() == s else {
            let found = c.peek().map { $0 == "\n" ? "the end of the line" : "'\($0)'" } ?? "the end of the file"
            throw c.error("expected \(what), found \(found)", fix: fix)
        }
        c.advance()
    }

    // MARK: bodies

    private mutating func body(closing: Bool) throws(PackerImportError) -> HCLBody {
        var out = HCLBody()
        while true {
            try skip(newlines: true)
            guard let s = c.peek() else {
                if closing { throw c.error("a block is never closed", fix: "add the missing '}'") }
                return out
            }
            if s == "}" {
                guard closing else { throw c.error("unexpected '}'", fix: "remove it, or open its block") }
                c.advance()
                return out
            }
            let start = c.location
            guard Self.isNameStart(s) else {
                throw c.error(
                    "expected an attribute or a block, found '\(s)'", fix: "write `name = value` or `type { … }`")
            }
            let key = name()
            try skip(newlines: false)
            if c.peek() == "=" && c.peek(1) != "=" {
                c.advance()
                try skip(newlines: false)
                let value = try expression(newlines: false)
                out.attributes.append(HCLAttribute(name: key, location: start, value: value))
                try endOfLine()
                continue
            }
            var labels: [String] = []
            while let t = c.peek(), t != "{" {
                if t == "\"" {
                    let label = try quoted()
                    guard case .string(let text) = label.kind else {
                        throw c.error(
                            "a block label cannot interpolate", fix: "write it as plain text", at: label.location)
                    }
                    labels.append(text)
                } else if Self.isNameStart(t) {
                    labels.append(name())
                } else {
                    throw c.error(
                        "expected '=' or a block's '{' after \(key)",
                        fix: "write `\(key) = value` for an attribute or `\(key) { … }` for a block")
                }
                try skip(newlines: false)
            }
            try expect("{", "'{'", fix: "open the block's body")
            depth += 1
            guard depth < Self.maxDepth else { throw c.error("blocks nest too deep", fix: "flatten the template") }
            let inner = try body(closing: true)
            depth -= 1
            out.blocks.append(HCLBlock(type: key, labels: labels, location: start, body: inner))
            try skip(newlines: false)
            if let s = c.peek(), s != "\n", s != "}" {
                throw c.error(
                    "unexpected '\(s)' after the closing brace of \(key)", fix: "start the next block on a new line")
            }
        }
    }

    private mutating func endOfLine() throws(PackerImportError) {
        try skip(newlines: false)
        guard let s = c.peek(), s != "\n", s != "}" else { return }
        throw c.error("unexpected '\(s)' after the value", fix: "put each attribute on its own line")
    }

    // MARK: expressions

    private static let binaryLevels: [[String]] = [
        ["||"], ["&&"], ["==", "!="], ["<=", ">=", "<", ">"], ["+", "-"], ["*", "/", "%"]
    ]

    mutating func expression(newlines: Bool) throws(PackerImportError) -> HCLExpression {
        depth += 1
        defer { depth -= 1 }
        guard depth < Self.maxDepth else { throw c.error("the expression nests too deep", fix: "simplify it") }
        let condition = try binary(level: 0, newlines: newlines)
        try skip(newlines: newlines)
        guard c.peek() == "?" else { return condition }
        c.advance()
        try skip(newlines: newlines)
        let yes = try expression(newlines: newlines)
        try skip(newlines: newlines)
        try expect(":", "':' of the conditional", fix: "write condition ? a : b")
        try skip(newlines: newlines)
        let no = try expression(newlines: newlines)
        return HCLExpression(kind: .conditional(condition, yes, no), location: condition.location)
    }

    private mutating func binary(level: Int, newlines: Bool) throws(PackerImportError) -> HCLExpression {
        guard level < Self.binaryLevels.count else { return try unary(newlines: newlines) }
        var left = try binary(level: level + 1, newlines: newlines)
        while true {
            try skip(newlines: newlines)
            guard let op = Self.binaryLevels[level].first(where: { c.starts(with: $0) }),
                !(op == "/" && (c.peek(1) == "/" || c.peek(1) == "*"))
            else { return left }
            c.advance(by: op.unicodeScalars.count)
            try skip(newlines: newlines)
            let right = try binary(level: level + 1, newlines: newlines)
            left = HCLExpression(kind: .binary(op, left, right), location: left.location)
        }
    }

    private mutating func unary(newlines: Bool) throws(PackerImportError) -> HCLExpression {
        let start = c.location
        if let s = c.peek(), s == "!" || s == "-" {
            c.advance()
            try skip(newlines: newlines)
            depth += 1
            defer { depth -= 1 }
            guard depth < Self.maxDepth else { throw c.error("the expression nests too deep", fix: "simplify it") }
            return HCLExpression(kind: .unary(String(s), try unary(newlines: newlines)), location: start)
        }
        var e = try primary()
        while true {
            if c.peek() == "." {
                c.advance()
                if c.peek() == "*" {
                    throw c.error("splat expressions (.*) are not supported", fix: "name the element")
                }
                let member = name()
                guard !member.isEmpty else { throw c.error("expected a name after '.'", fix: "write e.g. var.name") }
                e = HCLExpression(kind: .attribute(e, member), location: start)
            } else if c.peek() == "[" {
                c.advance()
                try skip(newlines: true)
                if c.peek() == "*" {
                    throw c.error("splat expressions ([*]) are not supported", fix: "name the element")
                }
                let index = try expression(newlines: true)
                try skip(newlines: true)
                try expect("]", "']'", fix: "close the index")
                e = HCLExpression(kind: .index(e, index), location: start)
            } else {
                return e
            }
        }
    }

    private mutating func primary() throws(PackerImportError) -> HCLExpression {
        let start = c.location
        guard let s = c.peek() else { throw c.error("the file ends where a value was expected", fix: "complete it") }
        switch s {
        case "\"":
            return try quoted()
        case "<" where c.peek(1) == "<":
            return try heredoc()
        case "[":
            c.advance()
            var items: [HCLExpression] = []
            while true {
                try skip(newlines: true)
                if c.peek() == "]" { break }
                if c.starts(with: "for ") {
                    throw c.error("for expressions are not supported", fix: "write the list out")
                }
                items.append(try expression(newlines: true))
                try skip(newlines: true)
                if c.peek() == "," {
                    c.advance()
                } else if c.peek() != "]" {
                    throw c.error("expected ',' or ']' in the list", fix: "separate items with commas")
                }
            }
            c.advance()
            return HCLExpression(kind: .list(items), location: start)
        case "{":
            c.advance()
            var members: [(key: HCLExpression, value: HCLExpression)] = []
            while true {
                try skip(newlines: true)
                if c.peek() == "}" { break }
                if c.starts(with: "for ") {
                    throw c.error("for expressions are not supported", fix: "write the map out")
                }
                let keyStart = c.location
                var key: HCLExpression
                if let k = c.peek(), Self.isNameStart(k) {
                    key = HCLExpression(kind: .string(name()), location: keyStart)
                } else {
                    key = try expression(newlines: true)
                }
                try skip(newlines: true)
                guard c.peek() == "=" || c.peek() == ":" else {
                    throw c.error("expected '=' after the key", fix: "write key = value")
                }
                c.advance()
                try skip(newlines: true)
                // Inside braces a new line ends a member, as it ends an attribute.
                members.append((key, try expression(newlines: false)))
                try skip(newlines: false)
                if c.peek() == "," || c.peek() == "\n" {
                    c.advance()
                } else if c.peek() != "}" {
                    throw c.error("expected ',', a new line or '}' after the value", fix: "separate members")
                }
            }
            c.advance()
            return HCLExpression(kind: .object(members), location: start)
        case "(":
            c.advance()
            try skip(newlines: true)
            let inner = try expression(newlines: true)
            try skip(newlines: true)
            try expect(")", "')'", fix: "close the parenthesis")
            return inner
        case "0"..."9":
            var text = ""
            while let d = c.peek(),
                ("0"..."9").contains(d) || d == "." || d == "e" || d == "E"
                    || ((d == "+" || d == "-") && (text.hasSuffix("e") || text.hasSuffix("E")))
            {
                if d == ".", !(c.peek(1).map { ("0"..."9").contains($0) } ?? false) { break }
                text.unicodeScalars.append(d)
                c.advance()
            }
            guard let n = Double(text) else { throw c.error("'\(text)' is not a number", fix: "fix it", at: start) }
            return HCLExpression(kind: .number(n), location: start)
        default:
            guard Self.isNameStart(s) else {
                throw c.error("unexpected '\(s)' where a value was expected", fix: "quote strings in double quotes")
            }
            let word = name()
            switch word {
            case "true": return HCLExpression(kind: .bool(true), location: start)
            case "false": return HCLExpression(kind: .bool(false), location: start)
            case "null": return HCLExpression(kind: .null, location: start)
            default: break
            }
            guard c.peek() == "(" else { return HCLExpression(kind: .name(word), location: start) }
            c.advance()
            var args: [HCLExpression] = []
            while true {
                try skip(newlines: true)
                if c.peek() == ")" { break }
                args.append(try expression(newlines: true))
                try skip(newlines: true)
                if c.starts(with: "...") {
                    throw c.error("argument expansion (...) is not supported", fix: "list the arguments")
                }
                if c.peek() == "," {
                    c.advance()
                } else if c.peek() != ")" {
                    throw c.error("expected ',' or ')' in the call of \(word)", fix: "separate arguments with commas")
                }
            }
            c.advance()
            return HCLExpression(kind: .call(word, args), location: start)
        }
    }
}

extension String {
    var trimmingBlanks: String {
        String(self.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
