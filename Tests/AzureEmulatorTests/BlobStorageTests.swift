import Foundation
import Testing

@testable import AzureEmulator

/// Azure Blob Storage on the emulator: containers, block blobs, conditional requests, listing,
/// authentication and persistence, over real HTTP.
@Suite("Blob storage")
struct BlobStorageTests {
    @Test func containersAreCreatedOnceReadAndDeleted() async throws {
        try await withEmulator { h in
            let t = try await h.storageToken()
            let created = try await h.blob("PUT", "state?restype=container", token: t)
            #expect(created.status == 201)
            #expect(created.header("etag")?.hasPrefix("\"0x") == true)
            #expect(created.header("x-ms-version") == Harness.storageVersion)
            #expect(created.header("x-ms-request-id") != nil && created.header("date") != nil)
            let again = try await h.blob("PUT", "state?restype=container", token: t)
            #expect(again.status == 409 && again.storageErrorCode == "ContainerAlreadyExists")
            #expect(again.text.contains("<Code>ContainerAlreadyExists</Code>"))
            #expect(again.text.contains("RequestId:\(again.header("x-ms-request-id") ?? "?")\nTime:"))
            let props = try await h.blob("GET", "state?restype=container", token: t)
            #expect(props.status == 200 && props.header("etag") == created.header("etag"))
            // Any account name is served, each with its own containers.
            let other = try await h.blob("GET", "state?restype=container", token: t, account: "elsewhere")
            #expect(other.status == 404 && other.storageErrorCode == "ContainerNotFound")
            #expect(try await h.blob("DELETE", "state?restype=container", token: t).status == 202)
            let gone = try await h.blob("DELETE", "state?restype=container", token: t)
            #expect(gone.status == 404 && gone.storageErrorCode == "ContainerNotFound")
            let bad = try await h.blob("PUT", "Bad_Name?restype=container", token: t)
            #expect(bad.status == 400 && bad.storageErrorCode == "InvalidResourceName")
        }
    }

    @Test func blockBlobsArePutReadAndDeleted() async throws {
        try await withEmulator { h in
            let t = try await h.storageToken()
            _ = try await h.blob("PUT", "state?restype=container", token: t)
            let put = try await h.putBlob("state/runs/a.json", "{\"step\":1}", token: t)
            #expect(put.status == 201)
            let md5 = "/3gNdkGCxC2U5zSUUTeQow=="  // base64 MD5 of the content, computed outside Swift
            #expect(put.header("content-md5") == md5)
            let get = try await h.blob("GET", "state/runs/a.json", token: t)
            #expect(get.status == 200 && get.text == "{\"step\":1}")
            #expect(get.header("etag") == put.header("etag") && get.header("x-ms-blob-type") == "BlockBlob")
            #expect(get.header("x-ms-lease-state") == "available" && get.header("x-ms-lease-status") == "unlocked")
            let head = try await h.blob("HEAD", "state/runs/a.json", token: t)
            #expect(head.status == 200 && head.body.isEmpty && head.header("content-length") == "10")
            let range = try await h.blob("GET", "state/runs/a.json", token: t, headers: ["x-ms-range": "bytes=1-4"])
            #expect(range.status == 206 && range.text == "\"ste" && range.header("content-range") == "bytes 1-4/10")
            let wrongMD5 = try await h.putBlob("state/x", "abc", token: t, headers: ["Content-MD5": md5])
            #expect(wrongMD5.status == 400 && wrongMD5.storageErrorCode == "Md5Mismatch")
            let noType = try await h.blob("PUT", "state/x", token: t, body: Data("a".utf8))
            #expect(noType.status == 400 && noType.storageErrorCode == "MissingRequiredHeader")
            #expect(try await h.blob("DELETE", "state/runs/a.json", token: t).status == 202)
            let missing = try await h.blob("GET", "state/runs/a.json", token: t)
            #expect(missing.status == 404 && missing.storageErrorCode == "BlobNotFound")
            let headMissing = try await h.blob("HEAD", "state/runs/a.json", token: t)
            #expect(headMissing.status == 404 && headMissing.storageErrorCode == "BlobNotFound")
            let noContainer = try await h.putBlob("nothere/a", "x", token: t)
            #expect(noContainer.status == 404 && noContainer.storageErrorCode == "ContainerNotFound")
        }
    }

    @Test func aWriteRacingAStaleETagIsRefused() async throws {
        try await withEmulator { h in
            let t = try await h.storageToken()
            _ = try await h.blob("PUT", "state?restype=container", token: t)
            let first = try await h.putBlob("state/journal", "v1", token: t)
            let etag = try #require(first.header("etag"))
            // Two writers read v1; the first one's conditional write wins …
            let winner = try await h.putBlob("state/journal", "v2-a", token: t, headers: ["If-Match": etag])
            #expect(winner.status == 201 && winner.header("etag") != etag)
            // … and the second one's, on the stale ETag, is refused and changes nothing.
            let loser = try await h.putBlob("state/journal", "v2-b", token: t, headers: ["If-Match": etag])
            #expect(loser.status == 412 && loser.storageErrorCode == "ConditionNotMet")
            #expect(try await h.blob("GET", "state/journal", token: t).text == "v2-a")
            let staleDelete = try await h.blob("DELETE", "state/journal", token: t, headers: ["If-Match": etag])
            #expect(staleDelete.status == 412 && staleDelete.storageErrorCode == "ConditionNotMet")
            // Create-only writes.
            let exists = try await h.putBlob("state/journal", "x", token: t, headers: ["If-None-Match": "*"])
            #expect(exists.status == 409 && exists.storageErrorCode == "BlobAlreadyExists")
            #expect(try await h.putBlob("state/new", "x", token: t, headers: ["If-None-Match": "*"]).status == 201)
            let absent = try await h.putBlob("state/absent", "x", token: t, headers: ["If-Match": "*"])
            #expect(absent.status == 412 && absent.storageErrorCode == "ConditionNotMet")
            // A read whose ETag is current is 304 without a body.
            let current = try #require(winner.header("etag"))
            let cached = try await h.blob("GET", "state/journal", token: t, headers: ["If-None-Match": current])
            #expect(cached.status == 304 && cached.body.isEmpty)
            let stale = try await h.blob("GET", "state/journal", token: t, headers: ["If-Match": etag])
            #expect(stale.status == 412 && stale.storageErrorCode == "ConditionNotMet")
        }
    }

