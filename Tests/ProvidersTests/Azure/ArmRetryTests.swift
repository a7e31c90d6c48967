import Foundation
import Model
import Testing

@testable import Providers

@Suite struct ArmRetryTests {
    let throttled = (
        429,
        #"{"code":"OperationNotAllowed","message":"The server rejected the request because too many requests have been received for this subscription."}"#,
        AzureFixtures.headers(("Retry-After", "2"))
    )

    @Test func a429StormIsWaitedOutWithRetryAfter() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .get, "/disks/myDisk", json: throttled, throttled, throttled, throttled, throttled,
            (200, AzureFixtures.diskBody, [:]))
        let clock = RecordingTestClock()
        let disk = try await AzureFixtures.client(t, clock: clock).getDisk(AzureFixtures.disk)
        #expect(disk?.name == "myDisk")
        #expect(clock.sleeps == Array(repeating: .seconds(2), count: 5))
        #expect(await t.requests.count == 6)
    }

    @Test func a500IsRetriedWithBackoff() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .get, "/disks/myDisk", json: (500, #"{"error":{"code":"InternalServerError","message":"oops"}}"#, [:]),
            (503, "", [:]), (200, AzureFixtures.diskBody, [:]))
        let clock = RecordingTestClock()
        let disk = try await AzureFixtures.client(t, clock: clock).getDisk(AzureFixtures.disk)
        #expect(disk?.name == "myDisk")
        // base 1 s, random() = 0 -> half of each exponential step: 0.5 s, 1 s.
        #expect(clock.sleeps == [.milliseconds(500), .seconds(1)])
    }

    @Test func backoffIsCappedAndJittered() {
        let low = AzureRetryPolicy(baseDelay: .seconds(1), maxDelay: .seconds(30), random: { 0 })
        let high = AzureRetryPolicy(baseDelay: .seconds(1), maxDelay: .seconds(30), random: { 1 })
        #expect(low.backoff(afterAttempt: 1) == .milliseconds(500))
        #expect(high.backoff(afterAttempt: 1) == .seconds(1))
        #expect(high.backoff(afterAttempt: 4) == .seconds(8))
        #expect(high.backoff(afterAttempt: 20) == .seconds(30))
        #expect(low.backoff(afterAttempt: 20) == .seconds(15))
    }

    @Test func a400IsNotRetried() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .put, "/disks/myDisk",
            json: (
                400, #"{"error":{"code":"InvalidParameter","message":"diskSizeGB must be positive."}}"#,
                AzureFixtures.headers(("x-ms-request-id", "r-400"))
            ))
        let clock = RecordingTestClock()
        let client = AzureFixtures.client(t, clock: clock)
        let error = try await #require(throws: ArmError.self) {
            try await client.beginCreateDisk(
                AzureFixtures.disk,
                ArmDisk(
                    location: "westus", properties: .init(creationData: .init(createOption: "Empty"), diskSizeGB: 0)))
        }
        #expect(error.status == 400)
        #expect(await t.requests.count == 1)
        #expect(clock.sleeps.isEmpty)
    }

    @Test func errorTextNamesOperationResourceStatusCodeMessageAndRequestID() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .delete, "/disks/myDisk",
            json: (
                409,
                #"{"error":{"code":"OperationNotAllowed","message":"Disk myDisk is attached to VM /subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/builder."}}"#,
                AzureFixtures.headers(("x-ms-request-id", "3f2a-request"))
            ))
        let error = try await #require(throws: ArmError.self) {
            try await AzureFixtures.client(t).beginDeleteDisk(AzureFixtures.disk)
        }
        let text = error.description
        #expect(text.contains("delete disk"))
        #expect(text.contains(AzureFixtures.disk.description))
        #expect(text.contains("HTTP 409"))
        #expect(text.contains("OperationNotAllowed"))
        #expect(text.contains("is attached to VM"))
        #expect(text.contains("3f2a-request"))
        #expect(!text.contains("\n"))
    }

    @Test func postIsNotRepeatedAfterAServerError() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .post, "attachDetachDataDisks", json: (500, #"{"error":{"code":"InternalError","message":"x"}}"#, [:]),
            (202, "", [:]))
        struct Empty: Encodable {}
        await #expect(throws: ArmError.self) {
            try await AzureFixtures.client(t).beginAction(
                AzureFixtures.vm, action: "attachDetachDataDisks", body: Empty(), operation: "attach")
        }
        #expect(await t.requests.count == 1)
    }

    @Test func postIsRepeatedAfterThrottlingAndRefusedConnections() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .post, "attachDetachDataDisks",
            [
                .respond(AzureHTTPResponse(status: 429, headers: ["Retry-After": "3"])),
                .fail(.connectFailed),
                .respond(AzureHTTPResponse(status: 200, body: Data(#"{"dataDisks":[]}"#.utf8)))
            ])
        struct Empty: Encodable {}
        let clock = RecordingTestClock()
        _ = try await AzureFixtures.client(t, clock: clock).beginAction(
            AzureFixtures.vm, action: "attachDetachDataDisks", body: Empty(), operation: "attach")
        #expect(await t.requests.count == 3)
        #expect(clock.sleeps == [.seconds(3), .seconds(1)])
    }

    @Test func postIsNotRepeatedWhenTheConnectionBrokeAfterSending() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(.post, "attachDetachDataDisks", [.fail(.connectionLost), .respond(AzureHTTPResponse(status: 200))])
        struct Empty: Encodable {}
        let error = try await #require(throws: ArmError.self) {
            try await AzureFixtures.client(t).beginAction(
                AzureFixtures.vm, action: "attachDetachDataDisks", body: Empty(), operation: "attach")
        }
        #expect(error.kind == .transport)
        #expect(await t.requests.count == 1)
    }

    @Test func lostConnectionsAreRetriedForIdempotentCalls() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .get, "/disks/myDisk",
            [
                .fail(.connectFailed), .fail(.timedOut),
                .respond(AzureHTTPResponse(status: 200, body: Data(AzureFixtures.diskBody.utf8)))
            ])
        let disk = try await AzureFixtures.client(t).getDisk(AzureFixtures.disk)
        #expect(disk?.name == "myDisk")
    }

    @Test func givingUpAfterMaxAttemptsReturnsTheLastError() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .get, "/disks/myDisk", json: (503, #"{"error":{"code":"ServiceUnavailable","message":"busy"}}"#, [:]))
        let error = try await #require(throws: ArmError.self) {
            try await AzureFixtures.client(t).getDisk(AzureFixtures.disk)
        }
        #expect(error.status == 503)
        #expect(await t.requests.count == AzureFixtures.retry.maxAttempts)
    }

    @Test func aRetryAfterBeyondTheLimitFailsWithTheWaitInTheMessage() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .get, "/disks/myDisk",
            json: (
                429, #"{"code":"OperationNotAllowed","message":"too many requests"}"#,
                AzureFixtures.headers(("Retry-After", "1200"))
            ))
        let error = try await #require(throws: ArmError.self) {
            try await AzureFixtures.client(t).getDisk(AzureFixtures.disk)
        }
        #expect(error.status == 429)
        #expect(error.code == "OperationNotAllowed")
        #expect(error.description.contains("1200 s"))
    }

    @Test func anExpiredTokenIsRefreshedOnce() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .get, "/disks/myDisk",
            json: (401, #"{"error":{"code":"ExpiredAuthenticationToken","message":"expired"}}"#, [:]),
            (200, AzureFixtures.diskBody, [:]))
        let base = StaticTokenCredential()
        let credential = CachingTokenCredential(base)
        let disk = try await AzureFixtures.client(t, credential: credential).getDisk(AzureFixtures.disk)
        #expect(disk?.name == "myDisk")
        #expect(base.callCount == 2)
    }

    @Test func missingResourceReadsAsNil() async throws {
        let t = ScriptedHTTPTransport()
        await t.on(
            .get, "/disks/myDisk", json: (404, #"{"error":{"code":"ResourceNotFound","message":"not found"}}"#, [:]))
        #expect(try await AzureFixtures.client(t).getDisk(AzureFixtures.disk) == nil)
    }

    @Test func retryAfterParsesSecondsDatesAndMilliseconds() {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(parseRetryAfter(["Retry-After": "12"], now: now) == .seconds(12))
        #expect(parseRetryAfter(["retry-after-ms": "250"], now: now) == .milliseconds(250))
        #expect(parseRetryAfter(["Retry-After": "Tue, 14 Nov 2023 22:13:40 GMT"], now: now) == .seconds(20))
        #expect(parseRetryAfter(["Retry-After": "soon"], now: now) == nil)
        #expect(parseRetryAfter(["Retry-After": "-1"], now: now) == nil)
    }
}
