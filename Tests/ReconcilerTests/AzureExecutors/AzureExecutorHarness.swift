import AzureEmulator
import Foundation
import Model
import Planner
import Providers
import TestSupport
import Testing

@testable import Reconciler

/// An emulator in this process with in-memory disks (no root, no loop devices), an ARM
/// client that polls fast, and a desired build whose temporary resources and outputs live
/// in the emulator's builder VM resource group.
struct AzureExecutorHarness {
    let server: EmulatorServer
    let endpoints: EmulatorEndpoints
    let connection: AzureConnection
    let state: TemporaryDirectory
    let arm: ArmClient
    let vm: ResourceID
    let devices: InMemoryBlockDevices
    let desired: DesiredBuild

    static let platformVersion = "24.04.202501010"

    /// `dataDisks` is the build's `disk.dataDisks` as YAML flow text (none when nil);
    /// `source` is the build's source as YAML flow text, with `SUB` and `RG` standing for the
    /// emulator's subscription and the builder VM's resource group.
    static func start(dataDisks: String? = nil, source: String? = nil) async throws -> AzureExecutorHarness {
        let state = try TemporaryDirectory("kiln-azure-executors")
        var configuration = EmulatorConfiguration()
        configuration.tls = false
        configuration.proxy = false
        configuration.retryAfterSeconds = 0
        let server = EmulatorServer(
            configuration: configuration, stateDirectory: state.url, backend: InMemoryDiskBackend())
        let endpoints: EmulatorEndpoints
        do { endpoints = try await server.start() } catch {
            state.remove()
            throw error
        }
        let cloud = AzureCloud.emulator(
            arm: URL(string: endpoints.arm)!, login: URL(string: endpoints.login), imds: URL(string: endpoints.imds))
        let env = [
            "AZURE_TENANT_ID": endpoints.credential.tenantId, "AZURE_CLIENT_ID": endpoints.credential.clientId,
            "AZURE_CLIENT_SECRET": endpoints.credential.clientSecret ?? ""
        ]
        let connection = try AzureConnection(
            cloud: cloud, credential: .environment, environment: env, caFile: endpoints.caFile)
        var arm = connection.arm
        // The emulator's latency is zero unless a test sets it: poll often.
        arm.polling = LongRunningPollPolicy(
            defaultInterval: .milliseconds(20), minimumInterval: .milliseconds(10), maximumInterval: .milliseconds(100))
        let vm = try ResourceID(parsing: endpoints.builderVMId)
        let desired = try makeDesired(
            subscription: vm.subscription, resourceGroup: vm.resourceGroup, location: endpoints.location,
            dataDisks: dataDisks, source: source)
        return AzureExecutorHarness(
            server: server, endpoints: endpoints, connection: connection, state: state, arm: arm, vm: vm,
            devices: InMemoryBlockDevices(), desired: desired)
    }

    func stop() async {
        try? await connection.shutdown()
        await server.stop()
        state.remove()
    }

    /// Runs `body` with a started harness and stops it afterwards, whatever happens.
    static func with(
        dataDisks: String? = nil, source: String? = nil, _ body: (AzureExecutorHarness) async throws -> Void
    ) async throws {
        let h = try await start(dataDisks: dataDisks, source: source)
        do {
            try await body(h)
        } catch {
            await h.stop()
            throw error
        }
        await h.stop()
    }

