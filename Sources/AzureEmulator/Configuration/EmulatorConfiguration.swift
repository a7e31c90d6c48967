import Crypto
import Foundation

/// Everything `kiln emulator serve --config FILE` can set. Every field has a default, so an
/// empty JSON object (or no file) is a working configuration. Unknown keys are rejected so
/// that a typo does not silently fall back to a default.
public struct EmulatorConfiguration: Sendable, Codable, Equatable {
    public var subscription: String = "11111111-1111-1111-1111-111111111111"
    public var subscriptionName: String = "Kiln Emulator"
    public var tenant: String = "22222222-2222-2222-2222-222222222222"
    /// An alternative tenant name accepted in token URLs, e.g. `kiln.onmicrosoft.com`.
    public var tenantDomain: String = "kiln.onmicrosoft.com"
    public var location: String = "westus"
    /// Loopback address to listen on.
    public var host: String = "127.0.0.1"
    /// 0 picks a free port.
    public var port: Int = 0
    /// Builder VM 0; VMs 1…`builderVMCount`-1 are derived from it (see `builderVM(at:)`).
    public var builderVM: BuilderVM = BuilderVM()
    /// How many builder VMs the emulator runs (`kiln emulator serve --builder-vms N`), at least 1.
    public var builderVMCount: Int = 1
    /// Resource groups that exist from the start (the builder VM's is always added).
    public var resourceGroups: [String] = []
    /// When true, a PUT into a missing resource group creates it instead of answering 404.
    public var createResourceGroupsOnDemand: Bool = false
    public var clients: [RegisteredClient] = [RegisteredClient()]
    public var platformImages: [PlatformImage] = PlatformImage.defaultCatalog
    /// The statically linked busybox of each architecture the platform images are made of.
    public var busybox: BusyboxPaths = BusyboxPaths()
    /// Disk encryption sets that exist from the start, each `"<resource group>/<name>"` (the
    /// group is created too).
    public var diskEncryptionSets: [String] = []
    public var latency: LatencyModel = LatencyModel()
    public var faults: [FaultRule] = []
    /// Lifetime of issued access tokens, seconds.
    public var tokenLifetimeSeconds: Int = 3599
    /// `Retry-After` sent on in-progress operation answers, seconds. Go's poller ignores 0.
    public var retryAfterSeconds: Int = 1
    /// Request bodies above this size get 413.
    public var maxBodyBytes: Int = 4 * 1024 * 1024
    /// Where the disk backend makes `disk/azure/scsi1/lun<N>` links; default `STATE/dev`.
    public var deviceRoot: String?
    /// Extra accepted api-versions per family (`disks`, `compute`, `galleries`, `resources`, `imds`).
    public var extraAPIVersions: [String: [String]] = [:]
    /// Serve HTTPS (with a CA generated into the state directory) in addition to plain HTTP.
    public var tls: Bool = true
    /// Serve an HTTP proxy port (CONNECT to Azure hosts, absolute-form IMDS); implies `tls`.
    public var proxy: Bool = true
    /// Items per page of every list (`nextLink` leads to the next); ARM's own sizes vary.
    public var pageSize: Int = 100
    /// A file every ARM exchange is appended to as a JSON line (request and answer bodies),
    /// for checking them against Azure's specifications; nil: none.
    public var exchangeLog: String?

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = EmulatorConfiguration()
        subscription = try c.decodeIfPresent(String.self, forKey: .subscription) ?? d.subscription
        subscriptionName = try c.decodeIfPresent(String.self, forKey: .subscriptionName) ?? d.subscriptionName
        tenant = try c.decodeIfPresent(String.self, forKey: .tenant) ?? d.tenant
        tenantDomain = try c.decodeIfPresent(String.self, forKey: .tenantDomain) ?? d.tenantDomain
        location = try c.decodeIfPresent(String.self, forKey: .location) ?? d.location
        host = try c.decodeIfPresent(String.self, forKey: .host) ?? d.host
        port = try c.decodeIfPresent(Int.self, forKey: .port) ?? d.port
        builderVM = try c.decodeIfPresent(BuilderVM.self, forKey: .builderVM) ?? d.builderVM
        builderVMCount = try c.decodeIfPresent(Int.self, forKey: .builderVMCount) ?? d.builderVMCount
        try Self.checkBuilderVMCount(builderVMCount)
        resourceGroups = try c.decodeIfPresent([String].self, forKey: .resourceGroups) ?? d.resourceGroups
        createResourceGroupsOnDemand =
            try c.decodeIfPresent(Bool.self, forKey: .createResourceGroupsOnDemand) ?? d.createResourceGroupsOnDemand
        clients = try c.decodeIfPresent([RegisteredClient].self, forKey: .clients) ?? d.clients
        platformImages = try c.decodeIfPresent([PlatformImage].self, forKey: .platformImages) ?? d.platformImages
        busybox = try c.decodeIfPresent(BusyboxPaths.self, forKey: .busybox) ?? d.busybox
        diskEncryptionSets = try c.decodeIfPresent([String].self, forKey: .diskEncryptionSets) ?? []
        for preset in diskEncryptionSets where preset.split(separator: "/").count != 2 {
            throw ConfigurationError(
                message: "diskEncryptionSets: '\(preset)' is not \"<resource group>/<name>\"")
        }
        latency = try c.decodeIfPresent(LatencyModel.self, forKey: .latency) ?? d.latency
        faults = try c.decodeIfPresent([FaultRule].self, forKey: .faults) ?? d.faults
        tokenLifetimeSeconds = try c.decodeIfPresent(Int.self, forKey: .tokenLifetimeSeconds) ?? d.tokenLifetimeSeconds
        retryAfterSeconds = try c.decodeIfPresent(Int.self, forKey: .retryAfterSeconds) ?? d.retryAfterSeconds
        maxBodyBytes = try c.decodeIfPresent(Int.self, forKey: .maxBodyBytes) ?? d.maxBodyBytes
        deviceRoot = try c.decodeIfPresent(String.self, forKey: .deviceRoot)
        extraAPIVersions =
            try c.decodeIfPresent([String: [String]].self, forKey: .extraAPIVersions) ?? d.extraAPIVersions
        tls = try c.decodeIfPresent(Bool.self, forKey: .tls) ?? d.tls
        proxy = try c.decodeIfPresent(Bool.self, forKey: .proxy) ?? d.proxy
        exchangeLog = try c.decodeIfPresent(String.self, forKey: .exchangeLog)
        pageSize = try c.decodeIfPresent(Int.self, forKey: .pageSize) ?? d.pageSize
        guard pageSize >= 1 else {
            throw ConfigurationError(message: "pageSize must be at least 1 (got \(pageSize))")
        }
        try rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue), in: "the emulator configuration")
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case subscription, subscriptionName, tenant, tenantDomain, location, host, port, builderVM, resourceGroups
        case createResourceGroupsOnDemand, clients, platformImages, latency, faults, tokenLifetimeSeconds
        case retryAfterSeconds, maxBodyBytes, deviceRoot, extraAPIVersions, tls, proxy, exchangeLog, pageSize
        case busybox, diskEncryptionSets, builderVMCount
    }

    /// Reads a JSON configuration file; errors name the file and the offending key.
    public static func load(contentsOf url: URL) throws -> EmulatorConfiguration {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ConfigurationError(
                message: "cannot read the emulator configuration \(url.path): \(error.localizedDescription)")
        }
        do {
            return try JSONDecoder().decode(EmulatorConfiguration.self, from: data)
        } catch let error as ConfigurationError {
            throw ConfigurationError(message: "\(url.path): \(error.message)")
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw ConfigurationError(
                message: "\(url.path): missing key '\(key.stringValue)' at \(pathText(ctx.codingPath))")
        } catch let DecodingError.typeMismatch(type, ctx) {
            throw ConfigurationError(
                message: "\(url.path): wrong type at \(pathText(ctx.codingPath)), expected \(type)")
        } catch {
            throw ConfigurationError(message: "\(url.path) is not valid emulator configuration JSON: \(error)")
        }
    }

    /// Builder VM 0's ARM id.
    public var builderVMID: String { builderVMID(at: 0) }

    /// Builder VM `index`'s ARM id.
    public func builderVMID(at index: Int) -> String {
        let vm = builderVM(at: index)
        return
            "/subscriptions/\(subscription)/resourceGroups/\(vm.resourceGroup)/providers/Microsoft.Compute/virtualMachines/\(vm.name)"
    }

    /// The largest `builderVMCount` (each VM is a resource, a device root and an IMDS).
    public static let maximumBuilderVMCount = 64

    /// Throws unless `count` is between 1 and `maximumBuilderVMCount`.
    public static func checkBuilderVMCount(_ count: Int) throws {
        guard (1...maximumBuilderVMCount).contains(count) else {
            throw ConfigurationError(
                message: "builderVMCount must be between 1 and \(maximumBuilderVMCount) (got \(count))")
        }
    }

    /// Builder VM `index`: VM 0 is `builderVM`; VM i ≥ 1 is a copy named `<name>-<i>` in the
    /// same resource group, with its own managed identity (ids derived from VM 0's and `i`).
    public func builderVM(at index: Int) -> BuilderVM {
        guard index > 0 else { return builderVM }
        var vm = builderVM
        vm.name = "\(builderVM.name)-\(index)"
        vm.identityClientID = Self.derivedUUID("builder-vm-\(index)-client:\(builderVM.identityClientID.lowercased())")
        vm.identityObjectID = Self.derivedUUID("builder-vm-\(index)-object:\(builderVM.identityObjectID.lowercased())")
        return vm
    }

    /// A UUID-shaped id derived from `seed` (the first 16 bytes of its SHA-256).
    static func derivedUUID(_ seed: String) -> String {
        let hex = SHA256.hash(data: Data(seed.utf8)).prefix(16).map { String(format: "%02x", $0) }.joined()
        let c = Array(hex)
        return
            "\(String(c[0..<8]))-\(String(c[8..<12]))-\(String(c[12..<16]))-\(String(c[16..<20]))-\(String(c[20..<32]))"
    }

    /// Every builder VM, VM 0 first.
    public var builderVMs: [BuilderVM] { (0..<builderVMCount).map(builderVM(at:)) }
}

