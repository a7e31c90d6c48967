import Foundation
import Logging
import Model
import Planner
import Providers
import Synchronization
import TestSupport
import Testing

@testable import Reconciler

/// A token for an ARM client whose requests never leave the process (scripted transport).
struct FixtureCredential: TokenCredential {
    let name = "fixture token"
    func token(for scope: String) async throws -> AzureAccessToken {
        AzureAccessToken(token: AzureSecret("fixture"), expiresOn: Date().addingTimeInterval(3600))
    }
}

/// Collects progress events from any thread.
final class ProgressLog: Sendable {
    private let storage = Mutex<[String]>([])
    func append(_ text: String) { storage.withLock { $0.append(text) } }
    var details: [String] { storage.withLock { $0 } }
}

let fixtureSubscription = "00000000-0000-0000-0000-000000000000"
let fixtureVM = try! ResourceID(
    parsing:
        "/subscriptions/\(fixtureSubscription)/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/builder")

/// One build on a builder VM made of in-memory pieces: the OS disk attached at builder
/// LUN 0 (`/dev/sdc`, partition 1 `/dev/sdc1`), a data disk at builder LUN 1 (`/dev/sdd`),
/// Azure answered by a script (a VM GET must be scripted by the test that needs it).
struct VMExecutorFixture {
    let d: DesiredBuild
    let runner: InMemoryCommandRunner
    let mounts: InMemoryMountManager
    let chroot: InMemoryChrootExecutor
    let devices: InMemoryBlockDevices
    let transport: ScriptedHTTPTransport
    var env: ExecutorEnvironment
    let progress = ProgressLog()
    /// Where relative script and upload paths start (the in-memory chroot's host files).
    var manifestDirectory = URL(fileURLWithPath: "/manifests")
    var root: String { canonicalPath(env.mountPath(d)) }

    /// `build` is the YAML of the build's fields after `name` and `source` (indented 4);
    /// `manifestFiles` are more files the manifest refers to (validation checks they exist).
    init(
        name: String = "vmx", build: String = "", osDevice: String = "/dev/sdc",
        processEnvironment: [String: String] = [:],
        wrapper: CommandWrapper = .identity, manifestFiles: [String: String] = [:]
    ) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("setup.sh", "#!/bin/sh\necho setup \"$@\"\n")
        try dir.write("files/motd", "welcome\n")
        for (path, text) in manifestFiles { try dir.write(path, text) }
        let text = """
            builds:
              - name: \(name)
                source: {platformImage: 'Canonical:ubuntu:server:1.0.0'}
            \(build)
                outputs: {skip: true}
            """
        let loaded = try loadManifest(text, in: dir)
        let build = try #require(loaded.manifest?.builds.first, "\(loaded.errors)")
        let digest = try BuildDigest.compute(for: build, baseDirectory: dir.url, resolvedPlatformVersion: "1.0.0")
        d = DesiredBuild(
            build: build, digest: digest, subscription: fixtureSubscription, location: "eastus",
            temporaryResourceGroup: "rg")

        runner = InMemoryCommandRunner(wrapper: wrapper)
        mounts = InMemoryMountManager()
        chroot = InMemoryChrootExecutor(files: [
            "/manifests/setup.sh": .file(contents: "#!/bin/sh\necho setup \"$@\"\n", mode: 0o644),
            "/manifests/files/motd": .file(contents: "welcome\n", mode: 0o640),
            "/etc/resolv.conf": .file(contents: "nameserver 10.0.0.1\n", mode: 0o644)
        ])
        devices = InMemoryBlockDevices(disks: [
            0: .init(path: osDevice, partitions: [1: osDevice + "1"]),
            1: .init(path: "/dev/sdd", partitions: [1: "/dev/sdd1"])
        ])
        transport = ScriptedHTTPTransport()
        let arm = ArmClient(
            cloud: .emulator(arm: URL(string: "https://arm.test")!), transport: transport,
            credential: FixtureCredential(),
            retry: AzureRetryPolicy(maxAttempts: 1, baseDelay: .zero, maxDelay: .zero, random: { 0 }))
        let local = LocalProviders(
            runner: runner, devices: devices, mounts: mounts, chroot: chroot, journal: InMemoryJournalStore())
        let vm = BuilderVM(id: fixtureVM, location: "eastus", vmSize: "Standard_D4s_v5")
        env = ExecutorEnvironment(
            desired: [d], vm: vm, azure: ArmCompute(arm),
            disks: BuilderDisks(
                azure: ArmCompute(arm), vm: fixtureVM, devices: devices, lock: InProcessLUNLock(), maxDataDisks: 8),
            local: local, processEnvironment: processEnvironment)
    }

    /// The attach results of a run in which the OS disk went to LUN 0 and data disk `lun1` to LUN 1.
    var attached: [ActionID: ActionOutcome] {
        var results = [ActionID(d.name, .attach(.os)): ActionOutcome(device: "/dev/sdc", lun: 0)]
        if d.roles.contains(.data(lun: 1)) {
            results[ActionID(d.name, .attach(.data(lun: 1)))] = ActionOutcome(device: "/dev/sdd", lun: 1)
        }
        return results
    }

    func context(_ kind: ActionKind, _ target: String? = nil, results: [ActionID: ActionOutcome]? = nil)
        -> ExecutionContext
    {
        let action = Action(
            id: ActionID(d.name, step(kind, target)), change: .run, status: .todo, resource: nil,
            reason: "test", dependsOn: [])
        let progress = self.progress
        return ExecutionContext(
            action: action, journal: JournalHandle(build: d.name, store: env.local.journal), clock: ContinuousClock(),
            dependencyResults: [:], buildResults: results ?? attached, logger: Logger(label: "test"),
            interrupts: InterruptController(),
            emit: { event in if case .progress(_, _, let detail) = event { progress.append(detail) } })
    }

    /// Runs the table's executor for `kind` on this build.
    @discardableResult
    func run(_ kind: ActionKind, _ target: String? = nil, results: [ActionID: ActionOutcome]? = nil) async throws
        -> ActionOutcome
    {
        let executor = Executors(env, manifestDirectory: manifestDirectory).executor(for: step(kind, target))
        let context = context(kind, target, results: results)
        return try await executor.execute(context.action, context: context)
    }

    /// Makes the in-memory table show the image root mounted from `/dev/sdc1`.
    func mountRoot() async throws {
        try await mounts.mount(MountRequest(source: "/dev/sdc1", target: root, kind: .filesystem(type: "ext4")))
    }

    /// Scripts `GET` of the builder VM listing `disks` (role → builder LUN) as attached.
    func scriptVM(_ disks: [DiskRole: Int]) async {
        let dataDisks = disks.map { role, lun in #"{"lun": \#(lun), "managedDisk": {"id": "\#(d.diskID(role))"}}"# }
            .joined(separator: ",")
        let body =
            #"{"id": "\#(fixtureVM)", "name": "builder", "properties": {"storageProfile": {"dataDisks": [\#(dataDisks)]}}}"#
        await transport.on(.get, "virtualMachines/builder", json: (200, body, [:]))
    }
}
