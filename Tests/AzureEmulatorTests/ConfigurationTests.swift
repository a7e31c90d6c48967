import Foundation
import Testing

@testable import AzureEmulator

@Suite("Emulator configuration files")
struct ConfigurationTests {
    var repoRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    @Test func shippedFilesLoad() throws {
        let realistic = try EmulatorConfiguration.load(
            contentsOf: repoRoot.appendingPathComponent("emulator/latency-realistic.json"))
        #expect(realistic.latency.attach > 0)
        #expect(realistic.latency.versionPerRegion > realistic.latency.diskCreate)
        #expect(realistic.subscription == EmulatorConfiguration().subscription)
        let example = try EmulatorConfiguration.load(
            contentsOf: repoRoot.appendingPathComponent("emulator/example-config.json"))
        #expect(example.builderVM.name == "kiln-builder")
        #expect(example.platformImages.count == 4)
        #expect(example.platformImages.last?.architecture == .arm64)
        #expect(example.resourceGroups == ["kiln-images"])
        #expect(example.busybox.path(for: .arm64) == "/usr/local/lib/kiln/arm64/busybox")
        #expect(example.diskEncryptionSets == ["kiln-images/kiln-des"])
        #expect(example.latency.shallowReplicationFactor == 0.1)
    }

    @Test func busyboxPresetsAndTheShallowFactorAreChecked() throws {
        let decoder = JSONDecoder()
        #expect(BusyboxPaths().path(for: ImageArchitecture.host) == nil)
        #expect(
            BusyboxPaths().path(for: .arm64)
                == (ImageArchitecture.host == .arm64 ? nil : "/usr/local/lib/kiln/arm64/busybox"))
        #expect(throws: (any Error).self) {
            try decoder.decode(EmulatorConfiguration.self, from: Data(#"{"busybox": {"arm": "/x"}}"#.utf8))
        }
        #expect(throws: (any Error).self) {
            try decoder.decode(EmulatorConfiguration.self, from: Data(#"{"diskEncryptionSets": ["no-group"]}"#.utf8))
        }
        #expect(throws: (any Error).self) {
            try decoder.decode(
                EmulatorConfiguration.self,
                from: Data(
                    #"{"platformImages": [{"publisher": "p", "offer": "o", "sku": "s", "version": "1", "architecture": "riscv"}]}"#
                        .utf8))
        }
        #expect(throws: (any Error).self) {
            try decoder.decode(LatencyModel.self, from: Data(#"{"shallowReplicationFactor": 2}"#.utf8))
        }
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

    @Test func regionsReplicateSideBySideUnlessTheModelSaysOneAfterAnother() throws {
        let decoder = JSONDecoder()
        #expect(
            try decoder.decode(LatencyModel.self, from: Data(#"{"versionPerRegion": 9}"#.utf8)).replication
                == .concurrent)
        #expect(
            try decoder.decode(LatencyModel.self, from: Data(#"{"replication": "sequential"}"#.utf8)).replication
                == .sequential)
        #expect(throws: (any Error).self) {
            try decoder.decode(LatencyModel.self, from: Data(#"{"replication": "parallel"}"#.utf8))
        }

        let regions = ["westus", "eastus", "northeurope"]
        let side = ReplicationPlan(start: Date(), perRegion: 9, regions: regions, concurrent: true)
        #expect(regions.indices.map { side.window($0).ends } == [9, 9, 9])
        #expect(ReplicationPlan.duration(perRegion: 9, newRegions: 3, concurrent: true) == 9)
        let queue = ReplicationPlan(start: Date(), perRegion: 9, regions: regions, concurrent: false)
        #expect(regions.indices.map { queue.window($0).ends } == [9, 18, 27])
        #expect(ReplicationPlan.duration(perRegion: 9, newRegions: 3, concurrent: false) == 27)
        // A PATCH that adds a region: the kept ones are complete already.
        let added = ReplicationPlan(start: Date(), perRegion: 9, regions: regions, concurrent: true, completedBefore: 2)
        #expect(regions.indices.map { added.window($0).ends } == [0, 0, 9])
        #expect(ReplicationPlan.duration(perRegion: 9, newRegions: 0, concurrent: true) == 0)
    }
}
