import ArgumentParser
import AzureEmulator
import Foundation
import Logging
import Reconciler

struct EmulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emulator",
        abstract: "Run a local emulator of the Azure REST API subset Kiln uses.",
        subcommands: [EmulatorServeCommand.self]
    )
}

/// How attached disks are realised.
enum EmulatorDevices: String, ExpressibleByArgument, CaseIterable {
    /// Sparse files attached as real loop devices (needs root).
    case loop
    /// Nothing touches the system; attachments are recorded only.
    case memory
}

/// The disk backends `serve` can use.
enum EmulatorBackends {
    /// Sparse files under `STATE/disks`, attached as loop devices with links under the
    /// device root; platform images are built once into `STATE/images`.
    static let loop: DiskBackendFactory = { ctx in
        try LoopDiskBackend(
            stateDirectory: ctx.stateDirectory.appendingPathComponent("disks").path,
            deviceRoot: ctx.deviceRoot.path,
            imageCacheDirectory: ctx.stateDirectory.appendingPathComponent("images").path, busybox: ctx.busybox)
    }
    static let memory: DiskBackendFactory = { ctx in InMemoryDiskBackend(deviceRoot: ctx.deviceRoot.path) }
}

struct EmulatorServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve ARM, Entra ID and IMDS on loopback until SIGINT or SIGTERM.",
        discussion:
            "Writes STATE/endpoints.json (ARM, login and IMDS URLs, device root, builder VM id, the builder VMs, a client credential) and prints it. See docs/emulator.md."
    )

    @Option(name: .customLong("state-dir"), help: "Directory for the emulator's state, disks and endpoints.json.")
    var stateDir: String = ".kiln-emulator"

    @Option(name: .customLong("config"), help: "A JSON configuration file (see docs/emulator.md).")
    var config: String?

    @Option(name: .customLong("port"), help: "Port to listen on (0 picks a free one); overrides the configuration.")
    var port: Int?

    @Option(name: .customLong("devices"), help: "How attached disks are realised: loop (real loop devices) or memory.")
    var devices: EmulatorDevices = .loop

    @Option(
        name: .customLong("builder-vms"),
        help:
            "How many builder VMs to emulate (each with its own IMDS identity and device root); overrides builderVMCount."
    )
    var builderVMs: Int?

    @Flag(name: .customLong("no-tls"), help: "Serve plain HTTP only: no HTTPS listener, no generated CA, no proxy.")
    var noTLS = false

    @Flag(name: .customLong("no-proxy"), help: "Do not serve the HTTP proxy port.")
    var noProxy = false

    func validate() throws {
        if let builderVMs {
            do { try EmulatorConfiguration.checkBuilderVMCount(builderVMs) } catch {
                throw ValidationError("--builder-vms: \(error)")
            }
        }
    }

    func run() async throws {
        var configuration = EmulatorConfiguration()
        if let config { configuration = try EmulatorConfiguration.load(contentsOf: URL(fileURLWithPath: config)) }
        if let port { configuration.port = port }
        if let builderVMs { configuration.builderVMCount = builderVMs }
        if noTLS {
            configuration.tls = false
            configuration.proxy = false
        }
        if noProxy { configuration.proxy = false }
        let stateDirectory = URL(fileURLWithPath: stateDir).standardizedFileURL
        let context = DiskBackendContext(
            stateDirectory: stateDirectory,
            deviceRoot: EmulatorServer.deviceRoot(for: configuration, stateDirectory: stateDirectory),
            platformImages: configuration.platformImages, busybox: configuration.busybox)
        let factory: DiskBackendFactory =
            switch devices {
            case .memory: EmulatorBackends.memory
            case .loop: EmulatorBackends.loop
            }
        let server = EmulatorServer(
            configuration: configuration, stateDirectory: stateDirectory, backend: try factory(context))
        let endpoints = try await server.start()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        FileHandle.standardOutput.write(try encoder.encode(endpoints) + Data("\n".utf8))

        // Serves until SIGINT or SIGTERM; signals during the stop that follows change nothing.
        let interrupts = InterruptController()
        let signals = SignalHandling.install(controller: interrupts, exitsOnThirdSignal: false)
        defer { signals.cancel() }
        await interrupts.waitUntilInterrupted()
        FileHandle.standardError.write(Data("kiln emulator: stopping, detaching every disk\n".utf8))
        await server.stop()
    }
}
