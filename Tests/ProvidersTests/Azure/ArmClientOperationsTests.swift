import Foundation
import Model
import Synchronization
import Testing

@testable import Providers

@Suite struct ArmClientOperationsTests {
    let location =
        "https://arm.test/subscriptions/s/providers/Microsoft.Compute/locations/westus/operations/att?monitor=true&api-version=2024-07-01"
    let dataDisk = AzureFixtures.id("disks/kiln-data")

    func vmBody(luns: [Int], etag: String? = "\"7\"") -> String {
        let disks = luns.map {
            #"{"lun":\#($0),"name":"d\#($0)","createOption":"Attach","managedDisk":{"id":"/subscriptions/\#(AzureFixtures.subscription)/resourceGroups/rg/providers/Microsoft.Compute/disks/d\#($0)"}}"#
        }
        let tag = etag.map { #""etag":"\#($0.replacingOccurrences(of: "\"", with: "\\\""))","# } ?? ""
        return
            #"{"name":"builder",\#(tag)"properties":{"hardwareProfile":{"vmSize":"Standard_D2s_v5"},"storageProfile":{"dataDisks":[\#(disks.joined(separator: ","))]}}}"#
    }

    @Test func lowestFreeLUNStartsAtZeroAndRespectsTheLimit() {
        #expect(ArmClient.lowestFreeLUN(used: [], maxDataDisks: 4) == 0)
        #expect(ArmClient.lowestFreeLUN(used: [0, 1, 3], maxDataDisks: 4) == 2)
        #expect(ArmClient.lowestFreeLUN(used: [1, 2], maxDataDisks: 4) == 0)
        #expect(ArmClient.lowestFreeLUN(used: [0, 1, 2, 3], maxDataDisks: 4) == nil)
        #expect(ArmClient.lowestFreeLUN(used: [0, 5], maxDataDisks: 2) == nil)
    }

    @Test func attachUsesAttachDetachDataDisksAtTheLowestFreeLUNAndWaits() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.get, "virtualMachines/builder?", json: (200, vmBody(luns: [1]), [:]))
        await t.on(
            .post, "attachDetachDataDisks",
            json: (202, "", AzureFixtures.headers(("Location", location), ("Retry-After", "1"))))
        await t.on(.get, "operations/att", json: (202, "", [:]), (200, #"{"dataDisks":[{"lun":0},{"lun":1}]}"#, [:]))
        let client = AzureFixtures.client(t)
        let handles = Mutex<[OperationHandle]>([])
        let lun = try await client.attachDataDisk(
            dataDisk, to: AzureFixtures.vm, maxDataDisks: 4, lock: InProcessLUNLock(), timeout: .seconds(600),
            onStarted: { handle in handles.withLock { $0.append(handle) } })
        #expect(lun == 0)
        let post = try #require(await t.requests(.post, containing: "attachDetachDataDisks").first)
        #expect(post.url.absoluteString.contains("api-version=2024-07-01"))
        let body = AzureFixtures.bodyJSON(post)
        let attach = try #require((body["dataDisksToAttach"] as? [[String: Any]])?.first)
        #expect(attach["lun"] as? Int == 0)
        #expect(attach["diskId"] as? String == dataDisk.description)
        #expect(body["dataDisksToDetach"] == nil)
        #expect(handles.withLock { $0.first?.locationURL?.absoluteString } == location)
        #expect(await t.requests(.get, containing: "operations/att").count == 2)
    }

    @Test func severalDisksGoInOneRequestAtTheLowestFreeLUNsAndAnAttachedOneIsAdopted() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.get, "virtualMachines/builder?", json: (200, vmBody(luns: [1]), [:]))
        await t.on(
            .post, "attachDetachDataDisks",
            json: (202, "", AzureFixtures.headers(("Location", location), ("Retry-After", "1"))))
        await t.on(.get, "operations/att", json: (200, #"{"dataDisks":[]}"#, [:]))
        let client = AzureFixtures.client(t)
        let disks = [AzureFixtures.id("disks/a"), AzureFixtures.id("disks/d1"), AzureFixtures.id("disks/b")]
        let luns = try await client.attachDataDisks(
            disks.map { DataDiskAttachment(disk: $0, caching: "ReadOnly") }, to: AzureFixtures.vm,
            maxDataDisks: 8, lock: InProcessLUNLock(), timeout: .seconds(60))
        #expect(luns == [0, 1, 2])
        let posts = await t.requests(.post, containing: "attachDetachDataDisks")
        #expect(posts.count == 1)
        let post = try #require(posts.first)
        let attach = try #require(AzureFixtures.bodyJSON(post)["dataDisksToAttach"] as? [[String: Any]])
        #expect(attach.map { $0["lun"] as? Int } == [0, 2])
        #expect(attach.map { ($0["diskId"] as? String)?.split(separator: "/").last.map(String.init) } == ["a", "b"])
        #expect(attach.allSatisfy { $0["caching"] as? String == "ReadOnly" })
    }

    @Test func aBatchThatDoesNotFitIsRefusedWholeBeforeAnyRequest() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.get, "virtualMachines/builder?", json: (200, vmBody(luns: [0, 1]), [:]))
        let error = try await #require(throws: ArmError.self) {
            try await AzureFixtures.client(t).attachDataDisks(
                [
                    DataDiskAttachment(disk: AzureFixtures.id("disks/a")),
                    DataDiskAttachment(disk: AzureFixtures.id("disks/b"))
                ],
                to: AzureFixtures.vm, maxDataDisks: 3, lock: InProcessLUNLock(), timeout: .seconds(60))
        }
        #expect(error.code == "MaxDataDisksReached")
        #expect(error.description.contains("2 more were asked for"))
        #expect(await t.requests(.post, containing: "").isEmpty)
    }

    @Test func aBatchFallsBackToOnePatchWithEveryNewDisk() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.get, "virtualMachines/builder?", json: (200, vmBody(luns: [0]), [:]))
        await t.on(
            .patch, "virtualMachines/builder?",
            json: (
                200, #"{"properties":{"provisioningState":"Updating"}}"#,
                AzureFixtures.headers(("Azure-AsyncOperation", "https://arm.test/op/patch?api-version=2023-03-01"))
            ))
        await t.on(.get, "/op/patch", json: (200, #"{"status":"Succeeded"}"#, [:]))
        let client = AzureFixtures.client(t, apiVersions: ArmAPIVersions(compute: "2023-09-01"))
        let luns = try await client.attachDataDisks(
            [
                DataDiskAttachment(disk: AzureFixtures.id("disks/a")),
                DataDiskAttachment(disk: AzureFixtures.id("disks/b"))
            ],
            to: AzureFixtures.vm, maxDataDisks: 8, lock: InProcessLUNLock(), timeout: .seconds(60))
        #expect(luns == [1, 2])
        let patches = await t.requests(.patch, containing: "virtualMachines/builder")
        #expect(patches.count == 1)
        let patch = try #require(patches.first)
        let disks = try #require(
            ((AzureFixtures.bodyJSON(patch)["properties"] as? [String: Any])?["storageProfile"] as? [String: Any])?[
                "dataDisks"] as? [[String: Any]])
        #expect(disks.map { $0["lun"] as? Int } == [0, 1, 2])
    }

    @Test func aConcurrentUpdateOfTheVMIsWaitedOutForAttachAndDetach() async throws {
        let conflict =
            #"{"error":{"code":"Conflict","message":"The request failed due to conflict with a concurrent request."}}"#
        let t = ScriptedHTTPTransport()
        await t.on(.get, "virtualMachines/builder?", json: (200, vmBody(luns: [0]), [:]))
        await t.on(
            .post, "attachDetachDataDisks", json: (409, conflict, [:]),
            (202, "", AzureFixtures.headers(("Location", location))),
            (409, conflict, [:]), (202, "", AzureFixtures.headers(("Location", location))))
        await t.on(.get, "operations/att", json: (200, #"{"dataDisks":[]}"#, [:]))
        let client = AzureFixtures.client(t)
        // Attach: the 409 is waited out (the VM read again), then the request goes through.
        #expect(
            try await client.attachDataDisk(
                dataDisk, to: AzureFixtures.vm, maxDataDisks: 4, lock: InProcessLUNLock(), timeout: .seconds(60)) == 1)
        #expect(await t.requests(.post, containing: "attachDetachDataDisks").count == 2)
        #expect(await t.requests(.get, containing: "virtualMachines/builder?").count == 2)
        // Detach of the disk at LUN 0, likewise.
        try await client.detachDataDisk(AzureFixtures.id("disks/d0"), from: AzureFixtures.vm, timeout: .seconds(60))
        #expect(await t.requests(.post, containing: "attachDetachDataDisks").count == 4)
    }

    @Test func anotherConflictIsNotRetried() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.get, "virtualMachines/builder?", json: (200, vmBody(luns: []), [:]))
        await t.on(
            .post, "attachDetachDataDisks",
            json: (
                409,
                #"{"error":{"code":"ConflictingUserInput","message":"Disk 'x' cannot be attached as the disk is already owned by VM 'other'."}}"#,
                [:]
            ))
        let error = try await #require(throws: ArmError.self) {
            try await AzureFixtures.client(t).attachDataDisk(
                dataDisk, to: AzureFixtures.vm, maxDataDisks: 4, lock: InProcessLUNLock(), timeout: .seconds(60))
        }
        #expect(error.code == "ConflictingUserInput")
        #expect(await t.requests(.post, containing: "attachDetachDataDisks").count == 1)
    }

    @Test func attachesAndDetachesGoInOneRequestAndADetachInUseRefusesTheBatch() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.get, "virtualMachines/builder?", json: (200, vmBody(luns: [0, 1]), [:]))
        await t.on(.post, "attachDetachDataDisks", json: (202, "", AzureFixtures.headers(("Location", location))))
        await t.on(.get, "operations/att", json: (200, #"{"dataDisks":[]}"#, [:]))
        let client = AzureFixtures.client(t)
        let changes: [DataDiskChange] = [
            .detach(AzureFixtures.id("disks/d1")), .attach(DataDiskAttachment(disk: AzureFixtures.id("disks/new"))),
            .detach(AzureFixtures.id("disks/gone"))
        ]
        let checked = CheckedLUNs()
        let luns = try await client.updateDataDisks(
            changes, on: AzureFixtures.vm, maxDataDisks: 8, lock: InProcessLUNLock(), timeout: .seconds(60),
            ensureNotInUse: { disk, lun in await checked.add(disk.name, lun) })
        // d1 was at LUN 1; the new disk takes LUN 2 (1 is being detached); "gone" was not attached.
        #expect(luns == [1, 2, nil])
        #expect(await checked.seen == ["d1 1"])
        let posts = await t.requests(.post, containing: "attachDetachDataDisks")
        #expect(posts.count == 1)
        let post = try #require(posts.first)
        let body = AzureFixtures.bodyJSON(post)
        #expect((body["dataDisksToAttach"] as? [[String: Any]])?.map { $0["lun"] as? Int } == [2])
        #expect(
            (body["dataDisksToDetach"] as? [[String: Any]])?.compactMap {
                ($0["diskId"] as? String)?.split(separator: "/").last.map(String.init)
            } == ["d1"])

        // A disk still in use refuses the whole request before anything is sent.
        await #expect(throws: BuilderDiskError.self) {
            try await client.updateDataDisks(
                changes, on: AzureFixtures.vm, maxDataDisks: 8, lock: InProcessLUNLock(), timeout: .seconds(60),
                ensureNotInUse: { disk, lun in
                    throw BuilderDiskError.stillInUse(disk: disk.name, lun: lun, device: "/dev/x")
                })
        }
        #expect(await t.requests(.post, containing: "attachDetachDataDisks").count == 1)
    }

    actor CheckedLUNs {
        private(set) var seen: [String] = []
        func add(_ name: String, _ lun: Int) { seen.append("\(name) \(lun)") }
    }

    @Test func attachOfAnAttachedDiskReturnsItsLUNWithoutACall() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.get, "virtualMachines/builder?", json: (200, vmBody(luns: [0, 3]), [:]))
        let disk = AzureFixtures.id("DISKS/D3")
        let lun = try await AzureFixtures.client(t).attachDataDisk(
            disk, to: AzureFixtures.vm, maxDataDisks: 4, lock: InProcessLUNLock(), timeout: .seconds(60))
        #expect(lun == 3)
        #expect(await t.requests(.post, containing: "").isEmpty)
    }

    @Test func attachRefusesWhenTheVMIsFull() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.get, "virtualMachines/builder?", json: (200, vmBody(luns: [0, 1]), [:]))
        let error = try await #require(throws: ArmError.self) {
            try await AzureFixtures.client(t).attachDataDisk(
                dataDisk, to: AzureFixtures.vm, maxDataDisks: 2, lock: InProcessLUNLock(), timeout: .seconds(60))
        }
        #expect(error.kind == .invalidRequest)
        #expect(error.description.contains("allows 2"))
    }

    @Test func attachFallsBackToPatchWithIfMatchAndRereadsOnStaleETag() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .get, "virtualMachines/builder?", json: (200, vmBody(luns: [0], etag: "\"7\""), [:]),
            (200, vmBody(luns: [0, 1], etag: "\"8\""), [:]))
        await t.on(
            .patch, "virtualMachines/builder?",
            json: (
                412,
                #"{"error":{"code":"PreconditionFailed","message":"Etag provided in if-match header \"7\" does not match etag \"8\" of resource."}}"#,
                [:]
            ),
            (
                200, #"{"properties":{"provisioningState":"Updating"}}"#,
                AzureFixtures.headers(("Azure-AsyncOperation", "https://arm.test/op/patch?api-version=2023-03-01"))
            ))
        await t.on(.get, "/op/patch", json: (200, #"{"status":"Succeeded"}"#, [:]))
        let client = AzureFixtures.client(t, apiVersions: ArmAPIVersions(compute: "2023-09-01"))
        // After the stale read, the final GET of the PATCH's resource returns the same VM body (lun 0, 1).
        let lun = try await client.attachDataDisk(
            dataDisk, to: AzureFixtures.vm, maxDataDisks: 8, lock: InProcessLUNLock(), timeout: .seconds(600))
        #expect(lun == 2)
        let patches = await t.requests(.patch, containing: "virtualMachines/builder")
        #expect(patches.count == 2)
        #expect(patches[0].headers["If-Match"] == "\"7\"")
        #expect(patches[1].headers["If-Match"] == "\"8\"")
        let disks = try #require(
            ((AzureFixtures.bodyJSON(patches[1])["properties"] as? [String: Any])?["storageProfile"] as? [String: Any])?[
                "dataDisks"] as? [[String: Any]])
        #expect(disks.map { $0["lun"] as? Int } == [0, 1, 2])
        #expect(disks.last?["createOption"] as? String == "Attach")
    }

    @Test func concurrentAttachesUnderTheLockGetDifferentLUNs() async throws {
        // A fake VM that records attaches, so the second attach sees the first one's disk.
        let t = ScriptedHTTPTransport()
        let lock = InProcessLUNLock()
        await t.on(.get, "virtualMachines/builder?", json: (200, vmBody(luns: []), [:]), (200, vmBody(luns: [0]), [:]))
        await t.on(.post, "attachDetachDataDisks", json: (200, #"{"dataDisks":[]}"#, [:]))
        let client = AzureFixtures.client(t)
        async let a = client.attachDataDisk(
            AzureFixtures.id("disks/a"), to: AzureFixtures.vm, maxDataDisks: 4, lock: lock, timeout: .seconds(60))
        async let b = client.attachDataDisk(
            AzureFixtures.id("disks/b"), to: AzureFixtures.vm, maxDataDisks: 4, lock: lock, timeout: .seconds(60))
        let luns = try await [a, b]
        #expect(Set(luns) == [0, 1])
    }

    @Test func detachSendsDataDisksToDetachAndSkipsADiskThatIsNotAttached() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.get, "virtualMachines/builder?", json: (200, vmBody(luns: [0, 2]), [:]))
        await t.on(.post, "attachDetachDataDisks", json: (202, "", AzureFixtures.headers(("Location", location))))
        await t.on(.get, "operations/att", json: (200, #"{"dataDisks":[]}"#, [:]))
        let client = AzureFixtures.client(t)
        try await client.detachDataDisk(AzureFixtures.id("disks/d2"), from: AzureFixtures.vm, timeout: .seconds(60))
        let post = try #require(await t.requests(.post, containing: "attachDetachDataDisks").first)
        let detach = try #require((AzureFixtures.bodyJSON(post)["dataDisksToDetach"] as? [[String: Any]])?.first)
        #expect((detach["diskId"] as? String)?.hasSuffix("/disks/d2") == true)
        #expect(detach["detachOption"] == nil)
        #expect(AzureFixtures.bodyJSON(post)["dataDisksToAttach"] == nil)

        try await client.detachDataDisk(
            AzureFixtures.id("disks/elsewhere"), from: AzureFixtures.vm, timeout: .seconds(60))
        #expect(await t.requests(.post, containing: "attachDetachDataDisks").count == 1)
    }

    struct StillMounted: Error {}

    @Test func detachIsRefusedWhileTheDiskIsInUse() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.get, "virtualMachines/builder?", json: (200, vmBody(luns: [0, 2]), [:]))
        let checked = Mutex<[Int]>([])
        await #expect(throws: StillMounted.self) {
            try await AzureFixtures.client(t).detachDataDisk(
                AzureFixtures.id("disks/d2"), from: AzureFixtures.vm, timeout: .seconds(60),
                ensureNotInUse: { lun in
                    checked.withLock { $0.append(lun) }
                    throw StillMounted()
                })
        }
        #expect(checked.withLock { $0 } == [2])
        #expect(await t.requests(.post, containing: "").isEmpty)
    }

    @Test func latestPlatformImageResolvesByNumericOrder() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .get, "/skus/server/versions?",
            json: (
                200,
                #"[{"name":"1.0.9","location":"westus"},{"name":"1.0.10","location":"westus"},{"name":"1.0.2","location":"westus"}]"#,
                [:]
            ))
        let client = AzureFixtures.client(t)
        let urn = try PlatformImageURN(parsing: "Canonical:ubuntu-24_04-lts:server:latest")
        let resolved = try await client.resolvePlatformImage(
            subscription: AzureFixtures.subscription, location: "westus", urn: urn)
        #expect(resolved.version == "1.0.10")
        let request = try #require(await t.requests.first)
        #expect(
            request.url.path
                == "/subscriptions/\(AzureFixtures.subscription)/providers/Microsoft.Compute/locations/westus/publishers/Canonical/artifacttypes/vmimage/offers/ubuntu-24_04-lts/skus/server/versions"
        )
        let versions = try await client.listPlatformImageVersions(
            subscription: AzureFixtures.subscription, location: "westus", urn: urn)
        #expect(versions.map(\.name) == ["1.0.2", "1.0.9", "1.0.10"])
    }

    @Test func latestOfAnImageWithoutVersionsIsAClearError() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.get, "/versions?", json: (200, "[]", [:]))
        let urn = try PlatformImageURN(parsing: "Canonical:nothing:here:latest")
        let error = try await #require(throws: ArmError.self) {
            try await AzureFixtures.client(t).resolvePlatformImage(subscription: "s", location: "westus", urn: urn)
        }
        #expect(error.description.contains("no versions"))
    }

    @Test func platformImageVersionDetailIsRead() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .get, "/versions/1.0.10?",
            json: (
                200,
                #"{"name":"1.0.10","properties":{"hyperVGeneration":"V2","osDiskImage":{"operatingSystem":"Linux","sizeInGb":30}}}"#,
                [:]
            ))
        let urn = try PlatformImageURN(parsing: "Canonical:o:s:1.0.10")
        let version = try await AzureFixtures.client(t).getPlatformImageVersion(
            subscription: "s", location: "westus", urn: urn)
        #expect(version?.properties?.hyperVGeneration == "V2")
    }

    @Test func resourcesByTagFollowNextLink() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .get, "page=2",
            json: (
                200,
                #"{"value":[{"id":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/snapshots/b","tags":{"kiln:build":"web"}}]}"#,
                [:]
            ))
        await t.on(
            .get, "/resources?",
            json: (
                200,
                #"{"value":[{"id":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/a","type":"Microsoft.Compute/disks"}],"nextLink":"https://arm.test/subscriptions/s/resourceGroups/rg/resources?page=2"}"#,
                [:]
            ))
        let resources = try await AzureFixtures.client(t).listResources(
            subscription: "s", resourceGroup: "rg", tagName: "kiln:build", tagValue: "web")
        #expect(resources.count == 2)
        let first = try #require(await t.requests.first)
        let filter = URLComponents(url: first.url, resolvingAgainstBaseURL: false)?.queryItems?.first {
            $0.name == "$filter"
        }?.value
        #expect(filter == "tagName eq 'kiln:build' and tagValue eq 'web'")
        #expect(first.url.absoluteString.contains("api-version=2021-04-01"))
    }

    @Test func aResourceGroupIsListedWithoutAFilterWhenNoTagIsGiven() async throws {
        // The observer lists a group once for all its builds and reads each resource's tags,
        // which ARM leaves out of tag-filtered lists.
        let t = ScriptedHTTPTransport()
        await t.on(
            .get, "/resources?",
            json: (
                200,
                #"{"value":[{"id":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/a","type":"Microsoft.Compute/disks","tags":{"kiln:build":"web","kiln:run":"0123456789"}}]}"#,
                [:]
            ))
        let resources = try await AzureFixtures.client(t).listResources(subscription: "s", resourceGroup: "rg")
        #expect(resources.first?.tags?["kiln:run"] == "0123456789")
        let first = try #require(await t.requests.first)
        let query = URLComponents(url: first.url, resolvingAgainstBaseURL: false)?.queryItems ?? []
        #expect(!query.contains { $0.name == "$filter" })
        #expect(first.url.path.hasSuffix("/subscriptions/s/resourceGroups/rg/resources"))
    }

    @Test func apiVersionsArePinnedPerResourceType() {
        let client = AzureFixtures.client(ScriptedHTTPTransport())
        #expect(client.url(for: AzureFixtures.disk).absoluteString.hasSuffix("api-version=2024-03-02"))
        #expect(client.url(for: AzureFixtures.id("snapshots/s")).absoluteString.hasSuffix("api-version=2024-03-02"))
        #expect(client.url(for: AzureFixtures.vm).absoluteString.hasSuffix("api-version=2024-07-01"))
        #expect(client.url(for: AzureFixtures.id("images/i")).absoluteString.hasSuffix("api-version=2024-07-01"))
        #expect(
            client.url(for: AzureFixtures.id("galleries/g/images/d/versions/1.0.0")).absoluteString.hasSuffix(
                "api-version=2024-03-03"))
    }

    @Test func imageVersionReadAsksForReplicationStatus() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .get, "versions/1.0.0?",
            json: (
                200,
                #"{"properties":{"replicationStatus":{"aggregatedState":"InProgress","summary":[{"region":"westus","state":"Replicating","progress":50}]}}}"#,
                [:]
            ))
        let version = try await AzureFixtures.client(t).getGalleryImageVersion(
            AzureFixtures.id("galleries/g/images/d/versions/1.0.0"), replicationStatus: true)
        #expect(version?.properties?.replicationStatus?.summary?.first?.progress == 50)
        #expect(await t.requests.first?.url.absoluteString.contains("$expand=ReplicationStatus") == true)
    }

    @Test func aWrongIdTypeFailsBeforeAnyCall() async throws {
        let t = ScriptedHTTPTransport()
        let error = try await #require(throws: ArmError.self) {
            try await AzureFixtures.client(t).getDisk(AzureFixtures.id("snapshots/x"))
        }
        #expect(error.kind == .invalidRequest)
        #expect(await t.requests.isEmpty)
    }
}
