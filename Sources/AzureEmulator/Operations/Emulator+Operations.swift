import Foundation
import Logging

/// Long-running operations: creation, the polling headers, the status endpoint and completion.
extension Emulator {
    /// Starts an operation. A `failOperation` fault makes it end Failed with the fault's code.
    func startOperation(
        kind: ResourceKind, method: String, resourceID: String, opKind: String, duration: Double,
        completion: Completion, failOperation: FaultRule?
    ) -> OperationRecord {
        var op = OperationRecord(
            id: UUID().uuidString.lowercased(), family: kind.operationFamily,
            location: Self.normalizeLocation(config.location),
            method: method, resourceID: resourceID, kind: opKind, startTime: Date(), duration: max(0, duration),
            completion: completion)
        if let f = failOperation {
            op.failure = FailureInfo(
                code: f.code ?? "InternalExecutionError",
                message: f.message ?? "An internal execution error occurred (injected by the emulator).",
                status: f.status ?? 500)
        }
        state.operations[op.id] = op
        inProgress += 1
        markDirty()
        return op
    }

    func statusURL(_ op: OperationRecord, _ request: EmulatorRequest, monitor: Bool) -> String {
        let v = request.apiVersion ?? "2024-03-02"
        return
            "\(request.baseURL)/subscriptions/\(config.subscription)/providers/Microsoft.Compute/locations/\(op.location)/\(op.family)/\(op.id)?\(monitor ? "monitor=true&" : "")api-version=\(v)"
    }

    func lroHeaders(_ op: OperationRecord, _ request: EmulatorRequest) -> [(String, String)] {
        [
            ("Azure-AsyncOperation", statusURL(op, request, monitor: false)),
            ("Location", statusURL(op, request, monitor: true)),
            ("Retry-After", String(config.retryAfterSeconds))
        ]
    }

    /// Finishes every operation whose time is up. Called before each request and by a timer,
    /// so attaches happen on schedule even when no client polls.
    func advance() async {
        guard inProgress > 0 else { return }
        let now = Date()
        let ready = state.operations.values.filter { !$0.isDone && !$0.completing && $0.endTime <= now }
            .sorted { $0.startTime < $1.startTime }
        // A VM's attach and detach operations that share a disk or a LUN take effect in the
        // order they were accepted (`waitsForEarlierDiskOperation`): one whose time is up stays
        // in progress while an earlier one is still running or completing, unless that one
        // completes before it in this same pass.
        var due: [OperationRecord] = []
        var claimed = Set<String>()
        for op in ready where !waitsForEarlierDiskOperation(op, completingBefore: claimed) {
            due.append(op)
            claimed.insert(op.id)
        }
        // Claim them all before the first suspension: another advance() (the next request
        // arrives while a completion awaits the backend) must not pick the same operations,
        // or they complete twice and `inProgress` drops to 0 with operations still running,
        // which stops every later completion (seen with 8 concurrent builds in `make bench`).
        for op in due { state.operations[op.id]?.completing = true }
        for op in due { await complete(op.id) }
        if dirty { persist() }
    }

    /// Whether `op`, an attach/detach of a VM's data disks, must wait for an earlier one on the
    /// same VM that touches one of its disks or LUNs and is not done yet (still running, or
    /// completing in another `advance()` suspended in the backend), other than those in
    /// `completingBefore`. Completing out of order breaks the attachment records: a detach
    /// accepted while the disk's attach still runs (a client that goes on before the attach
    /// ends, e.g. Packer finding the `lun<N>` link of the disk whose detach is still running
    /// at that LUN) has a shorter latency, so it completed first, found no attachment record,
    /// marked the disk Unattached and left the device alone; the attach then put the disk on
    /// a loop device with `managedBy` set and nothing left to detach it. Likewise an attach at
    /// a LUN whose previous disk's detach still runs failed with "LUN in use" when it came due
    /// first.
    func waitsForEarlierDiskOperation(_ op: OperationRecord, completingBefore: Set<String> = []) -> Bool {
        guard case .vmDisks(let vmKey, let attach, let detach, _) = op.completion else { return false }
        let disks = Set((attach + detach).map(\.diskKey))
        let luns = Set((attach + detach).map(\.lun).filter { $0 >= 0 })
        return state.operations.values.contains { other in
            guard other.id != op.id, !other.isDone, !completingBefore.contains(other.id),
                other.startTime < op.startTime,
                case .vmDisks(let otherVMKey, let otherAttach, let otherDetach, _) = other.completion,
                otherVMKey == vmKey
            else { return false }
            return (otherAttach + otherDetach).contains { disks.contains($0.diskKey) || luns.contains($0.lun) }
        }
    }