private func pathText(_ path: [any CodingKey]) -> String {
    path.isEmpty ? "the top level" : path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
}

private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

func rejectUnknownKeys(_ decoder: any Decoder, known: [String], in what: String) throws {
    let c = try decoder.container(keyedBy: AnyKey.self)
    for key in c.allKeys where !known.contains(key.stringValue) {
        throw ConfigurationError(
            message:
                "unknown key '\(key.stringValue)' in \(what) at \(pathText(decoder.codingPath)); known keys: \(known.joined(separator: ", "))"
        )
    }
}

/// A configuration file that cannot be used.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

/// The VM the emulator pretends to run on: attachments to it become loop devices.
public struct BuilderVM: Sendable, Codable, Equatable {
    public var name: String = "kiln-builder"
    public var resourceGroup: String = "kiln-rg"
    public var size: String = "Standard_D2s_v3"
    /// Availability zone, "" for none.
    public var zone: String = ""
    public var maxDataDisks: Int = 4
    /// Managed identity of the VM (IMDS tokens).
    public var identityClientID: String = "33333333-3333-3333-3333-333333333333"
    public var identityObjectID: String = "44444444-4444-4444-4444-444444444444"

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = BuilderVM()
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? d.name
        resourceGroup = try c.decodeIfPresent(String.self, forKey: .resourceGroup) ?? d.resourceGroup
        size = try c.decodeIfPresent(String.self, forKey: .size) ?? d.size
        zone = try c.decodeIfPresent(String.self, forKey: .zone) ?? d.zone
        maxDataDisks = try c.decodeIfPresent(Int.self, forKey: .maxDataDisks) ?? d.maxDataDisks
        identityClientID = try c.decodeIfPresent(String.self, forKey: .identityClientID) ?? d.identityClientID
        identityObjectID = try c.decodeIfPresent(String.self, forKey: .identityObjectID) ?? d.identityObjectID
        try rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue), in: "builderVM")
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, resourceGroup, size, zone, maxDataDisks, identityClientID, identityObjectID
    }

    /// Where builder VM `index` gets its `disk/azure/scsi1/lun<N>` links, given VM 0's device
    /// root `base`: VM 0 uses `base`, VM i ≥ 1 the sibling `<base>-vm<i>` (`STATE/dev-vm2`).
    public static func deviceRoot(ofVM index: Int, base: String) -> String {
        index == 0 ? base : "\(base)-vm\(index)"
    }
}

