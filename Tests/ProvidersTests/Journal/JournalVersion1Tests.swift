import Foundation
import Model
import Providers
import Testing

/// Journals written before the header was a type (format version 1) are still read.
@Suite struct JournalVersion1Tests {
    /// A journal as the Kiln of format version 1 wrote it: the header as string attributes,
    /// the published digest as JSON inside a string.
    static let fixture = #"""
        {
          "attributes" : {
            "digest" : "sha256:2222222222222222222222222222222222222222222222222222222222222222",
            "generation" : "1",
            "published" : "{\"components\":[{\"digest\":\"aaaa\",\"files\":[],\"name\":\"source\"},{\"digest\":\"bbbb\",\"files\":[\"scripts\\/motd.sh\"],\"name\":\"provision[motd]\"}],\"value\":\"sha256:1111111111111111111111111111111111111111111111111111111111111111\"}",
            "run" : "0123456789"
          },
          "build" : "web",
          "entries" : [
            {
              "actionID" : "web/create-disk[os]",
              "phase" : {
                "kind" : "intent"
              },
              "recordedAt" : "2026-11-27T09:00:00.125Z",
              "resourceID" : "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/kiln-web-0123456789-os"
            },
            {
              "actionID" : "web/attach[os]",
              "phase" : {
                "kind" : "done",
                "result" : {
                  "device" : "/dev/sdc",
                  "lun" : "0"
                }
              },
              "recordedAt" : "2026-11-27T09:00:01.250Z"
            }
          ],
          "version" : 1
        }
        """#

    /// The digest inside the fixture's `published` attribute.
    static let published: BuildDigest = {
        let json =
            #"{"components": [{"digest": "aaaa", "files": [], "name": "source"},"#
            + #"{"digest": "bbbb", "files": ["scripts/motd.sh"], "name": "provision[motd]"}],"#
            + #""value": "sha256:1111111111111111111111111111111111111111111111111111111111111111"}"#
        return try! JSONDecoder().decode(BuildDigest.self, from: Data(json.utf8))
    }()

    @Test func aVersion1JournalReadsWithItsHeaderTyped() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try scratch.write("web.journal.json", Self.fixture)
        let journal = try await FileJournalStore(stateDirectory: scratch.path).load(build: "web")
        #expect(
            journal.header
                == JournalHeader(
                    run: "0123456789",
                    digest: "sha256:2222222222222222222222222222222222222222222222222222222222222222",
                    generation: 1, published: Self.published))
        #expect(journal.header.published?.components.map(\.name) == ["source", "provision[motd]"])
        #expect(journal.header.published?.components.last?.files == ["scripts/motd.sh"])
        #expect(journal.entries.map(\.actionID) == ["web/create-disk[os]", "web/attach[os]"])
        #expect(journal.latest(for: "web/attach[os]")?.phase == .done(result: ["device": "/dev/sdc", "lun": "0"]))
    }

    @Test func aVersion1JournalIsWrittenBackAsTheCurrentVersionWithNothingLost() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try scratch.write("web.journal.json", Self.fixture)
        let store = FileJournalStore(stateDirectory: scratch.path)
        let before = try await store.load(build: "web")
        try await store.append(JournalEntry(actionID: "web/device[os]", phase: .intent), build: "web")
        let data = try Data(contentsOf: URL(fileURLWithPath: store.journalPath(build: "web")))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(json["version"] as? Int == BuildJournal.currentVersion)
        #expect(json["attributes"] == nil)
        let header = try #require(json["header"] as? [String: Any])
        #expect(header["run"] as? String == "0123456789" && header["generation"] as? Int == 1)
        #expect((header["published"] as? [String: Any])?["value"] as? String == Self.published.value)
        let after = try await store.load(build: "web")
        #expect(after.header == before.header)
        #expect(after.entries.dropLast() == before.entries[...])
    }

    @Test func version1AttributesThatDoNotReadAreAbsent() throws {
        let text =
            #"{"version": 1, "build": "web", "attributes": {"generation": "many", "published": "{}", "other": "x"}}"#
        let journal = try JSONDecoder().decode(BuildJournal.self, from: Data(text.utf8))
        #expect(journal.header == JournalHeader())
        #expect(journal.version == BuildJournal.currentVersion)
    }
}
