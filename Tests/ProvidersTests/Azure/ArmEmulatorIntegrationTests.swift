import Foundation
import Model
import Testing

@testable import Providers

/// The parts of the emulator's `endpoints.json` these tests use.
struct EmulatorEndpointsFile: Decodable {
    struct Credential: Decodable {
        var tenantId: String
        var clientId: String
        var clientSecret: String?
    }
    var arm: String
    var login: String
    var imds: String
    var caFile: String?
    var control: String
    var builderVMId: String
    var subscriptionId: String
    var location: String
    var credential: Credential

    /// Set `KILN_EMULATOR_ENDPOINTS` to a running emulator's endpoints.json to run these.
    static let path = ProcessInfo.processInfo.environment["KILN_EMULATOR_ENDPOINTS"]
    static func load() throws -> EmulatorEndpointsFile {
        try JSONDecoder().decode(
            EmulatorEndpointsFile.self, from: Data(contentsOf: URL(fileURLWithPath: try #require(path))))
    }
}

/// The ARM client, credentials and IMDS against a running `kiln emulator serve`
/// (any `--devices`; `memory` needs no root). Skipped unless `KILN_EMULATOR_ENDPOINTS` is set.
@Suite(
    .enabled(
        if: EmulatorEndpointsFile.path != nil, "set KILN_EMULATOR_ENDPOINTS to a running emulator's endpoints.json"),
    .serialized)
struct ArmEmulatorIntegrationTests {
    let endpoints: EmulatorEndpointsFile
    let transport: AsyncHTTPClientTransport
    let cloud: AzureCloud
    let vm: ResourceID
    let suffix = UUID().uuidString.prefix(8).lowercased()

    init() throws {
        endpoints = try EmulatorEndpointsFile.load()
        transport = try AsyncHTTPClientTransport(configuration: .init(extraCAFile: endpoints.caFile))
        cloud = .emulator(
            arm: URL(string: endpoints.arm)!, login: URL(string: endpoints.login), imds: URL(string: endpoints.imds))
        vm = try ResourceID(parsing: endpoints.builderVMId)
    }

    var environment: [String: String] {
        [
            "AZURE_TENANT_ID": endpoints.credential.tenantId, "AZURE_CLIENT_ID": endpoints.credential.clientId,
            "AZURE_CLIENT_SECRET": endpoints.credential.clientSecret ?? ""
        ]
    }

    func client(_ kind: AzureCredentialKind = .environment) -> ArmClient {
        let context = AzureCredentialContext(cloud: cloud, transport: transport)
        let credential = AzureCredentialFactory.make(
            kind, environment: environment, context: context, cliRunner: ScriptedCLIRunner(.failure(.notInstalled)))
        return ArmClient(cloud: cloud, transport: transport, credential: credential)
    }

    func id(_ path: String) -> ResourceID {
        try! ResourceID(
            parsing:
                "/subscriptions/\(vm.subscription)/resourceGroups/\(vm.resourceGroup)/providers/Microsoft.Compute/\(path)"
        )
    }

    func control(_ method: AzureHTTPMethod, _ path: String, _ body: String? = nil) async throws {
        let url = URL(string: endpoints.control + path)!
        let response = try await transport.send(
            AzureHTTPRequest(
                method: method, url: url, headers: ["Content-Type": "application/json"],
                body: body.map { Data($0.utf8) }))
        try #require(response.isSuccess, "control \(method) \(path): HTTP \(response.status)")
    }

    func finish() async throws { try await transport.shutdown() }

    @Test func oneConnectionWiresEverything() async throws {
        let connection = try AzureConnection(
            cloud: cloud, credential: .environment, environment: environment, caFile: endpoints.caFile)
        let instance = try await connection.imds.instance()
        let found = try await connection.arm.getVirtualMachine(try #require(instance.virtualMachineID))
        #expect(found?.name == vm.name)
        try await connection.shutdown()
        try await finish()
    }

    /// Each environment credential form against the emulator's Entra endpoint, for the
    /// registrations named by `KILN_EMULATOR_CERTIFICATE_CLIENT_ID` + `..._CERTIFICATE_PATH`
    /// (PEM with certificate and key) and `KILN_EMULATOR_FEDERATED_CLIENT_ID` +
    /// `..._FEDERATED_TOKEN_FILE` (scripts/test-with-emulator.sh registers both).
    @Test func certificateAndFederatedCredentialsGetTokensThatARMAccepts() async throws {
        let env = ProcessInfo.processInfo.environment
        let context = AzureCredentialContext(cloud: cloud, transport: transport)
        var credentials: [any TokenCredential] = []
        if let client = env["KILN_EMULATOR_CERTIFICATE_CLIENT_ID"], let path = env["KILN_EMULATOR_CERTIFICATE_PATH"] {
            for style in ClientAssertionStyle.allCases {
                credentials.append(
                    try ClientCertificateCredential(
                        tenantID: endpoints.credential.tenantId, clientID: client, certificatePath: path,
                        context: context, style: style))
            }
        }
        if let client = env["KILN_EMULATOR_FEDERATED_CLIENT_ID"], let file = env["KILN_EMULATOR_FEDERATED_TOKEN_FILE"] {
            credentials.append(
                WorkloadIdentityCredential(
                    tenantID: endpoints.credential.tenantId, clientID: client, tokenFile: file, context: context))
        }
        try #require(
            credentials.count == ClientAssertionStyle.allCases.count + 1,
            "set KILN_EMULATOR_CERTIFICATE_* and KILN_EMULATOR_FEDERATED_* (scripts/test-with-emulator.sh does)")
        for credential in credentials {
            let arm = ArmClient(cloud: cloud, transport: transport, credential: credential)
            #expect(try await arm.getVirtualMachine(vm) != nil, "\(credential.name)")
        }
        try await finish()
    }

    @Test func imdsAndManagedIdentityWork() async throws {
        let instance = try await IMDSClient(baseURL: cloud.imds, transport: transport).instance()
        #expect(instance.virtualMachineID == vm)
        let machine = try await client(.managedIdentity).getVirtualMachine(vm)
        #expect(machine?.properties?.hardwareProfile?.vmSize != nil)
        try await finish()
    }

    @Test func diskSnapshotAttachDetachAndRejoin() async throws {
        let arm = client()
        let disk = id("disks/kiln-it-\(suffix)")
        let snapshot = id("snapshots/kiln-it-\(suffix)")
        let copy = id("disks/kiln-it-copy-\(suffix)")
        let tags = ["kiln:build": "it-\(suffix)"]
        let created = try await arm.beginCreateDisk(
            disk,
            ArmDisk(
                location: endpoints.location, tags: tags, sku: ArmSku(name: "Standard_LRS"),
                properties: .init(creationData: .init(createOption: "Empty"), diskSizeGB: 1))
        )
        .wait(timeout: .seconds(120), as: ArmDisk.self)
        #expect(created?.properties?.provisioningState == "Succeeded")
        #expect(created?.properties?.diskState == "Unattached")

        _ = try await arm.beginCreateSnapshot(
            snapshot,
            ArmSnapshot(
                location: endpoints.location, tags: tags,
                properties: .init(
                    creationData: .init(createOption: "Copy", sourceResourceId: disk.description), incremental: false))
        )
        .wait(timeout: .seconds(120))

        // Start a copy, keep only its handle (as the journal would), and re-join it from a new client.
        let started = try await arm.beginCreateDisk(
            copy,
            ArmDisk(
                location: endpoints.location, tags: tags,
                properties: .init(creationData: .init(createOption: "Copy", sourceResourceId: snapshot.description))))
        let handle = try JSONDecoder().decode(OperationHandle.self, from: JSONEncoder().encode(started.handle))
        let rejoined = try await client().operation(resuming: handle).wait(timeout: .seconds(120), as: ArmDisk.self)
        #expect(rejoined?.properties?.provisioningState == "Succeeded")

        let tagged = try await arm.listResources(
            subscription: vm.subscription, resourceGroup: vm.resourceGroup, tagName: "kiln:build",
            tagValue: "it-\(suffix)")
        #expect(tagged.count == 3)

        let lun = try await arm.attachDataDisk(
            copy, to: vm, maxDataDisks: 4, lock: InProcessLUNLock(), timeout: .seconds(120))
        let attached = try await arm.getDisk(copy)
        #expect(attached?.properties?.diskState == "Attached")
        #expect(
            try await arm.getVirtualMachine(vm)?.properties?.storageProfile?.dataDisks?.contains { $0.lun == lun }
                == true)
        #expect(
            try await arm.attachDataDisk(
                copy, to: vm, maxDataDisks: 4, lock: InProcessLUNLock(), timeout: .seconds(120)) == lun)
        try await arm.detachDataDisk(copy, from: vm, timeout: .seconds(120))
        #expect(try await arm.getDisk(copy)?.properties?.diskState == "Unattached")

        for target in [copy, disk] { _ = try await arm.beginDeleteDisk(target).wait(timeout: .seconds(120)) }
        _ = try await arm.beginDeleteSnapshot(snapshot).wait(timeout: .seconds(120))
        #expect(try await arm.getDisk(disk) == nil)
        try await finish()
    }

    /// Needs an emulator with `tokenLifetimeSeconds` of 15 or less (scripts/test-with-emulator.sh
    /// starts one with 10); fails, rather than passing vacuously, against a longer lifetime.
    @Test func anExpiredTokenIsRefreshedAfterARMRefusesIt() async throws {
        let context = AzureCredentialContext(cloud: cloud, transport: transport)
        let base = EnvironmentCredential(environment: environment, context: context)
        // A cache whose clock stands still believes its token is valid forever, so only
        // ARM's 401 ExpiredAuthenticationToken can make the client fetch a new one.
        let frozen = Date()
        let credential = CachingTokenCredential(base, refreshMargin: .zero, now: { frozen })
        let first = try await credential.token(for: cloud.armScope)
        let lifetime = first.expiresOn.timeIntervalSinceNow
        try #require(
            lifetime <= 15,
            "the emulator issues tokens for \(Int(lifetime)) s; start it with tokenLifetimeSeconds <= 15")
        try await Task.sleep(for: .seconds(lifetime + 2))
        let arm = ArmClient(cloud: cloud, transport: transport, credential: credential)
        #expect(try await arm.getVirtualMachine(vm) != nil)
        #expect(try await credential.token(for: cloud.armScope).token != first.token)
        try await finish()
    }

