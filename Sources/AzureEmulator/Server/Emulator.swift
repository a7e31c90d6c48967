import Foundation
import Logging
import Model

/// The emulator's brain: every resource, operation, token rule and log line lives here. One
/// actor owns all of it, so concurrent requests are serialised at the state level; backend
/// calls suspend the actor, so handlers reserve what they change before awaiting.
actor Emulator {
    let config: EmulatorConfiguration
    let backend: any DiskBackend
    let store: StateStore
    let logger: Logger
    let apiVersions: APIVersionPolicy
    let signer: TokenSigner
    let certificates: [String: [ClientCertificate]]
    /// Builder VM 0's device root.
    let deviceRoot: String
    /// Every builder VM's device root, by index.
    let deviceRoots: [String]
    /// Every builder VM's resource key (lower-cased ARM id), by index.
    let builderVMKeys: [String]

    var state: PersistentState
    var latency: LatencyModel
    var faults: [FaultRule]
    var faultHits: [Int]
    var requestLog = RequestLog()
    var inProgress = 0
    var dirty = false
    /// Set by the server once it listens; used where no request is at hand.
    var listenBase = "http://127.0.0.1"
    var endpointsDocument: JSON?
    /// LUNs of builder VMs whose device links a `noDevice` fault removed.
    var hiddenDeviceLUNs: Set<BuilderLUN> = []
    /// Tokens whose signature was already checked → their claims (bounded).
    var verifiedTokens: [String: JSON] = [:]
    /// `aud + " " + host` → whether ARM accepts that audience (URL parsing is slow).
    var audienceDecisions: [String: Bool] = [:]
    /// The Blob service's containers and blobs (kept in `STATE/blob-storage`).
    var blobStore: BlobStore
    /// Seconds added to the wall clock for the Blob service (`/_emulator/clock`), so leases expire on demand.
    var storageClockOffset: TimeInterval = 0

    init(configuration: EmulatorConfiguration, stateDirectory: URL, backend: any DiskBackend, logger: Logger) throws {
        config = configuration
        self.backend = backend
        self.logger = logger
        store = StateStore(directory: stateDirectory)
        blobStore = try BlobStore(stateDirectory: stateDirectory)
        apiVersions = APIVersionPolicy(extra: configuration.extraAPIVersions)
        let root = configuration.deviceRoot ?? stateDirectory.appendingPathComponent("dev").path
        deviceRoot = root
        deviceRoots = (0..<configuration.builderVMCount).map { BuilderVM.deviceRoot(ofVM: $0, base: root) }
        builderVMKeys = (0..<configuration.builderVMCount).map { configuration.builderVMID(at: $0).lowercased() }
        var certs: [String: [ClientCertificate]] = [:]
        for c in configuration.clients {
            certs[c.clientID.lowercased()] = try ClientCertificate.load(c.certificates, client: c.clientID)
        }
        certificates = certs

        var s = try store.load() ?? PersistentState()
        if s.signingKey.isEmpty { s.signingKey = TokenSigner.newKeyBase64() }
        for k in s.operations.keys { s.operations[k]?.completing = false }
        signer = TokenSigner(keyBase64: s.signingKey)
        latency = s.latency ?? configuration.latency
        let rules = s.faults ?? configuration.faults
        faults = rules
        // Counts survive a restart with their rules, so a rule for N requests fires N times.
        faultHits =
            s.faultHits.flatMap { $0.count == rules.count ? $0 : nil } ?? Array(repeating: 0, count: rules.count)
        state = s
        inProgress = s.operations.values.filter { !$0.isDone }.count
        Self.seed(&state, configuration)
    }

    /// Makes sure the resource groups and the builder VMs exist.
    static func seed(_ state: inout PersistentState, _ config: EmulatorConfiguration) {
        for rg in [config.builderVM.resourceGroup] + config.resourceGroups
        where state.resourceGroups[rg.lowercased()] == nil {
            state.resourceGroups[rg.lowercased()] = resourceGroupBody(
                config: config, name: rg, location: config.location, tags: nil)
        }
        for index in 0..<config.builderVMCount {
            let vmKey = config.builderVMID(at: index).lowercased()
            if state.resources[vmKey] == nil {
                state.resources[vmKey] = StoredResource(kind: .virtualMachine, body: builderVMBody(config, vm: index))
                state.vmETags[vmKey] = 1
            }
        }
        seedDiskEncryptionSets(&state, config)
    }

    static func resourceGroupBody(config: EmulatorConfiguration, name: String, location: String, tags: JSON?) -> JSON {
        var rg: JSON = [
            "id": .string("/subscriptions/\(config.subscription)/resourceGroups/\(name)"),
            "name": .string(name), "type": "Microsoft.Resources/resourceGroups",
            "location": .string(location), "properties": ["provisioningState": "Succeeded"]
        ]
        if let tags { rg["tags"] = tags }
        return rg
    }

    /// Builder VM 0's resource key.
    var builderVMKey: String { builderVMKeys[0] }

    /// The builder VM whose resource key is `vmKey`, or nil for any other VM.
    func builderVMIndex(ofKey vmKey: String) -> Int? { builderVMKeys.firstIndex(of: vmKey) }

    // MARK: Entry point

    func handle(_ request: EmulatorRequest) async -> EmulatorResponse {
        let started = Date()
        let seq = requestLog.nextSequence()
        let requestID = UUID().uuidString.lowercased()
        await advance()

        var failOperation: FaultRule?
        var response: EmulatorResponse
        if let fault = matchFault(request) {
            if fault.kind == "failOperation" {
                failOperation = fault
                response = await route(request, failOperation: failOperation)
            } else {
                response = faultResponse(fault, request)
            }
        } else {
            response = await route(request, failOperation: nil)
        }

        if !response.drop, !response.headers.contains(where: { $0.0 == "x-ms-request-id" }) {
            response.headers.append(("x-ms-request-id", requestID))
            let correlation = request.header("x-ms-correlation-request-id") ?? requestID
            response.headers.append(("x-ms-correlation-request-id", correlation))
            if let cid = request.header("x-ms-client-request-id") {
                response.headers.append(("x-ms-client-request-id", cid))
            }
            let lower = request.path.lowercased()
            if lower.hasPrefix("/subscriptions") {
                let stamp = Self.routingStamp(started)
                response.headers.append(
                    ("x-ms-routing-request-id", "\(config.location.uppercased()):\(stamp):\(requestID)"))
                switch request.method {
                case "GET", "HEAD":
                    response.headers.append(("x-ms-ratelimit-remaining-subscription-reads", "249"))
                    response.headers.append(("x-ms-ratelimit-remaining-subscription-global-reads", "3749"))
                case "DELETE":
                    response.headers.append(("x-ms-ratelimit-remaining-subscription-deletes", "199"))
                    response.headers.append(("x-ms-ratelimit-remaining-subscription-global-deletes", "2999"))
                default:
                    response.headers.append(("x-ms-ratelimit-remaining-subscription-writes", "199"))
                    response.headers.append(("x-ms-ratelimit-remaining-subscription-global-writes", "2999"))
                }
            }
        }
        requestLog.append(
            RequestLogEntry(
                sequence: seq, time: started, method: request.method, host: request.host, path: request.path,
                apiVersion: request.apiVersion, status: response.drop ? 0 : response.status,
                durationMs: Int(Date().timeIntervalSince(started) * 1000), viaProxy: request.viaProxy))
        if let path = config.exchangeLog { ExchangeLog(path: path).append(request, response) }
        if dirty { persist() }
        return response
    }

    /// `yyyyMMddTHHmmssZ` in UTC, without a DateFormatter (too slow to build per request).
    static func routingStamp(_ d: Date) -> String {
        var t = time_t(d.timeIntervalSince1970)
        var tm = tm()
        gmtime_r(&t, &tm)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return
            "\(tm.tm_year + 1900)\(two(tm.tm_mon + 1))\(two(tm.tm_mday))T\(two(tm.tm_hour))\(two(tm.tm_min))\(two(tm.tm_sec))Z"
    }

    func route(_ request: EmulatorRequest, failOperation: FaultRule?) async -> EmulatorResponse {
        let lower = request.segments.map { $0.lowercased() }
        do {
            if lower.first == "_emulator" { return try await control(request, lower) }
            if lower.first == "blob" { return await blobService(request) }
            if let account = BlobAddress.account(ofHost: request.host) {
                // `https://<account>.blob.core.windows.net/<container>/<blob>` through the proxy.
                var hosted = request
                hosted.path = "/blob/\(account)" + request.path
                return await blobService(hosted)
            }
            if lower == ["metadata", "endpoints"] { return try cloudMetadata(request) }
            if lower.first == "metadata" { return await imds(request, lower, vm: 0) }
            if lower.first == "_vm" { return await builderVMIMDS(request, lower) }
            if lower.first == "subscriptions" || lower.first == "tenants" || lower.first == "providers" {
                try authenticate(request)
                return try await arm(request, lower, failOperation: failOperation)
            }
            if let r = await identity(request, lower) { return r }
            throw ARMError(404, "NotFound", "No route matches \(request.method) \(request.path) on this emulator.")
        } catch let e as ARMError {
            return e.response
        } catch {
            return ARMError(500, "InternalServerError", "The emulator failed: \(error)").response
        }
    }

    // MARK: Faults

    func matchFault(_ request: EmulatorRequest) -> FaultRule? {
        // The control surface is never faulted, or a test could not remove its faults.
        if request.path.lowercased().hasPrefix("/_emulator") { return nil }
        for (i, f) in faults.enumerated()
        where f.matches(method: request.method, path: request.path, body: request.body) {
            if countHit(of: i) { return f }
        }
        return nil
    }

    /// Whether a `noDevice` rule hides the device of `diskID` being attached now (counted
    /// per matching attach, with `skip` and `times` as for request faults).
    func hidesDevice(diskID: String) -> Bool {
        for (i, f) in faults.enumerated() where f.kind == "noDevice" {
            if let path = f.path, !Glob.matches(pattern: path.lowercased(), text: diskID.lowercased()) { continue }
            if countHit(of: i) { return true }
        }
        return false
    }

    /// Counts one more match of rule `i` (kept through a restart) and says whether this one
    /// gets the fault: those numbered `skip + 1` … `skip + times` (all after `skip` for 0).
    private func countHit(of i: Int) -> Bool {
        faultHits[i] += 1
        markDirty()
        let (n, f) = (faultHits[i], faults[i])
        return n > f.skip && (f.times == 0 || n <= f.skip + f.times)
    }

    /// Removes the links of an attached disk, as if its device never appeared.
    func hideDevice(_ slot: BuilderLUN) {
        let links = DeviceLinks(deviceRoot: deviceRoots[slot.vm])
        for link in links.existingLinks(lun: slot.lun) { links.remove(link: link) }
        hiddenDeviceLUNs.insert(slot)
    }

    /// Once no `noDevice` rule is left, makes the hidden devices' links (partitions first,
    /// as udev does), for the disks still attached.
    func revealHiddenDevicesIfNoRuleLeft() {
        guard !faults.contains(where: { $0.kind == "noDevice" }) else { return }
        for slot in hiddenDeviceLUNs.sorted() {
            guard let rec = state.attachments.first(where: { $0.slot == slot }) else { continue }
            let (links, lun) = (DeviceLinks(deviceRoot: deviceRoots[slot.vm]), slot.lun)
            do {
                for partition in rec.device.partitions {
                    guard let n = partition.split(separator: "p").last.flatMap({ Int($0) }) else { continue }
                    try links.place(link: links.partitionLink(lun, n), target: partition)
                }
                try links.place(link: links.lunLink(lun), target: rec.device.loopDevice)
            } catch {
                state.violations.append(
                    Violation(time: Date(), message: "making the hidden device links of \(slot) failed: \(error)"))
            }
        }
        hiddenDeviceLUNs = []
    }

    func faultResponse(_ f: FaultRule, _ request: EmulatorRequest) -> EmulatorResponse {
        switch f.kind {
        case "drop":
            return .dropped
        case "throttle":
            let after = f.retryAfter ?? 1
            return ARMError(
                429, f.code ?? "TooManyRequests",
                f.message
                    ?? "The request is being throttled as the limit has been reached for operation type - Read_ObservationWindow_00:05:00.",
                headers: [("Retry-After", String(after))]
            ).response
        case "tokenOutage":
            let body: JSON = [
                "error": "temporarily_unavailable",
                "error_description": .string(
                    "AADSTS50196: The server terminated an operation because it encountered a client request loop or the service is temporarily unavailable. Trace ID: \(UUID().uuidString.lowercased())"
                ),
                "error_codes": [50196], "timestamp": .string(Timestamp.string(Date()))
            ]
            return .json(f.status ?? 503, body, headers: [("Retry-After", String(f.retryAfter ?? 1))])
        default:
            var headers: [(String, String)] = []
            if let after = f.retryAfter { headers.append(("Retry-After", String(after))) }
            return ARMError(
                f.status ?? 500, f.code ?? "InternalServerError",
                f.message ?? "An internal server error occurred (injected by the emulator).", headers: headers
            ).response
        }
    }

    // MARK: Persistence

    func persist() {
        dirty = false
        state.latency = latency
        state.faults = faults
        state.faultHits = faultHits
        do { try store.save(state) } catch {
            logger.error("cannot save emulator state to \(store.file.path): \(error)")
        }
    }

    func markDirty() { dirty = true }

    // MARK: Lookup helpers

    func resource(_ key: String) -> StoredResource? { state.resources[key.lowercased()] }

    /// Resolves an ARM id from a request body to a stored resource of one of `kinds`.
    func resolve(_ id: String, kinds: [ResourceKind]) -> (String, StoredResource)? {
        let key = Self.normalizeID(id)
        guard let r = state.resources[key], kinds.contains(r.kind) else { return nil }
        return (key, r)
    }

    /// Lower-cased, leading slash, no trailing slash: how resource keys are spelled.
    static func normalizeID(_ id: String) -> String {
        var s = id.lowercased()
        if !s.hasPrefix("/") { s = "/" + s }
        while s.hasSuffix("/") { s.removeLast() }
        return s
    }

    static func normalizeLocation(_ l: String) -> String { RegionName.normalized(l) }
}
