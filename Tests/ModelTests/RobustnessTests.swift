import Foundation
import Model
import TestSupport
import Testing

/// No input makes validation crash or hang: each hostile file gets one clear, located error.
@Suite struct HostileInput {
    func load(bytes: [UInt8]) -> ManifestLoader.Result {
        ManifestLoader.parse(bytes: bytes, file: "bad.yaml", baseDirectory: URL(fileURLWithPath: "/tmp"))
    }

    @Test func emptyAndBlankFilesSayTheManifestIsEmpty() {
        for text in ["", "\n\n  \n", "# only a comment\n", "---\n", "~\n"] {
            let r = load(bytes: Array(text.utf8))
            #expect(r.errors.count == 1, "\(text.debugDescription): \(r.errors)")
            #expect(
                r.errors.first?.message.contains("empty") == true
                    || r.errors.first?.message.contains("must be a mapping") == true, "\(text.debugDescription)")
        }
    }

    @Test func oversizedFileIsRefusedBeforeParsing() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.url.appendingPathComponent("huge.yaml").path
        // 50 MB of plausible YAML, written sparsely fast: a long comment block.
        let chunk = Data(String(repeating: "# padding padding padding padding padding padding\n", count: 20_000).utf8)
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        for _ in 0..<(50_000_000 / chunk.count + 1) { handle.write(chunk) }
        try handle.close()
        let r = ManifestLoader.load(path: path, displayName: "huge.yaml")
        #expect(r.errors.count == 1)
        #expect(r.errors[0].description.hasPrefix("huge.yaml:1:1: error: the file is "))
    }

    @Test func deepFlowNestingIsRefused() {
        let r = load(bytes: Array(("builds: " + String(repeating: "[", count: 200_000)).utf8))
        #expect(r.errors.count == 1)
        #expect(r.errors[0].message.contains("nests deeper than Kiln accepts"))
        #expect(r.errors[0].location.line == 1)
    }

    @Test func deepBlockNestingIsRefused() {
        var text = "builds:\n"
        for depth in 0..<1200 { text += String(repeating: " ", count: depth) + "k\(depth):\n" }
        let r = load(bytes: Array(text.utf8))
        #expect(r.errors.count == 1)
        #expect(r.errors[0].message.contains("nests deeper than Kiln accepts"))
        let compact = load(bytes: Array(("builds:\n" + String(repeating: "- ", count: 100_000) + "x\n").utf8))
        #expect(compact.errors.first?.message.contains("nests deeper than Kiln accepts") == true)
    }

    @Test func billionLaughsIsRefused() {
        var text = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for i in 1...9 {
            text += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        text += "builds: *a9\n"
        let r = load(bytes: Array(text.utf8))
        #expect(r.errors.count == 1)
        #expect(r.errors[0].message.contains("YAML bomb"))
    }

    @Test func binaryGarbageIsCalledBinary() {
        var rng = SystemRandomNumberGenerator()
        var bytes = Array("builds:\n".utf8)
        bytes += (0..<4096).map { _ in UInt8.random(in: 0...255, using: &rng) }
        bytes[20] = 0x00
        let r = load(bytes: bytes)
        #expect(r.errors.count == 1)
        #expect(r.errors[0].message.contains("UTF-8") || r.errors[0].message.contains("control byte"))
        #expect(r.errors[0].location.line >= 2)
    }

    @Test func invalidUTF8IsLocated() {
        let r = load(bytes: Array("builds:\n  - name: caf".utf8) + [0xC3, 0x28] + Array("\n".utf8))
        #expect(r.errors.count == 1)
        #expect(r.errors[0].location.line == 2 && r.errors[0].location.column == 14)
        #expect(r.errors[0].message.contains("not valid UTF-8"))
    }

    @Test func manyErrorsAreCappedWithANote() {
        var text = "builds:\n"
        for i in 0..<400 { text += "  - nme\(i): x\n" }
        let r = load(bytes: Array(text.utf8))
        #expect(r.errors.count == 201)
        #expect(r.errors.last?.message.contains("more problems were found") == true)
    }

    @Test func randomMutationsOfTheQuickstartNeverCrashAndAlwaysLocate() throws {
        let original = try [UInt8](Data(contentsOf: Repository.manifests.appendingPathComponent("quickstart.yaml")))
        var rng = SeededRandom(seed: 42)
        for round in 0..<300 {
            var bytes = original
            switch round % 4 {
            case 0: bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &rng)))
            case 1: bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0x20...0x7E, using: &rng)
            case 2: bytes.remove(at: Int.random(in: 0..<bytes.count, using: &rng))
            default:
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                bytes.insert(contentsOf: Array(": - [ { ' \" * & ! | >".utf8).shuffled(using: &rng).prefix(3), at: i)
            }
            let r = ManifestLoader.parse(bytes: bytes, file: "m.yaml", baseDirectory: Repository.manifests)
            for d in r.diagnostics {
                #expect(d.location.line >= 1 && d.location.column >= 1)
                #expect(!d.message.isEmpty)
            }
            #expect(r.manifest != nil || !r.errors.isEmpty)
        }
    }
}
