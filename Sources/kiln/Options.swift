import ArgumentParser
import AzureEmulator
import Foundation
import Logging
import Model
import Providers
import Reconciler

/// Where Kiln's Azure calls go, shared by plan, apply, drift and graph.
struct TargetOptions: ParsableArguments {
    @Flag(help: "Run against an embedded emulator whose state lives under STATE-DIR/emulator (loop devices when root).")
    var emulator = false

    @Option(
        name: .customLong("emulator-endpoints"),
        help: "Run against a running 'kiln emulator serve', given its endpoints.json.",
        completion: .file(extensions: ["json"]))
    var emulatorEndpoints: String?

    @Option(
        name: .customLong("emulator-vm"),
        help: "With --emulator-endpoints: which of the emulator's builder VMs Kiln runs on (its IMDS and device root).")
    var emulatorVM: Int = 0

    @Option(name: .customLong("state-dir"), help: "Where journals and the embedded emulator's state live.")
    var stateDirectory = ".kiln"

    @Option(
        help:
            "The credential to use, overriding the manifest: \(AzureCredentialKind.allCases.map(\.rawValue).joined(separator: ", "))."
    )
    var credential: AzureCredentialKind?

    func validate() throws {
        if emulator && emulatorEndpoints != nil {
            throw ValidationError(
                "--emulator and --emulator-endpoints are exclusive: one starts an emulator, the other uses a running one"
            )
        }
        if emulatorVM != 0 && emulatorEndpoints == nil {
            throw ValidationError("--emulator-vm needs --emulator-endpoints (the embedded emulator has one builder VM)")
        }
        if emulatorVM < 0 { throw ValidationError("--emulator-vm must be 0 or more (got \(emulatorVM))") }
    }
}

/// The VM's mount root and run directory: `/mnt/kiln` and `/run/kiln` unless `KILN_MOUNT_ROOT`
/// or `KILN_RUN_DIR` move them (read once; `loadManifestOrExit` reports a bad value).
let hostPathsFromEnvironment = Result { () throws(HostPathsError) in
    try HostPaths(environment: ProcessInfo.processInfo.environment)
}

/// The host paths, or exit 1 naming the variable that is wrong.
func hostPathsOrExit() throws -> HostPaths {
    switch hostPathsFromEnvironment {
    case .success(let paths):
        return paths
    case .failure(let error):
        Stderr.write("kiln: \(error)")
        throw ExitCode(1)
    }
}

/// A manifest loaded for a command: exits 1 with every diagnostic when it is invalid.
/// Builds with the default mount path mount under the host paths' mount root.
func loadManifestOrExit(_ file: String) throws -> Manifest {
    let hostPaths = try hostPathsOrExit()
    let result = ManifestLoader.load(path: file)
    for d in result.diagnostics { Stderr.write(d.description) }
    guard let manifest = result.manifest else {
        Stderr.write(
            "\(file): \(result.errors.count) error\(result.errors.count == 1 ? "" : "s"); 'kiln validate \(file)' lists them"
        )
        throw ExitCode(1)
    }
    return hostPaths.placingDefaultMounts(of: manifest)
}

/// Opens a session for the target the options name, runs `body`, and closes everything
/// (the session's connections and an embedded emulator) however `body` ends.
func withSession<T: Sendable>(_ options: TargetOptions, manifest: Manifest, _ body: (KilnSession) async throws -> T)
    async throws -> T
{
    let environment = ProcessInfo.processInfo.environment
    var embedded: EmulatorServer?
    var target: AzureTarget
    if options.emulator {
        let state = URL(fileURLWithPath: options.stateDirectory).appendingPathComponent("emulator")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        let server = try EmbeddedEmulator.server(stateDirectory: state)
        _ = try await server.start()
        embedded = server
        target = try AzureTarget.emulator(endpointsFile: state.appendingPathComponent("endpoints.json").path)
    } else if let path = options.emulatorEndpoints {
        target = try AzureTarget.emulator(endpointsFile: path, vm: options.emulatorVM)
        target.useManifestCredential(manifest.azure, environment: environment)
    } else {
        target = AzureTarget.azure(manifest.azure, environment: environment)
    }
    if let kind = options.credential { target.credential = kind }
    do {
        let session = try await KilnSession(
            target: target, stateDirectory: options.stateDirectory, environment: environment,
            wrapper: try CommandWrapper.from(manifest, environment: environment),
            hostPaths: try hostPathsOrExit(), state: manifest.state,
            leaseSeconds: try leaseSeconds(environment),
            onLeaseLost: { build, reason in
                Stderr.write(
                    "kiln: lost the lease of build \(build): \(reason); starting nothing more for it and never "
                        + "writing its journal again (another VM may take it over)")
            })
        do {
            let result = try await body(session)
            await session.shutdown()
            await embedded?.stop()
            return result
        } catch {
            await session.shutdown()
            throw error
        }
    } catch {
        await embedded?.stop()
        throw error
    }
}

/// Runs `body` with the manifest's journals: the state directory's (no Azure needed), or the
/// remote state's through a session.
func withJournals<T: Sendable>(
    _ options: TargetOptions, manifest: Manifest, _ body: (any JournalStore) async throws -> T
) async throws -> T {
    guard manifest.state.azureBlob != nil else {
        return try await body(FileJournalStore(stateDirectory: options.stateDirectory))
    }
    return try await withSession(options, manifest: manifest) { session in try await body(session.local.journal) }
}

/// The lease duration of remote state: `KILN_LEASE_SECONDS` (15 to 60, Azure's range), else 60.
func leaseSeconds(_ environment: [String: String]) throws -> Int {
    guard let text = environment["KILN_LEASE_SECONDS"], !text.isEmpty else {
        return BlobJournalStore.defaultLeaseSeconds
    }
    guard let seconds = Int(text), BlobJournalStore.leaseSecondsRange.contains(seconds) else {
        throw SessionError(message: "KILN_LEASE_SECONDS=\(text) is not a lease duration: give 15 to 60 seconds")
    }
    return seconds
}

/// The emulator `--emulator` starts inside the kiln process.
enum EmbeddedEmulator {
    static func server(stateDirectory: URL) throws -> EmulatorServer {
        let configuration = EmulatorConfiguration()
        let deviceRoot = EmulatorServer.deviceRoot(for: configuration, stateDirectory: stateDirectory)
        let context = DiskBackendContext(
            stateDirectory: stateDirectory, deviceRoot: deviceRoot, platformImages: configuration.platformImages)
        let backend: any DiskBackend =
            getuid() == 0
            ? try EmulatorBackends.loop(context)
            : try EmulatorBackends.memory(context)
        // Kiln's own output is what the user reads; the embedded emulator only speaks up for problems.
        var logger = Logger(label: "kiln.emulator")
        logger.logLevel = .warning
        return EmulatorServer(
            configuration: configuration, stateDirectory: stateDirectory, backend: backend, logger: logger)
    }
}

extension AzureCredentialKind: ExpressibleByArgument {}