    func complete(_ opID: String) async {
        guard var op = state.operations[opID], !op.isDone else { return }
        var failure = op.failure
        switch op.completion {
        case .provision(let key):
            if var r = state.resources[key] {
                r.setProvisioningState(failure == nil ? "Succeeded" : "Failed")
                if failure != nil, r.replication != nil { r.replication?.failed = true }
                state.resources[key] = r
            }
        case .delete(let key):
            if failure == nil, let r = state.resources[key] {
                for blob in r.blobs {
                    do { try await backend.delete(id: blob) } catch {
                        logger.warning("deleting blob \(blob) of \(r.id) failed: \(error)")
                    }
                }
                state.resources[key] = nil
            } else if var r = state.resources[key] {
                r.setProvisioningState("Succeeded")
                state.resources[key] = r
            }
        case .vmDisks(let vmKey, let attach, let detach, let previous):
            failure = await completeVMDisks(
                vmKey: vmKey, attach: attach, detach: detach, previous: previous, failure: failure)
            // attachDetachDataDisks' result (its Location URL) is the VM's storage profile.
            if op.method == "POST", let sp = state.resources[vmKey]?.body.at("properties", "storageProfile") {
                op.result = sp
            }
        case .access(let key, let grant):
            if failure == nil, var r = state.resources[key] {
                let attached = r.body["managedBy"]?.stringValue != nil
                r.body.set(
                    ["properties", "diskState"], .string(grant ? "ActiveSAS" : (attached ? "Attached" : "Unattached")))
                state.resources[key] = r
            }
        }
        op.failure = failure
        op.status = failure == nil ? "Succeeded" : "Failed"
        op.completing = false
        state.operations[opID] = op
        inProgress = max(0, inProgress - 1)
        pruneOperations()
        markDirty()
    }

    /// Forgets finished operations older than a day once there are many, so a long-running
    /// emulator's state stays small (clients poll an operation within minutes).
    func pruneOperations() {
        guard state.operations.count > 2000 else { return }
        let cutoff = Date().addingTimeInterval(-86_400)
        state.operations = state.operations.filter { !$0.value.isDone || $0.value.endTime > cutoff }
    }

    /// The operation-status endpoint (`Azure-AsyncOperation`), and with `monitor=true` the
    /// `Location` flavour that answers 202 until done and then the operation's result.
    func operationStatus(_ request: EmulatorRequest, opID: String) async throws(ARMError) -> EmulatorResponse {
        guard request.method == "GET" else {
            throw ARMError(
                405, "MethodNotAllowed", "The requested resource does not support http method '\(request.method)'.")
        }
        guard let op = state.operations[opID.lowercased()] else {
            throw ARMError(404, "ResourceNotFound", "The operation '\(opID)' was not found.")
        }
        let retry = [("Retry-After", String(config.retryAfterSeconds))]
        if request.query["monitor"]?.lowercased() == "true" {
            if !op.isDone { return .empty(202, headers: [("Location", statusURL(op, request, monitor: true))] + retry) }
            if let f = op.failure { throw ARMError(f.status, f.code, f.message) }
            switch op.method {
            case "DELETE": return .empty(204)
            case "POST": return .json(200, op.result ?? [:])
            default:
                if let r = resource(Self.normalizeID(op.resourceID)) { return .json(200, publicBody(r, request)) }
                return .empty(204)
            }
        }
        var body: JSON = [
            "name": .string(op.id), "status": .string(op.status), "startTime": .string(Timestamp.string(op.startTime))
        ]
        if op.isDone {
            body["endTime"] = .string(Timestamp.string(op.endTime))
            if let f = op.failure {
                body["error"] = ["code": .string(f.code), "message": .string(f.message)]
            } else if op.family == "DiskOperations", op.method != "DELETE", op.method != "POST",
                let r = resource(Self.normalizeID(op.resourceID))
            {
                body["properties"] = ["output": publicBody(r, request)]
            }
            if op.method == "POST", op.failure == nil, let result = op.result, result.objectValue?.isEmpty == false {
                body["properties"] = ["output": result]
            }
            return .json(200, body)
        }
        let elapsed = Date().timeIntervalSince(op.startTime)
        if op.duration > 0 { body["percentComplete"] = .number(min(99, (elapsed / op.duration * 100).rounded())) }
        return .json(200, body, headers: retry)
    }
}