    @Test func latestPlatformImageIsResolved() async throws {
        let arm = client()
        let urn = try PlatformImageURN(parsing: "Canonical:ubuntu-24_04-lts:server:latest")
        let resolved = try await arm.resolvePlatformImage(
            subscription: vm.subscription, location: endpoints.location, urn: urn)
        #expect(resolved.version == "24.04.202502010")
        let detail = try await arm.getPlatformImageVersion(
            subscription: vm.subscription, location: endpoints.location, urn: resolved)
        #expect(detail?.properties?.hyperVGeneration == "V2")
        try await finish()
    }

    @Test func throttlingAndFailedOperationsAreHandled() async throws {
        let arm = client()
        let disk = id("disks/kiln-it-fault-\(suffix)")
        try await control(
            .post, "/faults",
            #"{"kind":"throttle","method":"GET","path":"*/disks/kiln-it-fault-*","times":3,"retryAfter":1}"#)
        #expect(try await arm.getDisk(disk) == nil)
        try await control(
            .post, "/faults",
            #"{"kind":"failOperation","method":"PUT","path":"*/disks/kiln-it-fault-*","code":"InternalDiskManagementError","message":"scripted"}"#
        )
        let error = try await #require(throws: ArmError.self) {
            _ = try await arm.beginCreateDisk(
                disk,
                ArmDisk(
                    location: endpoints.location,
                    properties: .init(creationData: .init(createOption: "Empty"), diskSizeGB: 1))
            )
            .wait(timeout: .seconds(120))
        }
        #expect(error.kind == .operationFailed)
        #expect(error.code == "InternalDiskManagementError")
        try await control(.delete, "/faults")
        _ = try? await arm.beginDeleteDisk(disk).wait(timeout: .seconds(120))
        try await finish()
    }

