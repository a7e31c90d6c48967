import Foundation
import Yams

/// Checks shared by the sections: names, ids, files, templates, unique outputs.
extension ManifestDecoder {
    // MARK: checks

    enum NameKind { case resourceGroup, gallery, imageDefinition }

    func checkName(_ text: Located<String>, path: String, kind: NameKind) {
        if text.value.contains("{{") {
            _ = template(text, path: path, allowed: ["BuildName"])
            return
        }
        let v = text.value
        let ascii = v.allSatisfy(\.isASCII)
        switch kind {
        case .resourceGroup:
            let ok =
                ascii && (1...90).contains(v.count) && !v.hasSuffix(".")
                && v.allSatisfy { $0.isLetter || $0.isNumber || "-_.()".contains($0) }
            if !ok {
                ctx.error(
                    text.node, "\(path) '\(v)' is not a valid resource group name",
                    fix: "use 1 to 90 letters, digits, - _ . ( ), not ending in a period")
            }
        case .gallery:
            let ok =
                ascii && (1...80).contains(v.count)
                && v.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }
                && !v.hasPrefix(".") && !v.hasSuffix(".")
            if !ok {
                ctx.error(
                    text.node, "\(path) '\(v)' is not a valid gallery name",
                    fix: "use 1 to 80 letters, digits, '_' and '.' (no hyphens), not starting or ending with '.'")
            }
        case .imageDefinition:
            let ok =
                ascii && (1...80).contains(v.count) && v.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) }
                && (v.first?.isLetter == true || v.first?.isNumber == true) && !v.hasSuffix(".") && !v.hasSuffix("-")
            if !ok {
                ctx.error(
                    text.node, "\(path) '\(v)' is not a valid image definition name",
                    fix: "use 1 to 80 letters, digits, '-', '_' and '.', starting with a letter or digit")
            }
        }
    }

    func checkGUIDOrTemplate(_ text: Located<String>, path: String, allowDomain: Bool = false) -> Bool {
        if text.value.contains("{{") { return template(text, path: path, allowed: []) != nil }
        if UUID(uuidString: text.value) != nil { return true }
        if allowDomain, text.value.contains("."),
            text.value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") })
        {
            return true
        }
        ctx.error(
            text.node, "\(path) '\(text.value)' is not a GUID\(allowDomain ? " or a domain" : "")",
            fix: "write it as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, or use {{env \"NAME\"}}")
        return false
    }

    func checkEnvName(_ text: Located<String>, path: String) -> Bool {
        let ok =
            text.value.first.map { $0.isLetter || $0 == "_" } == true
            && text.value.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
        if !ok {
            ctx.error(
                text.node, "\(path) '\(text.value)' is not an environment variable name",
                fix: "use letters, digits and _, e.g. AZURE_CLIENT_SECRET")
        }
        return ok
    }

    func checkURL(_ text: Located<String>, path: String) -> Bool {
        guard let url = URL(string: text.value), let scheme = url.scheme?.lowercased(),
            scheme == "https" || scheme == "http", url.host != nil
        else {
            ctx.error(
                text.node, "\(path) '\(text.value)' is not an http(s) URL",
                fix: "write a full URL such as https://example.com/path")
            return false
        }
        return true
    }

    func checkFile(_ text: Located<String>, path: String, directoryAllowed: Bool) -> Bool {
        let url =
            text.value.hasPrefix("/")
            ? URL(fileURLWithPath: text.value) : ctx.baseDirectory.appendingPathComponent(text.value)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            ctx.error(
                text.node, "\(path) '\(text.value)' does not exist (looked for \(url.standardizedFileURL.path))",
                fix: "paths are relative to the manifest's directory; create the file or fix the path")
            return false
        }
        if isDirectory.boolValue && !directoryAllowed {
            ctx.error(text.node, "\(path) '\(text.value)' is a directory, not a script", fix: "name the script file")
            return false
        }
        return true
    }

    /// Parses a template and reports a syntax error at its exact place.
    @discardableResult
    func template(_ text: Located<String>, path: String, allowed: Set<String>) -> Template? {
        let problems = Template.problems(in: text.value, allowed: allowed)
        for p in problems { report(p, in: text, path: path) }
        return problems.isEmpty ? try? Template(parsing: text.value, allowed: allowed) : nil
    }

    /// Checks every template of a list (not stopping at the first bad one).
    func templates(_ texts: [Located<String>], path: String, allowed: Set<String>) -> Bool {
        texts.map { template($0, path: path, allowed: allowed) != nil }.allSatisfy { $0 }
    }

    func report(_ error: TemplateError, in text: Located<String>, path: String) {
        let loc = location(of: error.offset, in: text)
        ctx.add(Diagnostic(.error, at: loc, "\(path): \(error.message)", fix: error.fix))
    }

    /// The line and column of a character offset inside a scalar, following the scalar's style.
    func location(of offset: Int, in text: Located<String>) -> SourceLocation {
        guard case .scalar(let s) = text.node, let mark = s.mark else { return ctx.location(text.node) }
        let prefix = text.value.unicodeScalars.prefix(offset)
        let newlines = prefix.filter { $0 == "\n" }.count
        let sinceNewline =
            prefix.count
            - (prefix.lastIndex(of: "\n").map { prefix.distance(from: prefix.startIndex, to: $0) + 1 } ?? 0)
        switch s.style {
        case .literal, .folded:
            let line = mark.line + 1 + newlines
            let indent = line - 1 < lines.count ? lines[line - 1].prefix(while: { $0 == " " }).count : 0
            return ctx.location(line: line, column: indent + sinceNewline + 1)
        case .singleQuoted, .doubleQuoted:
            return ctx.location(
                line: mark.line + newlines, column: newlines == 0 ? mark.column + 1 + offset : sinceNewline + 1)
        default:
            return ctx.location(
                line: mark.line + newlines, column: newlines == 0 ? mark.column + offset : sinceNewline + 1)
        }
    }

    /// Two builds publishing to the same image or gallery version would overwrite each other.
    func checkOutputsUnique(_ builds: [Located<Build>]) {
        var images: [String: String] = [:]
        var versions: [String: String] = [:]
        for located in builds {
            let (b, node) = (located.value, located.node)
            if let id = b.outputs.image?.id.lowercased() {
                if let other = images[id] {
                    ctx.error(
                        node, "builds '\(other)' and '\(b.name)' both publish the image \(b.outputs.image!.id)",
                        fix: "give each build its own outputs.image.id")
                } else {
                    images[id] = b.name
                }
            }
            if let g = b.outputs.gallery {
                let key = [g.subscription ?? "", g.resourceGroup, g.gallery, g.imageDefinition, g.version.description]
                    .joined(
                        separator: "/"
                    ).lowercased()
                if let other = versions[key] {
                    ctx.error(
                        node,
                        "builds '\(other)' and '\(b.name)' both publish \(g.gallery)/\(g.imageDefinition) version \(g.version)",
                        fix: g.version == .auto
                            ? "two builds choosing the next version of one definition would choose the same: give one a fixed version or its own definition"
                            : "give each build its own gallery version")
                } else {
                    versions[key] = b.name
                }
            }
        }
    }
}