/// An app registration that may ask the token endpoint for tokens.
public struct RegisteredClient: Sendable, Codable, Equatable {
    public var clientID: String = "00000000-0000-0000-0000-00000000c1d0"
    /// Accepted client secret, or nil when the app has none.
    public var secret: String? = "kiln-emulator-secret"
    /// PEM certificates (text, or a path to a file) whose keys may sign client assertions.
    public var certificates: [String] = []
    /// Federated identity credentials: the issuer and subject of accepted external tokens.
    public var federated: [FederatedCredential] = []
    public var objectID: String = "55555555-5555-5555-5555-555555555555"

    public init() {}
    public init(clientID: String, secret: String?, certificates: [String] = [], federated: [FederatedCredential] = []) {
        self.clientID = clientID
        self.secret = secret
        self.certificates = certificates
        self.federated = federated
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = RegisteredClient()
        clientID = try c.decodeIfPresent(String.self, forKey: .clientID) ?? d.clientID
        secret = try c.decodeIfPresent(String.self, forKey: .secret)
        certificates = try c.decodeIfPresent([String].self, forKey: .certificates) ?? []
        federated = try c.decodeIfPresent([FederatedCredential].self, forKey: .federated) ?? []
        objectID = try c.decodeIfPresent(String.self, forKey: .objectID) ?? d.objectID
        try rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue), in: "a registered client")
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case clientID, secret, certificates, federated, objectID }
}

