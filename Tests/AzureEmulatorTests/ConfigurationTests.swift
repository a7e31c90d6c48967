import Foundation
import Testing
@testable import AzureEmulator

@Suite("Emulator configuration files")
struct ConfigurationTests {
    var repoRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    @Test func shippedFilesLoad() throws {
        let realistic = try EmulatorConfiguration.load(contentsOf: repoRoot.appendingPathComponent("emulator/latency-realistic.json"))
        #expect(realistic.latency.attach > 0)
        #expect(realistic.latency.versionPerRegion > realistic.latency.diskCreate)
        #expect(realistic.subscription == EmulatorConfiguration().subscription)
        let example = try EmulatorConfiguration.load(contentsOf: repoRoot.appendingPathComponent("emulator/example-config.json"))
        #expect(example.builderVM.name == "kiln-builder")
        #expect(example.platformImages.count == 3)
        #expect(example.resourceGroups == ["kiln-images"])
    }

    @Test func emptyObjectIsTheDefaultAndTyposAreRejected() throws {
        let dir = Harness.freshDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let empty = dir.appendingPathComponent("empty.json")
        try Data("{}".utf8).write(to: empty)
        #expect(try EmulatorConfiguration.load(contentsOf: empty) == EmulatorConfiguration())
        let typo = dir.appendingPathComponent("typo.json")
        try Data(#"{"builderVM": {"maxDataDisk": 2}}"#.utf8).write(to: typo)
        #expect {
            _ = try EmulatorConfiguration.load(contentsOf: typo)
        } throws: { error in
            String(describing: error).contains("maxDataDisk") && String(describing: error).contains(typo.path)
        }
        let badFault = dir.appendingPathComponent("fault.json")
        try Data(#"{"faults": [{"kind": "explode"}]}"#.utf8).write(to: badFault)
        #expect(throws: (any Error).self) { _ = try EmulatorConfiguration.load(contentsOf: badFault) }
    }
}
