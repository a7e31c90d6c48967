import AsyncHTTPClient
import Foundation
import Testing

@testable import AzureEmulator

@Suite("Control surface, faults, restart persistence")
struct ControlAndFaultTests {
    @Test func requestLogRecordsEveryRequest() async throws {
        try await withEmulator { h in
            _ = try await h.vm()
            _ = try await h.send(
                "GET", "/metadata/instance?api-version=2021-02-01", headers: ["Metadata": "true"], auth: false)
            let log = try await h.send("GET", "/_emulator/requests", auth: false)
            let entries = try #require(log.json?.arrayValue)
            #expect(entries.count >= 3)  // token, VM GET, IMDS
            let vmGet = try #require(
                entries.first { $0["path"]?.stringValue?.hasSuffix("/virtualMachines/kiln-builder") == true })
            #expect(vmGet["method"]?.stringValue == "GET")
            #expect(vmGet["apiVersion"]?.stringValue == "2024-07-01")
            #expect(vmGet["status"]?.intValue == 200)
            #expect(vmGet["host"]?.stringValue?.hasPrefix("127.0.0.1:") == true)
            #expect(vmGet["time"]?.stringValue != nil)
            let seqs = entries.compactMap { $0["sequence"]?.intValue }
            #expect(seqs == seqs.sorted())
            let last = seqs.last ?? 0
            let since = try await h.send("GET", "/_emulator/requests?since=\(last)", auth: false)
            #expect(since.json?.arrayValue?.count == 1)  // only the previous log request itself
        }
    }

    @Test func throttleFaultGives429WithRetryAfterThenRecovers() async throws {
        try await withEmulator { h in
            let set = try await h.send(
                "POST", "/_emulator/faults",
                json: ["kind": "throttle", "method": "GET", "path": "*/virtualmachines/*", "retryAfter": 7], auth: false
            )
            #expect(set.status == 200)
            let r = try await h.vm()
            #expect(r.status == 429)
            #expect(r.header("retry-after") == "7")
            #expect(r.errorCode == "TooManyRequests")
            #expect(try await h.vm().status == 200)  // times defaults to 1
        }
    }

    @Test func errorFaultsHonourSkipAndTimes() async throws {
        try await withEmulator({
            $0.faults = [
                FaultRule(
                    kind: "error", method: "PUT", path: "*/disks/*", skip: 1, times: 2, status: 503,
                    code: "ServiceUnavailable")
            ]
        }) { h in
            #expect(try await h.putDisk("f1").status == 202)
            let second = try await h.putDisk("f2")
            #expect(second.status == 503)
            #expect(second.errorCode == "ServiceUnavailable")
            #expect(try await h.putDisk("f3").status == 503)
            #expect(try await h.putDisk("f4").status == 202)
        }
    }

    @Test func dropFaultClosesTheConnection() async throws {
        try await withEmulator { h in
            _ = try await h.send(
                "PUT", "/_emulator/faults",
                json: [["kind": "drop", "path": "/subscriptions/*/resourcegroups/*/virtualmachines/*"]], auth: false)
            await #expect(throws: (any Error).self) { _ = try await h.vm() }
            #expect(try await h.vm().status == 200)
            let log = try await h.send("GET", "/_emulator/requests", auth: false)
            #expect(log.json?.arrayValue?.contains { $0["status"]?.intValue == 0 } == true)
        }
    }

    @Test func failOperationFaultEndsTheOperationFailed() async throws {
        try await withEmulator { h in
            _ = try await h.send(
                "POST", "/_emulator/faults",
                json: [
                    "kind": "failOperation", "method": "PUT", "path": "*/disks/doomed",
                    "code": "InternalDiskManagementError", "message": "boom"
                ], auth: false)
            let r = try await h.putDisk("doomed")
            #expect(r.status == 202)
            let done = try await h.waitForOperation(r)
            #expect(done.json?["status"]?.stringValue == "Failed")
            #expect(done.json?.at("error", "code")?.stringValue == "InternalDiskManagementError")
            let loc = try await h.send("GET", try #require(r.header("location")))
            #expect(loc.errorCode == "InternalDiskManagementError")
            #expect(
                try await h.send("GET", h.diskPath("doomed")).json?.at("properties", "provisioningState")?.stringValue
                    == "Failed")
        }
    }

    @Test func tokenOutageFaultHitsEveryTokenEndpoint() async throws {
        try await withEmulator(getToken: false, { $0.faults = [FaultRule(kind: "tokenOutage", times: 2)] }) { h in
            let v2 = try await h.send(
                "POST", "/\(h.configuration.tenant)/oauth2/v2.0/token", raw: Data("grant_type=client_credentials".utf8),
                auth: false)
            #expect(v2.status == 503)
            #expect(v2.json?["error"]?.stringValue == "temporarily_unavailable")
            let imds = try await h.send(
                "GET", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/",
                headers: ["Metadata": "true"], auth: false)
            #expect(imds.status == 503)
            #expect(try await h.clientSecretToken().isEmpty == false)
        }
    }

    @Test func latencyCanBeSetAtRunTime() async throws {
        try await withEmulator { h in
            let set = try await h.send("PUT", "/_emulator/latency", json: ["diskCreate": 60], auth: false)
            #expect(set.json?["diskCreate"]?.doubleValue == 60)
            let r = try await h.putDisk("slow")
            let status = try await h.send("GET", try #require(r.header("azure-asyncoperation")))
            #expect(status.json?["status"]?.stringValue == "InProgress")
            let bad = try await h.send("PUT", "/_emulator/latency", json: ["diskCreat": 1], auth: false)
            #expect(bad.status == 400)
        }
    }

    @Test func inventoryAndResetDetachEverything() async throws {
        try await withEmulator { h in
            try await h.createDisk("r0")
            let a = try await h.send(
                "PATCH", h.vmPath,
                json: [
                    "properties": [
                        "storageProfile": [
                            "dataDisks": [
                                ["lun": 0, "createOption": "Attach", "managedDisk": ["id": .string(h.diskID("r0"))]]
                            ]
                        ]
                    ]
                ])
            _ = try await h.waitForOperation(a)
            let inv = try await h.send("GET", "/_emulator/inventory", auth: false)
            #expect(inv.json?["devices"]?.arrayValue?.count == 1)
            #expect(
                inv.json?["devices"]?.arrayValue?.first?["lunLink"]?.stringValue?.hasSuffix("/disk/azure/scsi1/lun0")
                    == true)
            #expect(
                inv.json?["resources"]?.arrayValue?.contains {
                    $0["kind"]?.stringValue == "disk" && $0["diskState"]?.stringValue == "Attached"
                } == true)
            let reset = try await h.send("POST", "/_emulator/reset", auth: false)
            #expect(reset.status == 200)
            #expect(reset.json?["devices"]?.arrayValue?.isEmpty == true)
            #expect(await h.backend.attached.isEmpty)
            #expect(await h.backend.blobs.isEmpty)
            #expect(try await h.send("GET", h.diskPath("r0")).status == 404)
            let vm = try await h.vm()
            #expect(vm.status == 200)
            #expect(vm.json?.at("properties", "storageProfile", "dataDisks")?.arrayValue?.isEmpty == true)
        }
    }

    @Test func stateAndInFlightOperationsSurviveARestart() async throws {
        let dir = Harness.freshDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // One backend for both runs, standing in for disk files that outlive the process.
        let backend = InMemoryDiskBackend(deviceRoot: dir.appendingPathComponent("dev").path)
        let first = try await Harness.start(stateDirectory: dir, backend: backend)
        let statusURL: String
        let token: String
        do {
            try await first.createDisk("keep")  // waits through the latency
            let a = try await first.patchAttach("keep", lun: 0)
            _ = try await first.waitForOperation(a)
            // Slow disk creation from now on, so the next one is still running when we stop
            // (20 s: a loaded CI machine once took more than 5 s between the PUT and the stop).
            _ = try await first.send("PUT", "/_emulator/latency", json: ["diskCreate": 20], auth: false)
            let inflight = try await first.putDisk("inflight")
            statusURL = try #require(inflight.header("azure-asyncoperation"))
            token = first.token
        } catch {
            await first.stop(removeState: false)
            throw error
        }
        await first.stop(removeState: false)
        #expect(await backend.attached.isEmpty)  // stop detaches everything
        let saved = try JSON.decode(Data(contentsOf: dir.appendingPathComponent("state.json")))
        let ops = saved["operations"]?.objectValue?.values.map { $0 } ?? []
        #expect(ops.contains { $0["status"]?.stringValue == "InProgress" && $0["kind"]?.stringValue == "diskCreate" })

        var second = try await Harness.start(stateDirectory: dir, backend: backend, getToken: false)
        do {
            second.token = token  // tokens survive: the signing key is in the state
            let path = URL(string: statusURL)!
            let newURL = second.endpoints.arm + path.path + "?" + (path.query ?? "")
            let done = try await second.waitForOperation(
                HTTPResult(status: 202, headers: ["azure-asyncoperation": newURL], body: Data()))
            #expect(done.json?["status"]?.stringValue == "Succeeded")
            #expect(
                try await second.send("GET", second.diskPath("inflight")).json?.at("properties", "provisioningState")?
                    .stringValue == "Succeeded")
            let keep = try await second.send("GET", second.diskPath("keep"))
            #expect(keep.json?.at("properties", "diskState")?.stringValue == "Attached")
            // the attached disk is back on its LUN after the restart
            #expect(await backend.blob(atLUN: 0) == Emulator.normalizeID(second.diskID("keep")))
            let vm = try await second.vm()
            #expect(vm.json?.at("properties", "storageProfile", "dataDisks")?.arrayValue?.count == 1)
        } catch {
            await second.stop(removeState: false)
            throw error
        }
        await second.stop(removeState: false)
    }
}

@Suite("Emulator throughput (reported, not asserted)")
struct ThroughputTests {
    @Test func smallGETsPerSecond() async throws {
        try await withEmulator { h in
            let total = 2000
            let workers = 8
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<workers {
                    group.addTask {
                        for _ in 0..<(total / workers) { _ = try await h.vm() }
                    }
                }
                try await group.waitForAll()
            }
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print(
                "kiln emulator throughput: \(total) authenticated VM GETs over \(workers) connections in \(String(format: "%.2f", seconds)) s = \(Int(Double(total) / seconds)) requests/s"
            )
        }
    }
}