    @Test func galleryVersionWithReplicationStatus() async throws {
        let arm = client()
        let gallery = id("galleries/kilnit\(suffix)")
        let definition = id("galleries/kilnit\(suffix)/images/def")
        let version = id("galleries/kilnit\(suffix)/images/def/versions/1.0.0")
        let disk = id("disks/kiln-it-gal-\(suffix)")
        _ = try await arm.beginCreateDisk(
            disk,
            ArmDisk(
                location: endpoints.location,
                properties: .init(
                    creationData: .init(createOption: "Empty"), diskSizeGB: 1, osType: "Linux", hyperVGeneration: "V2"))
        )
        .wait(timeout: .seconds(120))
        _ = try await arm.beginCreateGallery(gallery, ArmGallery(location: endpoints.location)).wait(
            timeout: .seconds(120))
        _ = try await arm.beginCreateGalleryImage(
            definition,
            ArmGalleryImage(
                location: endpoints.location,
                properties: .init(
                    osType: "Linux", osState: "Generalized",
                    identifier: .init(publisher: "kiln", offer: "it", sku: "s"), hyperVGeneration: "V2"))
        ).wait(timeout: .seconds(120))
        let body = ArmGalleryImageVersion(
            location: endpoints.location,
            properties: .init(
                publishingProfile: .init(targetRegions: [.init(name: endpoints.location, regionalReplicaCount: 1)]),
                storageProfile: .init(osDiskImage: .init(source: ArmSubResource(id: disk.description)))))
        _ = try await arm.beginCreateGalleryImageVersion(version, body).wait(timeout: .seconds(300))
        let read = try await arm.getGalleryImageVersion(version, replicationStatus: true)
        #expect(read?.properties?.replicationStatus?.summary?.isEmpty == false)
        #expect(try await arm.listGalleryImageVersions(definition).count == 1)
        _ = try await arm.beginDeleteGalleryImageVersion(version).wait(timeout: .seconds(300))
        _ = try await arm.beginDeleteDisk(disk).wait(timeout: .seconds(120))
        try await finish()
    }
}
