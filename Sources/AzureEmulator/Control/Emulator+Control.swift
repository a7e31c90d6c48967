import Foundation
import Logging

/// The emulator's own control surface under `/_emulator/` (not Azure's; no auth): inventory,
/// request log, latency and faults at run time, reset, builder VMs and their crashes.
extension Emulator {
    func control(_ request: EmulatorRequest, _ lower: [String]) async throws(ARMError) -> EmulatorResponse {
        let what = lower.count > 1 ? lower[1] : ""
        switch (request.method, what) {
        case ("GET", "inventory"):
            return .json(200, inventory())
        case ("GET", "requests"):
            let since = request.query["since"].flatMap(Int.init) ?? 0
            return .json(200, requestLog.json(since: since))
        case ("DELETE", "requests"):
            requestLog.clear()
            return .empty(204)
        case ("GET", "latency"):
            return .json(200, encodeJSON(latency))
        case ("PUT", "latency"):
            do { latency = try JSONDecoder().decode(LatencyModel.self, from: request.body) } catch {
                throw ARMError(400, "InvalidRequestContent", "The latency model is invalid: \(error)")
            }
            markDirty()
            return .json(200, encodeJSON(latency))
        case ("GET", "faults"):
            return .json(200, encodeJSON(faults))
        case ("PUT", "faults"), ("POST", "faults"):
            let rules: [FaultRule]
            do {
                if request.method == "POST" {
                    rules = faults + [try JSONDecoder().decode(FaultRule.self, from: request.body)]
                } else {
                    rules = try JSONDecoder().decode([FaultRule].self, from: request.body)
                }
            } catch {
                throw ARMError(400, "InvalidRequestContent", "The fault rules are invalid: \(error)")
            }
            if request.method == "PUT" {
                faultHits = Array(repeating: 0, count: rules.count)
            } else {
                faultHits.append(0)
            }
            faults = rules
            revealHiddenDevicesIfNoRuleLeft()
            markDirty()
            return .json(200, encodeJSON(faults))
        case ("DELETE", "faults"):
            faults = []
            faultHits = []
            revealHiddenDevicesIfNoRuleLeft()
            markDirty()
            return .empty(204)
        case ("POST", "reset"):
            await reset()
            return .json(200, inventory())
        case ("GET", "clock"):
            return .json(200, ["offsetSeconds": .number(storageClockOffset)])
        case ("PUT", "clock"):
            // The Blob service's clock: `{"offsetSeconds": N}` moves it N seconds ahead of the wall clock.
            guard let offset = (try? JSON.decode(request.body))?["offsetSeconds"]?.doubleValue else {
                throw ARMError(400, "InvalidRequestContent", "The clock needs {\"offsetSeconds\": number}.")
            }
            storageClockOffset = offset
            return .json(200, ["offsetSeconds": .number(storageClockOffset)])
        case ("GET", "endpoints"):
            return .json(200, endpointsDocument ?? [:])
        case (_, "builder-vms"):
            return try await builderVMControl(request, lower)
        default:
            throw ARMError(
                404, "NotFound",
                "Unknown control path \(request.method) \(request.path); known: GET inventory, GET|DELETE requests, GET|PUT latency, GET|PUT|POST|DELETE faults, POST reset, GET endpoints, GET builder-vms, POST builder-vms/<i>/crash."
            )
        }
    }

    func encodeJSON(_ value: some Encodable) -> JSON {
        guard let data = try? JSONEncoder().encode(value), let j = try? JSON.decode(data) else { return .null }
        return j
    }

    func inventory() -> JSON {
        let resources: [JSON] = state.resources.sorted { $0.key < $1.key }.map { _, r in
            var o: JSON = ["id": .string(r.id), "kind": .string(r.kind.rawValue), "type": .string(r.kind.armType)]
            o["provisioningState"] = r.provisioningState.map { .string($0) } ?? .null
            if r.kind == .disk || r.kind == .snapshot {
                o["diskState"] = r.body.at("properties", "diskState") ?? .null
                o["diskSizeGB"] = r.body.at("properties", "diskSizeGB") ?? .null
                o["managedBy"] = r.body["managedBy"] ?? .null
            }
            if r.kind == .virtualMachine {
                o["dataDisks"] = .array(
                    (r.body.at("properties", "storageProfile", "dataDisks")?.arrayValue ?? []).map {
                        [
                            "lun": $0["lun"] ?? .null, "id": $0.at("managedDisk", "id") ?? .null,
                            "toBeDetached": $0["toBeDetached"] ?? false
                        ]
                    })
                o["etag"] = .string(etag(Self.normalizeID(r.id)))
            }
            o["blobs"] = .array(r.blobs.map { .string($0) })
            return o
        }
        let operations: [JSON] = state.operations.values.sorted { $0.startTime < $1.startTime }.map { op in
            var o: JSON = [
                "id": .string(op.id), "kind": .string(op.kind), "method": .string(op.method),
                "resourceId": .string(op.resourceID),
                "status": .string(op.status), "startTime": .string(Timestamp.string(op.startTime)),
                "durationSeconds": .number(op.duration)
            ]
            if let f = op.failure { o["error"] = ["code": .string(f.code), "message": .string(f.message)] }
            return o
        }
        let devices: [JSON] = state.attachments.sorted { $0.slot < $1.slot }.map { a in
            [
                "vm": JSON(a.vm), "lun": JSON(a.lun), "diskId": .string(a.diskID),
                "loopDevice": .string(a.device.loopDevice),
                "lunLink": .string(a.device.lunLink), "partitions": .array(a.device.partitions.map { .string($0) })
            ]
        }
        let violations: [JSON] = state.violations.map {
            ["time": .string(Timestamp.string($0.time)), "message": .string($0.message)]
        }
        return [
            "resources": .array(resources),
            "resourceGroups": .array(
                state.resourceGroups.values.compactMap { $0["name"] }.sorted {
                    ($0.stringValue ?? "") < ($1.stringValue ?? "")
                }),
            "operations": .array(operations), "devices": .array(devices), "violations": .array(violations),
            "builderVM": .string(config.builderVMID), "deviceRoot": .string(deviceRoot),
            "builderVMs": builderVMsJSON()
        ]
    }

    /// Detaches everything and deletes every resource, then seeds the builder VM again.
    func reset() async {
        await backend.detachAll()
        for r in state.resources.values {
            for blob in r.blobs { try? await backend.delete(id: blob) }
        }
        let key = state.signingKey
        state = PersistentState()
        state.signingKey = key
        inProgress = 0
        Self.seed(&state, config)
        do { try blobStore.removeAll() } catch { logger.error("cannot reset the blob storage: \(error)") }
        storageClockOffset = 0
        markDirty()
        persist()
    }

    /// Shutdown: free every loop device (the VM model keeps its disks; a restart re-attaches).
    func shutdown() async {
        await backend.detachAll()
        state.attachments.removeAll()
        persist()
    }

    /// Logs a request answered before it reached `handle` (refused by the proxy, body too large).
    func logUnhandled(
        method: String, host: String, path: String, apiVersion: String? = nil, status: Int, viaProxy: Bool
    ) {
        let seq = requestLog.nextSequence()
        requestLog.append(
            RequestLogEntry(
                sequence: seq, time: Date(), method: method, host: host, path: path,
                apiVersion: apiVersion, status: status, durationMs: 0, viaProxy: viaProxy))
    }

    func setEndpoints(_ doc: JSON, listenBase: String) {
        endpointsDocument = doc
        self.listenBase = listenBase
    }
}
