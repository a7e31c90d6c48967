import Foundation
import Testing

@testable import AzureEmulator

/// Lease Blob: every action, the errors of each lease state, and expiry by the emulator's clock.
@Suite("Blob leases")
struct BlobLeaseTests {
    static let a = "aaaaaaaa-0000-4000-8000-000000000001"
    static let b = "bbbbbbbb-0000-4000-8000-000000000002"
    static let c = "cccccccc-0000-4000-8000-000000000003"

    /// A container `state` with a blob `state/j`, and a function doing one lease action.
    static func withBlob(
        _ body: (Harness, String, (_ headers: [String: String]) async throws -> HTTPResult) async throws -> Void
    ) async throws {
        try await withEmulator { h in
            let t = try await h.storageToken()
            _ = try await h.blob("PUT", "state?restype=container", token: t)
            try await h.putBlob("state/j", "v1", token: t)
            try await body(h, t) { headers in try await h.blob("PUT", "state/j?comp=lease", token: t, headers: headers)
            }
        }
    }

    @Test func acquireRenewChangeRelease() async throws {
        try await Self.withBlob { h, t, lease in
            let acquired = try await lease([
                "x-ms-lease-action": "acquire", "x-ms-lease-duration": "60", "x-ms-proposed-lease-id": Self.a
            ])
            #expect(acquired.status == 201 && acquired.header("x-ms-lease-id") == Self.a)
            let props = try await h.blob("HEAD", "state/j", token: t)
            #expect(props.header("x-ms-lease-state") == "leased" && props.header("x-ms-lease-status") == "locked")
            #expect(props.header("x-ms-lease-duration") == "fixed")
            let other = try await lease([
                "x-ms-lease-action": "acquire", "x-ms-lease-duration": "15", "x-ms-proposed-lease-id": Self.b
            ])
            #expect(other.status == 409 && other.storageErrorCode == "LeaseAlreadyPresent")
            let renewed = try await lease(["x-ms-lease-action": "renew", "x-ms-lease-id": Self.a])
            #expect(renewed.status == 200 && renewed.header("x-ms-lease-id") == Self.a)
            let wrongRenew = try await lease(["x-ms-lease-action": "renew", "x-ms-lease-id": Self.b])
            #expect(wrongRenew.status == 409 && wrongRenew.storageErrorCode == "LeaseIdMismatchWithLeaseOperation")
            let changed = try await lease([
                "x-ms-lease-action": "change", "x-ms-lease-id": Self.a, "x-ms-proposed-lease-id": Self.b
            ])
            #expect(changed.status == 200 && changed.header("x-ms-lease-id") == Self.b)
            let badChange = try await lease([
                "x-ms-lease-action": "change", "x-ms-lease-id": Self.c, "x-ms-proposed-lease-id": Self.a
            ])
            #expect(badChange.status == 409 && badChange.storageErrorCode == "LeaseIdMismatchWithLeaseOperation")
            let wrongRelease = try await lease(["x-ms-lease-action": "release", "x-ms-lease-id": Self.a])
            #expect(wrongRelease.status == 409 && wrongRelease.storageErrorCode == "LeaseIdMismatchWithLeaseOperation")
            #expect(try await lease(["x-ms-lease-action": "release", "x-ms-lease-id": Self.b]).status == 200)
            let released = try await lease(["x-ms-lease-action": "release", "x-ms-lease-id": Self.b])
            #expect(released.status == 409 && released.storageErrorCode == "LeaseNotPresentWithLeaseOperation")
            let badDuration = try await lease(["x-ms-lease-action": "acquire", "x-ms-lease-duration": "10"])
            #expect(badDuration.status == 400 && badDuration.storageErrorCode == "InvalidHeaderValue")
            let noAction = try await lease([:])
            #expect(noAction.status == 400 && noAction.storageErrorCode == "MissingRequiredHeader")
        }
    }

