import Foundation
import TestSupport

/// One generated broken (or accidentally valid) manifest.
struct MutationCase: Sendable {
    /// `<kind>-<source file>`: what was done to which example.
    var label: String
    var kind: ManifestMutator.Kind
    var bytes: [UInt8]
}

/// Generates mutations of an example manifest: each kind of damage a user, an editor or a
/// broken pipe can do to a YAML file, with seeded random parameters.
struct ManifestMutator {
    enum Kind: String, CaseIterable, Sendable {
        case truncate, wrongScalarType, blockToScalar, listItem, unknownKey, hugeValue, invalidUTF8,
            yamlBomb, deepNesting, duplicateKey, badTemplate, controlCharacters, byteFlip, lineEdit,
            aliasesAndTags, wholeFile, badNumber
    }

    var random: SeededRandom

    init(seed: UInt64) { random = SeededRandom(seed: seed) }

    /// `count` cases from `source` (the example's bytes), cycling through every kind so that
    /// even a small corpus has each of them.
    mutating func cases(from source: [UInt8], name: String, count: Int) -> [MutationCase] {
        var result: [MutationCase] = []
        for i in 0..<count {
            let kind = Kind.allCases[i % Kind.allCases.count]
            result.append(MutationCase(label: "\(kind.rawValue)-\(name)", kind: kind, bytes: mutate(source, kind)))
        }
        return result
    }

    // MARK: Pools

    static let wrongValues = [
        "[1, 2]", "{a: b}", "42", "-1", "3.14", "true", "null", "~", "\"\"", "''", "[]", "{}", "!!binary aGVsbG8=",
        "1e400", ".nan", "-.inf", "0x7fffffffffffffffffff", "|\n  multi\n  line", ">-", "&anchor value", "*nope",
        "? complex",
        "@reserved", "`backtick", "%percent", "\"unterminated", "'unterminated", "- a", ": x", "{{vm \"name\"}}", "{{",
        "}}", "[unclosed", "{unclosed: 1", "\"\\u0000\"", "\"\\xFF\"", "!!int notanumber", "!custom tag", "<<: *x",
        "yes", "no", "on", "off", "0o777", "1_000", "2026-11-27", "12:30:00", "\"sp ace\"", "-", "?", "|", ">"
    ]
    static let badTemplates = [
        "{{vm \"nope\"}}", "{{.Nope}}", "{{env}}", "{{", "{{ .BuildName", "}}", "{{vm}}", "{{quote}}",
        "{{vm \"name\" \"x\"}}", "{{ if .X }}y{{ end }}", "{{.Device}}", "{{env \"A\" | quote}}", "{{\"unterminated}}",
        "{{/* comment */}}", "{{-}}", "{{ . }}", "{{..BuildName}}", "{{vm 1}}", "{{quote .Command}}",
        "{{ range . }}{{ end }}",
        "{{vm \"name\"}}{{", "{{{{}}}}", "{{env \"\\\"\"}}", "{{.MountPath}}{{.MountPath", "{{ printf \"%s\" 1 }}"
    ]
    static let unknownKeys = [
        "unknownKey: 1", "sorce: {}", "client_secret: hunter2", "image_resource_id: x", "os_disk_size_gb: 30",
        "Name: x", "builds2: []", "\"quoted key\": 1", "? [complex, key]\n: 1", "\"\": empty", "k\u{00e9}y: 1",
        "mount_options: [a]", "shared_image_destination: {}", "clientSecret: abc", "x-extension: 1"
    ]
    static let badNumbers = [
        "0", "-1", "99999999999999999999999999", "1.5", "0x10", ".inf", ".nan", "1e9", "-0", "+5", "0b101", "\"30\"",
        "9223372036854775807", "9223372036854775808", "-9223372036854775809", "1__0", "07", "08"
    ]

    // MARK: Mutations