    static func makeDesired(
        subscription: String, resourceGroup: String, location: String, dataDisks: String?, source: String?
    ) throws -> DesiredBuild {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let disk = dataDisks.map { "\n    disk:\n      dataDisks: \($0)" } ?? ""
        let sourceYAML = (source ?? "{platformImage: 'Canonical:ubuntu-24_04-lts:server:latest'}")
            .replacingOccurrences(of: "SUB", with: subscription).replacingOccurrences(of: "RG", with: resourceGroup)
        let text = """
            builds:
              - name: web
                source: \(sourceYAML)\(disk)
                provision:
                  - name: motd
                    shell: [echo hi > /etc/motd]
                tags: {team: images}
                outputs:
                  image: {id: /subscriptions/\(subscription)/resourceGroups/\(resourceGroup)/providers/Microsoft.Compute/images/web}
                  gallery:
                    resourceGroup: \(resourceGroup)
                    gallery: kilngallery
                    imageDefinition: web
                    version: 1.0.0
                    targetRegions: [\(location), {name: eastus, replicas: 2}]
            """
        let result = try loadManifest(text, in: dir)
        let build = try #require(result.manifest?.builds.first, "\(result.errors)")
        let digest = try BuildDigest.compute(
            for: build, baseDirectory: dir.url, resolvedPlatformVersion: platformVersion)
        let g = try #require(build.outputs.gallery)
        let gallery = DesiredGalleryVersion(
            definitionID: try ResourceID(
                parsing:
                    "/subscriptions/\(subscription)/resourceGroups/\(resourceGroup)/providers/Microsoft.Compute/galleries/\(g.gallery)/images/\(g.imageDefinition)"
            ),
            version: g.version, targetRegions: g.targetRegions, excludeFromLatest: g.excludeFromLatest,
            endOfLifeDate: g.endOfLifeDate)
        var d = DesiredBuild(
            build: build, digest: digest, subscription: subscription, location: location,
            temporaryResourceGroup: resourceGroup,
            imageID: try build.outputs.image.map { try ResourceID(parsing: $0.id) }, gallery: gallery)
        switch build.source {
        case .platformImage: d.resolvedSourceVersion = platformVersion
        case .disk(let id), .galleryImageVersion(let id): d.sourceID = try ResourceID(parsing: id)
        case .scratch: break
        }
        return d
    }

    var environment: ExecutorEnvironment {
        ExecutorEnvironment(
            desired: [desired], vm: BuilderVM(id: vm, location: endpoints.location), azure: ArmCompute(arm),
            disks: BuilderDisks(
                azure: ArmCompute(arm), vm: vm, devices: devices, lock: InProcessLUNLock(), maxDataDisks: 4),
            local: .inMemory(), processEnvironment: [:])
    }

    /// The Azure executors, with fast polling for replication.
    var table: Executors {
        Executors(
            environment, manifestDirectory: URL(fileURLWithPath: "/nonexistent"), galleryPollInterval: .milliseconds(50)
        )
    }

    /// Runs hand-made actions through the real scheduler with an in-memory journal.
    func run(
        _ actions: [Action], store: InMemoryJournalStore = InMemoryJournalStore(),
        events: CollectingEventSink = CollectingEventSink(),
        interrupts: InterruptController = InterruptController()
    ) async -> ApplyResult {
        let scheduler = Scheduler(
            executor: table, journals: store, events: events, interrupts: interrupts, clock: ContinuousClock())
        return await scheduler.run(plan(actions))
    }

    func action(
        _ kind: ActionKind, _ target: String? = nil, after: [ActionID] = [], change: Change = .create,
        status: ActionStatus = .todo, resource: String? = nil, operation: String? = nil
    ) -> Action {
        act(
            desired.name, kind, target, after: after, status: status, change: change, resource: resource,
            operation: operation)
    }

    // MARK: The emulator's control surface

    func control(_ method: AzureHTTPMethod, _ path: String, body: String? = nil) async throws -> Data {
        let response = try await connection.transport.send(
            AzureHTTPRequest(
                method: method, url: URL(string: endpoints.control + path)!,
                headers: body == nil ? [:] : ["Content-Type": "application/json"],
                body: body.map { Data($0.utf8) }))
        #expect(response.status < 300, "\(method.rawValue) \(path): \(String(decoding: response.body, as: UTF8.self))")
        return response.body
    }

    /// Sets the emulator's latency model (seconds per operation kind).
    func setLatency(_ json: String) async throws {
        _ = try await control(.put, "/latency", body: json)
    }

    /// The requests the emulator served: method and path.
    func requests() async throws -> [(method: String, path: String)] {
        let data = try await control(.get, "/requests")
        let entries = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] ?? []
        return entries.map { ($0["method"] as? String ?? "", $0["path"] as? String ?? "") }
    }

    /// How many PUTs went to the resource named `name` itself (not its operations).
    func puts(to name: String) async throws -> Int {
        try await requests().filter { $0.method == "PUT" && $0.path.lowercased().hasSuffix("/" + name.lowercased()) }
            .count
    }

    func diskID(_ role: DiskRole) throws -> ResourceID { desired.diskID(role) }
    func snapshotID(_ role: DiskRole) throws -> ResourceID { desired.snapshotID(role) }
}

extension ApplyResult {
    var failureText: String { failures.map(\.message).joined(separator: "\n") }
}

extension CollectingEventSink {
    /// The progress details reported for `action`, in order.
    func progress(_ action: ActionID) -> [String] {
        events.compactMap { event in
            if case .progress(let id, _, let detail) = event, id == action { return detail }
            return nil
        }
    }
}