/// A federated identity credential of an app registration.
public struct FederatedCredential: Sendable, Codable, Equatable {
    public var issuer: String
    public var subject: String
    public var audience: String = "api://AzureADTokenExchange"
    public init(issuer: String, subject: String, audience: String = "api://AzureADTokenExchange") {
        self.issuer = issuer
        self.subject = subject
        self.audience = audience
    }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        issuer = try c.decode(String.self, forKey: .issuer)
        subject = try c.decode(String.self, forKey: .subject)
        audience = try c.decodeIfPresent(String.self, forKey: .audience) ?? "api://AzureADTokenExchange"
    }
}

/// Seconds each kind of operation takes before it completes. Zero by default.
public struct LatencyModel: Sendable, Codable, Equatable {
    public var diskCreate: Double = 0
    public var diskUpdate: Double = 0
    public var snapshot: Double = 0
    public var image: Double = 0
    public var gallery: Double = 0
    /// Per target region of a gallery image version (see `replication`).
    public var versionPerRegion: Double = 0
    /// Whether a version's target regions replicate side by side (as Azure copies them) or
    /// one after another. Side by side, a version with any number of regions takes
    /// `versionPerRegion`; one after another, `versionPerRegion` × the regions.
    public var replication: Replication = .concurrent
    /// A `Shallow` version replicates in this fraction of `versionPerRegion`: it references
    /// its source instead of copying it (azure-docs `shared-image-galleries.md`, "Shallow
    /// replication": "the image version is ready faster").
    public var shallowReplicationFactor: Double = 0.1
    public var attach: Double = 0
    public var detach: Double = 0
    public var delete: Double = 0
    public var access: Double = 0

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func v(_ k: CodingKeys) throws -> Double { try c.decodeIfPresent(Double.self, forKey: k) ?? 0 }
        diskCreate = try v(.diskCreate)
        diskUpdate = try v(.diskUpdate)
        snapshot = try v(.snapshot)
        image = try v(.image)
        gallery = try v(.gallery)
        versionPerRegion = try v(.versionPerRegion)
        attach = try v(.attach)
        detach = try v(.detach)
        delete = try v(.delete)
        access = try v(.access)
        replication = try c.decodeIfPresent(Replication.self, forKey: .replication) ?? .concurrent
        shallowReplicationFactor = try c.decodeIfPresent(Double.self, forKey: .shallowReplicationFactor) ?? 0.1
        guard (0...1).contains(shallowReplicationFactor) else {
            throw ConfigurationError(
                message: "latency.shallowReplicationFactor must be between 0 and 1 (got \(shallowReplicationFactor))")
        }
        try rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue), in: "the latency model")
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case diskCreate, diskUpdate, snapshot, image, gallery, versionPerRegion, replication, attach, detach, delete,
            access, shallowReplicationFactor
    }

    /// How a gallery image version's target regions replicate.
    public enum Replication: String, Sendable, Codable, Equatable {
        case concurrent, sequential
    }
}