    @Test func aLeasedBlobIsWrittenAndDeletedOnlyWithItsLeaseID() async throws {
        try await Self.withBlob { h, t, lease in
            _ = try await lease([
                "x-ms-lease-action": "acquire", "x-ms-lease-duration": "-1", "x-ms-proposed-lease-id": Self.a
            ])
            let noID = try await h.putBlob("state/j", "v2", token: t)
            #expect(noID.status == 412 && noID.storageErrorCode == "LeaseIdMissing")
            let wrong = try await h.putBlob("state/j", "v2", token: t, headers: ["x-ms-lease-id": Self.b])
            #expect(wrong.status == 412 && wrong.storageErrorCode == "LeaseIdMismatchWithBlobOperation")
            let delete = try await h.blob("DELETE", "state/j", token: t)
            #expect(delete.status == 412 && delete.storageErrorCode == "LeaseIdMissing")
            #expect(try await h.putBlob("state/j", "v2", token: t, headers: ["x-ms-lease-id": Self.a]).status == 201)
            // The lease stays with the overwritten blob.
            let get = try await h.blob("GET", "state/j", token: t)
            #expect(get.text == "v2" && get.header("x-ms-lease-state") == "leased")
            #expect(try await lease(["x-ms-lease-action": "release", "x-ms-lease-id": Self.a]).status == 200)
            let stray = try await h.putBlob("state/j", "v3", token: t, headers: ["x-ms-lease-id": Self.a])
            #expect(stray.status == 412 && stray.storageErrorCode == "LeaseNotPresentWithBlobOperation")
            #expect(try await h.blob("DELETE", "state/j", token: t).status == 202)
        }
    }

    @Test func aLeaseExpiresByTheEmulatorsClockAndAnotherWriterTakesIt() async throws {
        try await Self.withBlob { h, t, lease in
            _ = try await lease([
                "x-ms-lease-action": "acquire", "x-ms-lease-duration": "15", "x-ms-proposed-lease-id": Self.a
            ])
            try await h.advanceStorageClock(to: 16)
            let props = try await h.blob("HEAD", "state/j", token: t)
            #expect(props.header("x-ms-lease-state") == "expired" && props.header("x-ms-lease-status") == "unlocked")
            #expect(try await h.putBlob("state/j", "free", token: t).status == 201)
            let taken = try await lease([
                "x-ms-lease-action": "acquire", "x-ms-lease-duration": "60", "x-ms-proposed-lease-id": Self.b
            ])
            #expect(taken.status == 201 && taken.header("x-ms-lease-id") == Self.b)
            let late = try await lease(["x-ms-lease-action": "renew", "x-ms-lease-id": Self.a])
            #expect(late.status == 409 && late.storageErrorCode == "LeaseIdMismatchWithLeaseOperation")
        }
    }

    @Test func aBrokenLeaseCannotBeRenewedAndBreakingWaitsForItsPeriod() async throws {
        try await Self.withBlob { h, t, lease in
            let none = try await lease(["x-ms-lease-action": "break"])
            #expect(none.status == 409 && none.storageErrorCode == "LeaseNotPresentWithLeaseOperation")
            _ = try await lease([
                "x-ms-lease-action": "acquire", "x-ms-lease-duration": "-1", "x-ms-proposed-lease-id": Self.a
            ])
            let breaking = try await lease(["x-ms-lease-action": "break", "x-ms-lease-break-period": "10"])
            #expect(breaking.status == 202 && breaking.header("x-ms-lease-time") == "10")
            #expect(try await h.blob("HEAD", "state/j", token: t).header("x-ms-lease-state") == "breaking")
            let reacquire = try await lease([
                "x-ms-lease-action": "acquire", "x-ms-lease-duration": "15", "x-ms-proposed-lease-id": Self.a
            ])
            #expect(reacquire.status == 409 && reacquire.storageErrorCode == "LeaseIsBreakingAndCannotBeAcquired")
            let change = try await lease([
                "x-ms-lease-action": "change", "x-ms-lease-id": Self.a, "x-ms-proposed-lease-id": Self.b
            ])
            #expect(change.status == 409 && change.storageErrorCode == "LeaseIsBreakingAndCannotBeChanged")
            try await h.advanceStorageClock(to: 11)
            let broken = try await h.blob("HEAD", "state/j", token: t)
            #expect(broken.header("x-ms-lease-state") == "broken" && broken.header("x-ms-lease-status") == "unlocked")
            let renew = try await lease(["x-ms-lease-action": "renew", "x-ms-lease-id": Self.a])
            #expect(renew.status == 409 && renew.storageErrorCode == "LeaseIsBrokenAndCannotBeRenewed")
            let now = try await lease([
                "x-ms-lease-action": "acquire", "x-ms-lease-duration": "15", "x-ms-proposed-lease-id": Self.c
            ])
            #expect(now.status == 201 && now.header("x-ms-lease-id") == Self.c)
            let immediate = try await lease(["x-ms-lease-action": "break", "x-ms-lease-break-period": "0"])
            #expect(immediate.status == 202 && immediate.header("x-ms-lease-time") == "0")
            #expect(try await lease(["x-ms-lease-action": "release", "x-ms-lease-id": Self.c]).status == 200)
        }
    }
}
