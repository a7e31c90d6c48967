import Foundation

/// Strings of the HCL2 subset: quoted strings with escapes and `${…}` interpolations, and heredocs.
extension HCLParser {
    /// A quoted string: escapes, `${…}` interpolations, `$${` and `%%{` for the literal marks.
    mutating func quoted() throws(PackerImportError) -> HCLExpression {
        let start = c.location
        c.advance()
        var parts: [HCLExpression.TemplatePart] = []
        var text = String.UnicodeScalarView()
        while true {
            guard let s = c.peek(), s != "\n" else {
                throw c.error("the string is not closed", fix: "close it with \" on the same line", at: start)
            }
            if s == "\"" {
                c.advance()
                break
            }
            if s == "\\" {
                c.advance()
                text.append(try c.escape(TextCursor.commonEscapes))
                continue
            }
            if try templateMark(into: &parts, text: &text) { continue }
            text.append(s)
            c.advance()
        }
        return Self.template(parts, text, at: start)
    }

    /// Handles `${`, `$${`, `%{` and `%%{` at the cursor; false when there is none.
    mutating func templateMark(
        into parts: inout [HCLExpression.TemplatePart], text: inout String.UnicodeScalarView
    ) throws(PackerImportError) -> Bool {
        if c.starts(with: "$${") || c.starts(with: "%%{") {
            text.append(c.peek()!)
            text.append("{")
            c.advance(by: 3)
            return true
        }
        if c.starts(with: "%{") {
            throw c.error("template directives (%{…}) are not supported", fix: "use a conditional ${a ? b : c} instead")
        }
        guard c.starts(with: "${") else { return false }
        let start = c.location
        c.advance(by: 2)
        if c.peek() == "~" { c.advance() }
        try skip(newlines: true)
        let inner = try expression(newlines: true)
        try skip(newlines: true)
        if c.peek() == "~" { c.advance() }
        guard c.peek() == "}" else {
            throw c.error("the interpolation is not closed", fix: "close ${ with }", at: start)
        }
        c.advance()
        if !text.isEmpty {
            parts.append(.text(String(text)))
            text = .init()
        }
        parts.append(.interpolation(inner))
        return true
    }

    static func template(
        _ parts: [HCLExpression.TemplatePart], _ text: String.UnicodeScalarView, at start: SourceLocation
    ) -> HCLExpression {
        var parts = parts
        if !text.isEmpty { parts.append(.text(String(text))) }
        if parts.isEmpty { return HCLExpression(kind: .string(""), location: start) }
        if parts.count == 1, case .text(let only) = parts[0] {
            return HCLExpression(kind: .string(only), location: start)
        }
        return HCLExpression(kind: .template(parts), location: start)
    }

    /// `<<EOF` … `EOF`, or `<<-EOF` with the lines' common indentation removed.
    mutating func heredoc() throws(PackerImportError) -> HCLExpression {
        let start = c.location
        c.advance(by: 2)
        let indented = c.peek() == "-"
        if indented { c.advance() }
        let marker = name()
        guard !marker.isEmpty, c.peek() == "\n" || c.peek() == "\r" else {
            throw c.error("a heredoc needs a marker and then a new line", fix: "write <<EOF, the lines, then EOF")
        }
        if c.peek() == "\r" { c.advance() }
        c.advance()
        // Collect the raw lines up to the closing marker, then parse them as one template.
        var lines: [(text: String, location: SourceLocation)] = []
        while true {
            guard !c.atEnd else {
                throw c.error(
                    "the heredoc is never closed", fix: "end it with a line holding only \(marker)", at: start)
            }
            let lineStart = c.location
            var line = ""
            while let s = c.peek(), s != "\n" {
                line.unicodeScalars.append(s)
                c.advance()
            }
            if line.hasSuffix("\r") { line.removeLast() }
            if line.trimmingBlanks == marker { break }
            c.advance()
            lines.append((line, lineStart))
        }
        if indented {
            let margin =
                lines.filter { !$0.text.trimmingBlanks.isEmpty }
                .map { $0.text.prefix { $0 == " " || $0 == "\t" }.count }.min() ?? 0
            lines = lines.map { line in
                let cut = min(margin, line.text.prefix { $0 == " " || $0 == "\t" }.count)
                var at = line.location
                at.column += cut
                return (String(line.text.dropFirst(cut)), at)
            }
        }
        var parts: [HCLExpression.TemplatePart] = []
        var text = String.UnicodeScalarView()
        for (line, location) in lines {
            var sub = HCLParser(c: TextCursor(file: c.file, text: line, at: location))
            while let s = sub.c.peek() {
                if try sub.templateMark(into: &parts, text: &text) { continue }
                text.append(s)
                sub.c.advance()
            }
            text.append("\n")
        }
        return Self.template(parts, text, at: start)
    }
}