    @Test func listingPagesByPrefixWithMarkers() async throws {
        try await withEmulator { h in
            let t = try await h.storageToken()
            _ = try await h.blob("PUT", "state?restype=container", token: t)
            for name in ["runs/c", "runs/a", "other/z", "runs/b", "runs/d&e"] {
                try await h.putBlob("state/\(name)", name, token: t)
            }
            var names: [String] = []
            var marker = ""
            var pages = 0
            repeat {
                let q =
                    "state?restype=container&comp=list&prefix=runs/&maxresults=2"
                    + (marker.isEmpty ? "" : "&marker=\(h.pct(marker))")
                let r = try await h.blob("GET", q, token: t)
                #expect(
                    r.status == 200 && r.text.hasPrefix("<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults")
                )
                names += Self.elements("Name", in: r.text)
                marker = Self.elements("NextMarker", in: r.text).first ?? ""
                pages += 1
            } while !marker.isEmpty && pages < 10
            #expect(names == ["runs/a", "runs/b", "runs/c", "runs/d&amp;e"])
            #expect(pages == 2)
            let bad = try await h.blob("GET", "state?restype=container&comp=list&maxresults=0", token: t)
            #expect(bad.status == 400 && bad.storageErrorCode == "OutOfRangeQueryParameterValue")
        }
    }

    @Test func onlyStorageTokensWithAVersionAreServed() async throws {
        try await withEmulator { h in
            let storage = try await h.storageToken()
            let none = try await h.blob("PUT", "state?restype=container", token: nil)
            #expect(none.status == 401 && none.storageErrorCode == "NoAuthenticationInformation")
            // An ARM token (h.token) is for another audience.
            let arm = try await h.blob("PUT", "state?restype=container", token: h.token)
            #expect(arm.status == 401 && arm.storageErrorCode == "InvalidAuthenticationInfo")
            #expect(arm.text.contains("Audience validation failed"))
            #expect(arm.header("www-authenticate")?.contains("resource_id=https://storage.azure.com") == true)
            let forged = try await h.blob("PUT", "state?restype=container", token: storage + "x")
            #expect(forged.status == 401 && forged.storageErrorCode == "InvalidAuthenticationInfo")
            let noVersion = try await h.blob("PUT", "state?restype=container", token: storage, version: nil)
            #expect(noVersion.status == 400 && noVersion.storageErrorCode == "MissingRequiredHeader")
            // And a storage token is no good for ARM.
            let onARM = try await h.send(
                "GET", h.vmPath, headers: ["Authorization": "Bearer \(storage)"], auth: false)
            #expect(onARM.status == 401 && onARM.errorCode == "InvalidAuthenticationTokenAudience")
            let account = try await h.storageToken(scope: "https://kilnstate.blob.core.windows.net/.default")
            #expect(try await h.blob("PUT", "state?restype=container", token: account).status == 201)
        }
    }

    @Test func blobsAndLeasesSurviveARestart() async throws {
        let dir = Harness.freshDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try await Harness.start(stateDirectory: dir)
        let etag: String?
        let leaseID = "0f6c1c4e-0000-4000-8000-00000000abcd"
        do {
            let t = try await first.storageToken()
            _ = try await first.blob("PUT", "state?restype=container", token: t)
            etag = try await first.putBlob("state/journal", "kept", token: t).header("etag")
            _ = try await first.blob(
                "PUT", "state/journal?comp=lease", token: t,
                headers: [
                    "x-ms-lease-action": "acquire", "x-ms-lease-duration": "-1", "x-ms-proposed-lease-id": leaseID
                ])
        } catch {
            await first.stop(removeState: false)
            throw error
        }
        await first.stop(removeState: false)
        let second = try await Harness.start(stateDirectory: dir)
        do {
            let t = try await second.storageToken()
            let get = try await second.blob("GET", "state/journal", token: t)
            #expect(get.status == 200 && get.text == "kept" && get.header("etag") == etag)
            #expect(get.header("x-ms-lease-state") == "leased" && get.header("x-ms-lease-duration") == "infinite")
            let put = try await second.putBlob("state/journal", "new", token: t, headers: ["x-ms-lease-id": leaseID])
            #expect(put.status == 201 && put.header("etag") != etag)
        } catch {
            await second.stop(removeState: false)
            throw error
        }
        await second.stop(removeState: false)
    }

    static func elements(_ name: String, in xml: String) -> [String] {
        var out: [String] = []
        var rest = Substring(xml)
        while let open = rest.range(of: "<\(name)>"),
            let close = rest.range(of: "</\(name)>", range: open.upperBound..<rest.endIndex)
        {
            out.append(String(rest[open.upperBound..<close.lowerBound]))
            rest = rest[close.upperBound...]
        }
        return out
    }
}
