import Foundation
import Testing

@testable import AzureEmulator

/// Every list pages as ARM's do (`{"value": [...], "nextLink": …}`); a client follows
/// `nextLink` until a page has none.
@Suite("Paging")
struct PagingTests {
    @Test func aListComesInPagesLinkedByNextLinkWithItsQueryKept() async throws {
        try await withEmulator({ $0.pageSize = 2 }) { h in
            for n in 1...5 { try await h.createDisk("paged\(n)") }
            var names: [String] = []
            var pages = 0
            var next: String? = "\(h.compute)/disks?api-version=2024-03-02"
            while let url = next {
                let page = try await h.send("GET", url)
                #expect(page.status == 200)
                pages += 1
                let items = page.json?["value"]?.arrayValue ?? []
                #expect(items.count <= 2)
                names += items.compactMap { $0["name"]?.stringValue }
                next = page.json?["nextLink"]?.stringValue
                if let next { #expect(next.contains("api-version=2024-03-02") && next.contains("$skiptoken=")) }
            }
            #expect(pages == 3)
            #expect(names == (1...5).map { "paged\($0)" })
        }
    }

    @Test func aSkipTokenTheListNeverGaveIsRefused() async throws {
        try await withEmulator { h in
            let bad = try await h.send("GET", "\(h.compute)/disks?api-version=2024-03-02&$skiptoken=x")
            #expect(bad.status == 400)
            #expect(bad.json?.at("error", "code")?.stringValue == "InvalidSkipToken")
        }
    }
}
