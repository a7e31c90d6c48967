import Foundation
import Testing

@testable import AzureEmulator

/// What the Azure CLI needs that Kiln does not ask for, answered as ARM does (issue 14: `az
/// resource list -g G` and `az resource show --ids` failed on the emulator).
@Suite("Azure CLI shapes")
struct AzureCLIShapesTests {
    @Test func theSubscriptionsResourceListTakesAResourceGroupFilter() async throws {
        try await withEmulator({ $0.resourceGroups = ["other-rg"] }) { h in
            try await h.createDisk("in-kiln-rg")
            let filter = "resourceGroup eq '\(h.rg)'".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            var names: [String] = []
            var next: String? = "/subscriptions/\(h.sub)/resources?api-version=2021-04-01&$filter=\(filter)"
            while let url = next {
                let page = try await h.send("GET", url)
                #expect(page.status == 200, "\(page.json as Any)")
                names += (page.json?["value"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
                next = page.json?["nextLink"]?.stringValue
            }
            #expect(names.contains("in-kiln-rg"))
            let elsewhere = "resourceGroup eq 'other-rg'".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let none = try await h.send(
                "GET", "/subscriptions/\(h.sub)/resources?api-version=2021-04-01&$filter=\(elsewhere)")
            #expect(none.json?["value"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test func theComputeProviderListsItsResourceTypesWithTheirApiVersions() async throws {
        try await withEmulator { h in
            let provider = try await h.send(
                "GET", "/subscriptions/\(h.sub)/providers/Microsoft.Compute?api-version=2021-04-01")
            #expect(provider.status == 200)
            let types = provider.json?["resourceTypes"]?.arrayValue ?? []
            let disks = try #require(types.first { $0["resourceType"]?.stringValue == "disks" })
            let versions = disks["apiVersions"]?.arrayValue?.compactMap(\.stringValue) ?? []
            #expect(versions.contains("2024-03-02"))
            #expect(versions == versions.sorted(by: >))
            #expect(types.contains { $0["resourceType"]?.stringValue == "galleries/images/versions" })
        }
    }
}
