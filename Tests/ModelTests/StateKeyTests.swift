import Foundation
import Model
import TestSupport
import Testing

/// `state:`: the journals in the state directory (default) or in Azure Blob Storage, each
/// mistake an error at its line and column with the fix.
@Suite struct StateKeyTests {
    func manifest(_ state: [String]) -> String {
        (state.isEmpty ? "" : "state:\n" + state.map { "  \($0)\n" }.joined())
            + """
            builds:
              - name: web
                source:
                  platformImage: Canonical:ubuntu-24_04-lts:server:latest
                provision:
                  - shell: [echo hi]
                outputs:
                  image:
                    id: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/images/web
            """
    }

    @Test func theDefaultIsLocal() throws {
        #expect(try loadManifest(manifest([])).manifest?.state == .local)
    }

    @Test func azureBlobIsReadAndPrintedBack() throws {
        let r = try loadManifest(
            manifest(["azureBlob: {account: kilnstate, container: image-journals, prefix: /teams/web/}"]))
        let state = try #require(r.manifest?.state.azureBlob)
        #expect(state.account.value == "kilnstate" && state.container.value == "image-journals")
        #expect(state.prefix.value == "teams/web")
        #expect(state.journalBlob(build: "web") == "teams/web/web.journal.json")
        let printed = try #require(try r.manifest?.defaultedYAML())
        #expect(printed.contains("azureBlob:") && printed.contains("prefix: teams/web"))
        // No prefix: blobs at the container's root.
        let bare = try loadManifest(manifest(["azureBlob: {account: kilnstate, container: journals}"]))
        #expect(bare.manifest?.state.azureBlob?.journalBlob(build: "web") == "web.journal.json")
    }

    @Test(arguments: [
        (["azureBlob: {account: Kiln_State, container: journals}"], 2, "3 to 24 lower-case letters and digits"),
        (["azureBlob: {account: kilnstate, container: Journals--x}"], 2, "single hyphens"),
        (["azureBlob: {account: kilnstate, container: journals, prefix: a/../b}"], 2, "path segments"),
        (["azureBlob: {container: journals}"], 2, "account"),
        (["azureBlob: {account: kilnstate, container: journals, lease: 30}"], 2, "lease"),
        (["local: true"], 2, "local"),
        (["azureBlob: kilnstate"], 2, "azureBlob")
    ])
    func mistakesAreErrorsAtTheirPlace(state: [String], line: Int, text: String) throws {
        let r = try loadManifest(manifest(state))
        #expect(r.manifest == nil)
        #expect(
            r.errors.contains { $0.location.line == line && $0.description.contains(text) },
            "\(r.errors.map { "\($0.location.line): \($0.description)" })")
    }

    @Test func theStateLocationIsNotPartOfTheDigest() throws {
        let local = try #require(try loadManifest(manifest([])).manifest)
        let remote = try #require(
            try loadManifest(manifest(["azureBlob: {account: kilnstate, container: journals}"])).manifest)
        #expect(try local.digests() == remote.digests())
    }
}
