import Foundation
import Model
import Planner
import Providers

/// One connection to Azure (or the emulator) and the builder VM's local providers, wired
/// once per command. `plan` and `drift` observe through it; `apply` acts through it.
///
/// Call `shutdown()` once at the end (the HTTP client's pool must be closed).
public struct KilnSession: Sendable {
    public let target: AzureTarget
    public let connection: AzureConnection
    public let local: LocalProviders
    public let observer: Observer
    public let environment: [String: String]
    /// The VM's mount root and run directory (host-wide locks).
    public let hostPaths: HostPaths

    /// `state` says where the journals are: the state directory, or (remote state) Azure Blob
    /// Storage, reached with this session's credential; `onLeaseLost` hears of a lost lease.
    public init(
        target: AzureTarget, stateDirectory: String, environment: [String: String], wrapper: CommandWrapper = .identity,
        hostPaths: HostPaths = .standard, state: StateSettings = .local,
        leaseSeconds: Int = BlobJournalStore.defaultLeaseSeconds,
        onLeaseLost: @escaping @Sendable (_ build: String, _ reason: String) -> Void = { _, _ in }
    ) async throws {
        var cloud = target.cloud
        if let endpoint = target.customMetadataEndpoint {
            let probe = try AsyncHTTPClientTransport(configuration: .init(extraCAFile: target.caFile))
            defer { Task { try? await probe.shutdown() } }
            cloud = try await AzureCloud.discover(armEndpoint: endpoint, transport: probe)
        }
        self.target = target
        self.environment = environment
        self.hostPaths = hostPaths
        connection = try AzureConnection(
            cloud: cloud, credential: target.credential, environment: target.environment,
            caFile: target.caFile, managedIdentityClientID: target.managedIdentityClientID)
        var local = LocalProviders.system(
            wrapper: wrapper, deviceRoot: target.deviceRoot, stateDirectory: stateDirectory)
        if let remote = state.azureBlob {
            let connection = self.connection
            let vm = try? await connection.imds.instance().compute.name
            let client = BlobClient(
                endpoint: cloud.blobService, transport: connection.transport, credential: connection.credential)
            local.journal = BlobJournalStore(
                location: remote, client: client, vm: vm, leaseSeconds: leaseSeconds, onLeaseLost: onLeaseLost)
        }
        self.local = local
        observer = Observer(
            azure: connection.compute, devices: local.devices, mounts: local.mounts,
            journals: local.journal)
    }

    /// The builder VM, from its instance metadata.
    public func builderVM() async throws -> BuilderVM {
        try BuilderVM(try await connection.imds.instance())
    }

    /// Everything `plan` shows: the desired builds, what was observed, and the DAG.
    public struct Snapshot: Sendable {
        public var vm: BuilderVM
        public var desired: [DesiredBuild]
        public var observed: [String: ObservedBuild]
        public var plan: Plan

        public init(vm: BuilderVM, desired: [DesiredBuild], observed: [String: ObservedBuild], plan: Plan) {
            self.vm = vm
            self.desired = desired
            self.observed = observed
            self.plan = plan
        }
    }

    /// Observes the world (read-only) and plans the manifest against it.
    public func plan(_ manifest: Manifest) async throws -> Snapshot {
        let vm = try await builderVM()
        // Rendered as DesiredState renders it: `{{env "…"}}` and `{{vm "…"}}` are allowed here.
        let subscription =
            try manifest.azure.subscription.map {
                try Template(parsing: $0, allowed: []).render(
                    TemplateValues(vm: vm.templateValues, environment: environment), mode: .plain)
            } ?? vm.id.subscription
        let versions = try await observer.resolveVersions(manifest, vm: vm, subscription: subscription)
        var galleryLatest: [String: String] = [:]
        for (build, definition) in try DesiredState.latestGallerySources(manifest, vm: vm, environment: environment) {
            galleryLatest[build] = try await observer.latestGalleryVersion(of: definition)
        }
        var desired = try DesiredState.builds(
            manifest, vm: vm, resolvedVersions: versions, galleryLatest: galleryLatest, environment: environment)
        var journals: [String: JournalView] = [:]
        for i in desired.indices where local.journal.sharedAcrossVMs {
            if let holder = try await local.journal.holder(build: desired[i].name) {
                desired[i].runningElsewhere = holder.vm.map { "VM \($0) (pid \(holder.pid))" } ?? holder.description
            } else {
                desired[i].takesOverDisks = true
            }
        }
        for i in desired.indices {
            let journal = Observer.view(of: try await local.journal.load(build: desired[i].name))
            (desired[i].generation, desired[i].freshRunReason) = RunContinuity.generation(
                for: desired[i], journal: journal)
            journals[desired[i].name] = journal
            if desired[i].gallery?.needsChoice == true {
                let (version, reason) = try await observer.chooseGalleryVersion(desired[i], journal: journal)
                desired[i].gallery?.choose(version, because: reason)
            }
        }
        let observed = try await observer.observe(desired, vm: vm, journals: journals)
        let builder = HostArchitecture.current
        for i in desired.indices {
            let o = observed[desired[i].name]
            // A converged build's source is not read: its traits stay unknown (nothing is made from it).
            guard o?.sourceRead == true else { continue }
            desired[i].traits = ImageTraits.choose(
                for: desired[i].build, source: o?.source,
                definitionFeature: o?.definition.map { $0.feature("SecurityType") }, builder: builder)
        }
        return Snapshot(vm: vm, desired: desired, observed: observed, plan: Planner.plan(desired, observed: observed))
    }

    public func shutdown() async {
        try? await connection.shutdown()
    }
}