    private mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &random) }
    private mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }

    private static func lines(_ bytes: [UInt8]) -> [[UInt8]] {
        bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
    }
    private static func join(_ lines: [[UInt8]]) -> [UInt8] { Array(lines.joined(separator: [UInt8(ascii: "\n")])) }
    private static func indent(_ line: [UInt8]) -> Int { line.prefix { $0 == UInt8(ascii: " ") }.count }
    private static func isComment(_ line: [UInt8]) -> Bool {
        line.drop { $0 == UInt8(ascii: " ") }.first == UInt8(ascii: "#")
    }

    /// Indexes of lines `key: value` (a non-empty value), `key:` (a block follows) and `- item`.
    private static func keyValueLines(_ ls: [[UInt8]]) -> [Int] {
        ls.indices.filter { i in
            let s = String(decoding: ls[i], as: UTF8.self)
            return !isComment(ls[i]) && s.range(of: #"^\s*(- )?[A-Za-z_]+: \S"#, options: .regularExpression) != nil
        }
    }
    private static func blockKeyLines(_ ls: [[UInt8]]) -> [Int] {
        ls.indices.filter { i in
            String(decoding: ls[i], as: UTF8.self).range(of: #"^\s*(- )?[A-Za-z_]+:\s*$"#, options: .regularExpression)
                != nil
        }
    }
    private static func listItemLines(_ ls: [[UInt8]]) -> [Int] {
        ls.indices.filter {
            String(decoding: ls[$0], as: UTF8.self).range(of: #"^\s*- "#, options: .regularExpression) != nil
        }
    }

    /// Replaces the value of line `i` (`key: value`) with `value`.
    private static func replacingValue(_ line: [UInt8], with value: String) -> [UInt8] {
        let s = String(decoding: line, as: UTF8.self)
        guard let r = s.range(of: ": ") else { return line }
        return Array((s[..<r.upperBound] + value).utf8)
    }

    private mutating func mutate(_ source: [UInt8], _ kind: Kind) -> [UInt8] {
        var ls = Self.lines(source)
        let kv = Self.keyValueLines(ls)
        switch kind {
        case .truncate:
            return Array(source.prefix(int(0...max(0, source.count - 1))))
        case .wrongScalarType:
            guard let i = kv.isEmpty ? nil : pick(kv) else { return source }
            ls[i] = Self.replacingValue(ls[i], with: pick(Self.wrongValues))
        case .blockToScalar:
            let blocks = Self.blockKeyLines(ls)
            guard !blocks.isEmpty else { return source }
            let i = pick(blocks)
            ls[i] += Array((" " + pick(Self.wrongValues)).utf8)
        case .listItem:
            let items = Self.listItemLines(ls)
            guard !items.isEmpty else { return source }
            let i = pick(items)
            let s = String(decoding: ls[i], as: UTF8.self)
            let pad = String(repeating: " ", count: Self.indent(ls[i]))
            switch int(0...3) {
            case 0: ls[i] = Array((pad + "- " + pick(Self.wrongValues)).utf8)
            case 1:
                ls[i] = Array(s.replacingOccurrences(of: "- ", with: "", options: [], range: s.range(of: "- ")).utf8)
            case 2: ls[i] = Array((pad + "- - - " + s.trimmingCharacters(in: .whitespaces).dropFirst(2)).utf8)
            default: ls.insert(Array((pad + "-").utf8), at: i)
            }
        case .unknownKey:
            guard let i = kv.isEmpty ? nil : pick(kv) else { return source }
            var pad = Self.indent(ls[i])
            if String(decoding: ls[i], as: UTF8.self).dropFirst(pad).hasPrefix("- ") { pad += 2 }
            let key = pick(Self.unknownKeys).replacingOccurrences(
                of: "\n", with: "\n" + String(repeating: " ", count: pad))
            ls.insert(Array((String(repeating: " ", count: pad) + key).utf8), at: i + 1)
        case .hugeValue:
            guard let i = kv.isEmpty ? nil : pick(kv) else { return source }
            let value: String
            switch int(0...5) {
            case 0: value = String(repeating: "A", count: int(10_000...300_000))
            case 1: value = String(repeating: "9", count: int(30...5_000))
            case 2: value = "\"" + String(repeating: "\\u00e9", count: int(1_000...50_000)) + "\""
            case 3: value = "[" + Array(repeating: "x", count: int(1_000...100_000)).joined(separator: ", ") + "]"
            case 4: value = String(repeating: "{{.BuildName}}", count: int(100...20_000))
            default: value = String(repeating: "B", count: 1_100_000)  // past the 1 MiB file limit
            }
            ls[i] = Self.replacingValue(ls[i], with: value)
        case .invalidUTF8:
            let sequences: [[UInt8]] = [
                [0xFF], [0xFE, 0xFF], [0xC3, 0x28], [0xE2, 0x82], [0xED, 0xA0, 0x80], [0xC0, 0xAF],
                [0xF8, 0x88, 0x80, 0x80, 0x80], [0xF4, 0x90, 0x80, 0x80], [0x80], [0xEF, 0xBF]
            ]
            var bytes = source
            for _ in 0..<int(1...3) { bytes.insert(contentsOf: pick(sequences), at: int(0...bytes.count)) }
            return bytes
        case .yamlBomb:
            let levels = int(3...12)
            let width = int(2...10)
            var bomb = "lol0: &l0 [\"lol\"]\n"
            for l in 1...levels {
                bomb +=
                    "lol\(l): &l\(l) [" + Array(repeating: "*l\(l - 1)", count: width).joined(separator: ", ") + "]\n"
            }
            if int(0...1) == 0 {
                return Array(bomb.utf8) + source
            }
            // Anchors inside the document, the bomb used as a build's value.
            guard let i = kv.isEmpty ? nil : pick(kv) else { return source }
            ls[i] = Self.replacingValue(
                ls[i], with: "&top [\(Array(repeating: "[*top]", count: 2).joined(separator: ", "))]")
            return Array(bomb.utf8) + Self.join(ls)
        case .deepNesting:
            guard let i = kv.isEmpty ? nil : pick(kv) else { return source }
            let depth = int(20...20_000)
            switch int(0...2) {
            case 0:
                ls[i] = Self.replacingValue(
                    ls[i], with: String(repeating: "[", count: depth) + String(repeating: "]", count: depth))
            case 1:
                ls[i] = Self.replacingValue(
                    ls[i], with: String(repeating: "{a: ", count: depth) + String(repeating: "}", count: depth))
            default:
                let pad = Self.indent(ls[i]) + 2
                let block = (0..<min(depth, 2_000)).map { String(repeating: " ", count: pad + $0) + "k\($0):" }
                ls.insert(contentsOf: block.map { Array($0.utf8) }, at: i + 1)
            }
        case .duplicateKey:
            guard let i = kv.isEmpty ? nil : pick(kv) else { return source }
            ls.insert(ls[i], at: i + 1)
        case .badTemplate:
            let templated = ls.indices.filter { ls[$0].contains(UInt8(ascii: "{")) && !Self.isComment(ls[$0]) }
            let candidates = templated.isEmpty ? kv : templated
            guard !candidates.isEmpty else { return source }
            let i = pick(candidates)
            let s = String(decoding: ls[i], as: UTF8.self)
            switch int(0...3) {
            case 0: ls[i] = Array(s.replacingOccurrences(of: "}}", with: "").utf8)
            case 1: ls[i] = Array(s.replacingOccurrences(of: "{{", with: pick(Self.badTemplates)).utf8)
            case 2:
                let depth = int(50...5_000)
                ls[i] = Self.replacingValue(
                    ls[i],
                    with: "'" + String(repeating: "{{quote (", count: 1) + String(repeating: "quote (", count: depth)
                        + ".BuildName" + String(repeating: ")", count: depth + 1) + "}}'")
            default: ls[i] = Self.replacingValue(ls[i], with: "'" + pick(Self.badTemplates) + "'")
            }
        case .controlCharacters:
            let inserts: [[UInt8]] = [
                [0x00], [0x07], [0x09], [0x0D], [0xEF, 0xBB, 0xBF], [0x1B, 0x5B, 0x32, 0x4A], [0x0C], [0x7F],
                Array("\u{2028}".utf8), Array("\u{FEFF}".utf8), Array("\u{85}".utf8)
            ]
            var bytes = source
            for _ in 0..<int(1...4) { bytes.insert(contentsOf: pick(inserts), at: int(0...bytes.count)) }
            if int(0...3) == 0 {
                bytes = Array(String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "  ", with: "\t").utf8)
            }
            return bytes
        case .byteFlip:
            var bytes = source
            for _ in 0..<int(1...8) where !bytes.isEmpty {
                let at = int(0...(bytes.count - 1))
                bytes[at] ^= UInt8(int(1...255))
            }
            return bytes
        case .lineEdit:
            guard ls.count > 2 else { return source }
            for _ in 0..<int(1...3) {
                let i = int(0...(ls.count - 1))
                let j = int(0...(ls.count - 1))
                switch int(0...4) {
                case 0: ls.remove(at: i)
                case 1: ls.insert(ls[i], at: j)
                case 2: ls.swapAt(i, j)
                case 3: ls[i] = [UInt8](repeating: UInt8(ascii: " "), count: int(1...3)) + ls[i]
                default: ls[i] = Array(ls[i].drop { $0 == UInt8(ascii: " ") })
                }
                if ls.isEmpty { break }
            }
        case .aliasesAndTags:
            guard let i = kv.isEmpty ? nil : pick(kv) else { return source }
            let forms = [
                "*undefined", "&a *a", "!!binary AAAA", "!!python/object:os.system x", "!local tag", "!!map {}",
                "!!seq []",
                "!!str", "!<tag:yaml.org,2002:str> x", "&a [*a]", "!!timestamp x", "!!float abc", "!!null x"
            ]
            if int(0...2) == 0 {
                var pad = Self.indent(ls[i])
                if String(decoding: ls[i], as: UTF8.self).dropFirst(pad).hasPrefix("- ") { pad += 2 }
                ls.insert(
                    Array(
                        (String(repeating: " ", count: pad)
                            + pick(["<<: *nope", "<<: [1, 2]", "<<: scalar", "<<: {a: 1}"])).utf8), at: i + 1)
            } else {
                ls[i] = Self.replacingValue(ls[i], with: pick(forms))
            }
        case .wholeFile:
            let text = String(decoding: source, as: UTF8.self)
            let forms = [
                "", " \n\t\n", "---\n---\n", text + "\n---\n" + text, "...\n", "# only a comment\n", "{\"builds\": 3}",
                "null",
                "[]", "builds:", "builds: []", "builds: [{}]", "--- !!binary\n", String(repeating: "\n", count: 10_000),
                "%YAML 1.1\n" + text,
                "%YAML 9.9\n---\n" + text, "%TAG ! tag:x,2026:\n---\n" + text, "\u{FEFF}" + text, text.uppercased()
            ]
            return Array(pick(forms).utf8)
        case .badNumber:
            let numeric = ls.indices.filter {
                String(decoding: ls[$0], as: UTF8.self).range(
                    of: #"(sizeGB|replicas|lun|partition|timeout|version|mode):"#, options: .regularExpression) != nil
            }
            if let i = numeric.isEmpty ? nil : pick(numeric), String(decoding: ls[i], as: UTF8.self).contains(": ") {
                ls[i] = Self.replacingValue(ls[i], with: pick(Self.badNumbers))
            } else {
                // No numeric field in this example: give the first build a disk with a bad size.
                guard let b = ls.firstIndex(where: { String(decoding: $0, as: UTF8.self).contains("- name:") }) else {
                    return source
                }
                let pad = String(repeating: " ", count: Self.indent(ls[b]) + 2)
                ls.insert(Array((pad + "disk: {sizeGB: \(pick(Self.badNumbers))}").utf8), at: b + 1)
            }
        }
        return Self.join(ls)
    }
}
