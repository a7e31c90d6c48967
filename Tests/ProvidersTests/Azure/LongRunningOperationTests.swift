import Foundation
import Model
import Testing

@testable import Providers

@Suite struct LongRunningOperationTests {
    let disk = AzureFixtures.disk
    let asyncURL =
        "https://arm.test/subscriptions/s/providers/Microsoft.Compute/locations/westus/DiskOperations/op1?api-version=2024-03-02"
    let locationURL =
        "https://arm.test/subscriptions/s/providers/Microsoft.Compute/locations/westus/DiskOperations/op1?monitor=true&api-version=2024-03-02"

    @Test func followsAzureAsyncOperationThenReadsTheResource() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .put, "/disks/myDisk",
            json: (
                202, #"{"properties":{"provisioningState":"Updating"}}"#,
                AzureFixtures.headers(
                    ("Azure-AsyncOperation", asyncURL), ("Location", locationURL), ("Retry-After", "3"))
            ))
        await t.on(
            .get, "DiskOperations/op1?api-version",
            json: (200, #"{"status":"InProgress"}"#, AzureFixtures.headers(("Retry-After", "7"))),
            (200, #"{"status":"Succeeded","properties":{"output":{}}}"#, [:]))
        await t.on(.get, "/disks/myDisk", json: (200, AzureFixtures.diskBody, [:]))
        let clock = RecordingTestClock()
        let client = AzureFixtures.client(t, clock: clock)

        let operation = try await client.beginCreateDisk(
            disk,
            ArmDisk(location: "westus", properties: .init(creationData: .init(createOption: "Empty"), diskSizeGB: 200)))
        #expect(operation.handle.asyncOperationURL?.absoluteString == asyncURL)
        let result = try await operation.wait(timeout: .seconds(3600), as: ArmDisk.self)

        #expect(result?.properties?.provisioningState == "Succeeded")
        #expect(clock.sleeps == [.seconds(3), .seconds(7)])
        #expect(await t.requests(.get, containing: "DiskOperations/op1?api-version").count == 2)
        #expect(await t.requests(.get, containing: "monitor=true").isEmpty)
        let put = try #require(await t.requests(.put, containing: "/disks/myDisk").first)
        #expect(put.url.absoluteString.contains("api-version=2024-03-02"))
        #expect(put.headers["Authorization"] == "Bearer test-token")
    }

    @Test func followsLocationWhenThereIsNoAsyncOperationHeader() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .delete, "/disks/myDisk",
            json: (202, "", AzureFixtures.headers(("Location", locationURL), ("Retry-After", "2"))))
        await t.on(.get, "monitor=true", json: (202, "", AzureFixtures.headers(("Retry-After", "5"))), (204, "", [:]))
        let clock = RecordingTestClock()
        let client = AzureFixtures.client(t, clock: clock)

        let operation = try await client.beginDeleteDisk(disk)
        let result = try await operation.wait(timeout: .seconds(600))

        #expect(result == nil)
        #expect(clock.sleeps == [.seconds(2), .seconds(5)])
        #expect(await t.requests(.get, containing: "monitor=true").count == 2)
    }

    @Test func locationResultIsThePostActionsResult() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.post, "attachDetachDataDisks", json: (202, "", AzureFixtures.headers(("Location", locationURL))))
        await t.on(.get, "monitor=true", json: (202, "", [:]), (200, #"{"dataDisks":[{"lun":0,"name":"d"}]}"#, [:]))
        let client = AzureFixtures.client(t)
        struct Empty: Encodable {}
        let operation = try await client.beginAction(
            AzureFixtures.vm, action: "attachDetachDataDisks", body: Empty(), operation: "attach")
        let profile = try await operation.wait(timeout: .seconds(600), as: ArmVirtualMachine.StorageProfile.self)
        #expect(profile?.dataDisks?.first?.lun == 0)
    }

    @Test func pollsProvisioningStateWhenThereAreNoHeaders() async throws {
        let image = AzureFixtures.id("images/myImage")
        let t = ScriptedHTTPTransport()
        await t.on(
            .put, "/images/myImage",
            json: (201, #"{"name":"myImage","properties":{"provisioningState":"Creating"}}"#, [:]))
        await t.on(
            .get, "/images/myImage",
            json: (
                200, #"{"name":"myImage","properties":{"provisioningState":"Creating"}}"#,
                AzureFixtures.headers(("Retry-After", "4"))
            ),
            (200, #"{"name":"myImage","properties":{"provisioningState":"Succeeded","hyperVGeneration":"V2"}}"#, [:]))
        let clock = RecordingTestClock()
        let client = AzureFixtures.client(t, clock: clock)
        let body = ArmImage(
            location: "westus",
            properties: .init(
                storageProfile: .init(osDisk: .init(osType: "Linux", osState: "Generalized")), hyperVGeneration: "V2"))
        let operation = try await client.beginCreateImage(image, body)
        let result = try await operation.wait(timeout: .seconds(600), as: ArmImage.self)
        #expect(result?.properties?.provisioningState == "Succeeded")
        #expect(result?.properties?.hyperVGeneration == "V2")
        // No Retry-After on the PUT: the minimum interval; then the GET's Retry-After.
        #expect(clock.sleeps == [.seconds(1), .seconds(4)])
    }

    @Test func failedOperationReportsAzuresErrorAndRequestID() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.put, "/disks/myDisk", json: (202, "", AzureFixtures.headers(("Azure-AsyncOperation", asyncURL))))
        await t.on(
            .get, "DiskOperations/op1",
            json: (
                200,
                #"{"status":"Failed","error":{"code":"InternalDiskManagementError","message":"The disk could not be created."}}"#,
                AzureFixtures.headers(("x-ms-request-id", "req-42"))
            ))
        let client = AzureFixtures.client(t)
        let operation = try await client.beginCreateDisk(
            disk,
            ArmDisk(location: "westus", properties: .init(creationData: .init(createOption: "Empty"), diskSizeGB: 1)))
        let error = try await #require(throws: ArmError.self) { try await operation.wait(timeout: .seconds(600)) }
        #expect(error.kind == .operationFailed)
        #expect(error.code == "InternalDiskManagementError")
        #expect(error.description.contains("create disk"))
        #expect(error.description.contains(disk.description))
        #expect(error.description.contains("The disk could not be created."))
        #expect(error.description.contains("req-42"))
    }

    @Test func failedProvisioningStateIsAnError() async throws {
        let image = AzureFixtures.id("images/bad")
        let t = ScriptedHTTPTransport()
        await t.on(.put, "/images/bad", json: (201, #"{"properties":{"provisioningState":"Creating"}}"#, [:]))
        await t.on(.get, "/images/bad", json: (200, #"{"properties":{"provisioningState":"Failed"}}"#, [:]))
        let client = AzureFixtures.client(t)
        let operation = try await client.beginPut(image, body: ["location": "westus"])
        let error = try await #require(throws: ArmError.self) { try await operation.wait(timeout: .seconds(600)) }
        #expect(error.kind == .operationFailed)
        #expect(error.code == "ProvisioningStateFailed")
    }

    @Test func retryAfterIsClampedToThePollPolicy() {
        let policy = LongRunningPollPolicy(
            defaultInterval: .seconds(10), minimumInterval: .seconds(1), maximumInterval: .seconds(60))
        #expect(policy.interval(after: AzureFixtures.headers(("Retry-After", "0"))) == .seconds(1))
        #expect(policy.interval(after: AzureFixtures.headers(("Retry-After", "1200"))) == .seconds(60))
        #expect(policy.interval(after: AzureFixtures.headers(("retry-after", "15"))) == .seconds(15))
        #expect(policy.interval(after: [:]) == .seconds(10))
    }

    @Test func rejoinsAStoredOperationWithoutReissuingIt() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .put, "/disks/myDisk",
            json: (202, "", AzureFixtures.headers(("Azure-AsyncOperation", asyncURL), ("Retry-After", "1"))))
        await t.on(
            .get, "DiskOperations/op1", json: (200, #"{"status":"InProgress"}"#, [:]),
            (200, #"{"status":"Succeeded"}"#, [:]))
        await t.on(.get, "/disks/myDisk", json: (200, AzureFixtures.diskBody, [:]))
        let first = AzureFixtures.client(t)
        let started = try await first.beginCreateDisk(
            disk,
            ArmDisk(location: "westus", properties: .init(creationData: .init(createOption: "Empty"), diskSizeGB: 200)))
        // The journal stores the handle; the process dies here.
        let stored = try JSONEncoder().encode(started.handle)

        let handle = try JSONDecoder().decode(OperationHandle.self, from: stored)
        #expect(handle == started.handle)
        let second = AzureFixtures.client(t)
        let result = try await second.operation(resuming: handle).wait(timeout: .seconds(600), as: ArmDisk.self)

        #expect(result?.name == "myDisk")
        #expect(await t.requests(.put, containing: "/disks/").count == 1)
        #expect(await t.requests(.get, containing: "DiskOperations/op1").count == 2)
    }

    @Test func aRejoinedOperationWhoseURLIsGoneFallsBackToTheResource() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .get, "DiskOperations/op1",
            json: (404, #"{"error":{"code":"ResourceNotFound","message":"operation expired"}}"#, [:]))
        await t.on(
            .get, "/disks/myDisk",
            json: (200, #"{"name":"myDisk","properties":{"provisioningState":"Updating"}}"#, [:]),
            (200, AzureFixtures.diskBody, [:]))
        let client = AzureFixtures.client(t)
        let handle = OperationHandle(
            operation: "create disk", resource: disk.description, method: .put, resourceURL: client.url(for: disk),
            asyncOperationURL: URL(string: asyncURL), startedAt: Date())
        let result = try await client.operation(resuming: handle).wait(timeout: .seconds(600), as: ArmDisk.self)
        #expect(result?.properties?.provisioningState == "Succeeded")
        #expect(await t.requests(.get, containing: "DiskOperations/op1").count == 1)
    }

    @Test func rejoinedDeleteWithoutURLsWaitsForTheResourceToGo() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .get, "/disks/myDisk", json: (200, #"{"properties":{"provisioningState":"Deleting"}}"#, [:]),
            (404, #"{"error":{"code":"ResourceNotFound","message":"gone"}}"#, [:]))
        let client = AzureFixtures.client(t)
        let handle = OperationHandle(
            operation: "delete disk", resource: disk.description, method: .delete, resourceURL: client.url(for: disk),
            startedAt: Date())
        let result = try await client.operation(resuming: handle).wait(timeout: .seconds(600))
        #expect(result == nil)
    }

    @Test func timesOutWithARejoinableError() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .put, "/disks/myDisk",
            json: (202, "", AzureFixtures.headers(("Azure-AsyncOperation", asyncURL), ("Retry-After", "10"))))
        await t.on(
            .get, "DiskOperations/op1",
            json: (200, #"{"status":"InProgress"}"#, AzureFixtures.headers(("Retry-After", "10"))))
        let clock = RecordingTestClock()
        let client = AzureFixtures.client(t, clock: clock)
        let operation = try await client.beginCreateDisk(
            disk,
            ArmDisk(location: "westus", properties: .init(creationData: .init(createOption: "Empty"), diskSizeGB: 1)))
        let error = try await #require(throws: ArmError.self) { try await operation.wait(timeout: .seconds(45)) }
        #expect(error.kind == .operationTimedOut)
        #expect(error.description.contains("run again to wait for it"))
        #expect(clock.sleeps.count == 4)
    }

    @Test func cancellationStopsTheWait() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.put, "/disks/myDisk", json: (202, "", AzureFixtures.headers(("Azure-AsyncOperation", asyncURL))))
        await t.on(.get, "DiskOperations/op1", json: (200, #"{"status":"InProgress"}"#, [:]))
        let client = AzureFixtures.client(t)
        let operation = try await client.beginCreateDisk(
            disk,
            ArmDisk(location: "westus", properties: .init(creationData: .init(createOption: "Empty"), diskSizeGB: 1)))
        let task = Task { try await operation.wait(timeout: .seconds(100_000_000)) }
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
    }

    @Test func theTokenIsNeverSentToAnotherHost() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .put, "/disks/myDisk",
            json: (202, "", AzureFixtures.headers(("Azure-AsyncOperation", "https://evil.example/op?api-version=1"))))
        let client = AzureFixtures.client(t)
        let operation = try await client.beginCreateDisk(
            disk,
            ArmDisk(location: "westus", properties: .init(creationData: .init(createOption: "Empty"), diskSizeGB: 1)))
        let error = try await #require(throws: ArmError.self) { try await operation.wait(timeout: .seconds(600)) }
        #expect(error.description.contains("refusing to send the ARM token to https://evil.example"))
        #expect(await t.requests(containing: "evil.example").isEmpty)
        #expect(ArmClient.sameOrigin(URL(string: "https://ARM.test:443/x")!, URL(string: "https://arm.test")!))
        #expect(!ArmClient.sameOrigin(URL(string: "http://arm.test/x")!, URL(string: "https://arm.test")!))
    }

    @Test func acceptedDeleteWithoutAPollingURLIsAnError() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.delete, "/disks/myDisk", json: (202, "", [:]))
        let client = AzureFixtures.client(t)
        let error = try await #require(throws: ArmError.self) { try await client.beginDeleteDisk(disk) }
        #expect(error.kind == .invalidResponse)
    }
}
