import Foundation

// Fixtures for tests that run the real `kiln` binary against a real emulator process:
// scratch copies of the examples, kiln in the background, and `kiln emulator serve`.

/// A scratch directory holding a copy of `manifests/` (so tests may edit scripts and
/// manifests), removed by `remove()`.
public func manifestScratch(_ label: String) throws -> TemporaryDirectory {
    let dir = try TemporaryDirectory(label)
    try FileManager.default.copyItem(at: Repository.manifests, to: dir.url.appendingPathComponent("manifests"))
    return dir
}

extension TemporaryDirectory {
    /// Replaces `old` with `new` in the file at `relative` (which must contain it).
    public func edit(_ relative: String, replacing old: String, with new: String) throws {
        let file = url.appendingPathComponent(relative)
        let text = try String(contentsOf: file, encoding: .utf8)
        guard text.contains(old) else { throw FixtureError("\(relative) does not contain \(old.debugDescription)") }
        try text.replacingOccurrences(of: old, with: new).write(to: file, atomically: true, encoding: .utf8)
    }

    public func read(_ relative: String) -> String? {
        try? String(contentsOf: url.appendingPathComponent(relative), encoding: .utf8)
    }
}

/// A fixture that could not be set up.
public struct FixtureError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Waits (bounded by `timeout`) until `condition` holds; false when it never did.
@discardableResult
public func waitUntil(timeout: TimeInterval = 120, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        Thread.sleep(forTimeInterval: 0.05)
    }
    return condition()
}

/// `kiln` started in the background, its stdout and stderr going to one file.
public final class BackgroundKiln: @unchecked Sendable {
    // Immutable after init except through Process, which is thread-safe for these calls.
    public let process: Process
    public let outputFile: URL

    public init(_ arguments: [String], in directory: URL, environment: [String: String]? = nil) throws {
        outputFile = directory.appendingPathComponent("kiln-\(UUID().uuidString.prefix(6)).log")
        FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        let handle = try FileHandle(forWritingTo: outputFile)
        process = Process()
        process.executableURL = KilnBinary.url
        process.arguments = arguments
        process.currentDirectoryURL = directory
        if let environment { process.environment = environment }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        try? handle.close()
    }

    public var pid: Int32 { process.processIdentifier }
    public var output: String { (try? String(contentsOf: outputFile, encoding: .utf8)) ?? "" }

    /// Waits until `file` (default: the output) contains `text`, or the process ends.
    @discardableResult
    public func wait(for text: String, in file: URL? = nil, timeout: TimeInterval = 120) -> Bool {
        let target = file ?? outputFile
        return waitUntil(timeout: timeout) {
            (try? String(contentsOf: target, encoding: .utf8))?.contains(text) == true || !process.isRunning
        } && ((try? String(contentsOf: target, encoding: .utf8))?.contains(text) == true)
    }

    public func signal(_ sig: Int32) { if process.isRunning { kill(process.processIdentifier, sig) } }

    /// Waits for the exit and returns the status (128 + signal when killed, as a shell says).
    @discardableResult
    public func waitForExit() -> Int32 {
        process.waitUntilExit()
        return process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }

    /// SIGKILL if still running, then reap: for `defer`.
    public func stop() {
        signal(SIGKILL)
        process.waitUntilExit()
    }
}

/// One request the emulator served, as `/_emulator/requests` reports it.
public struct LoggedRequest: Decodable, Sendable, Hashable {
    public var sequence: Int
    public var method: String
    public var host: String
    public var path: String
    public var status: Int

    /// PUT, PATCH, POST or DELETE on an ARM resource (token requests and polls excluded).
    public var isMutatingARM: Bool {
        ["PUT", "PATCH", "POST", "DELETE"].contains(method) && path.lowercased().hasPrefix("/subscriptions/")
    }

    /// `PUT …/disks/kiln-quickstart-…-os` style key: the method and the path without query.
    public var key: String { "\(method) \(path.split(separator: "?").first.map(String.init) ?? path)" }
}

/// `kiln emulator serve` in its own process (loop devices by default, plain HTTP), with its
/// state in a scratch directory. Stop it with `stop()` (SIGTERM: it detaches every disk); a
/// test that `crash()`es it must `restart()` it before stopping so its loop devices go.
public final class ServedEmulator: @unchecked Sendable {
    // Mutated only by the test that owns the fixture, from one task at a time.
    public let stateDirectory: URL
    public let devices: String
    public private(set) var process: Process?
    public private(set) var endpoints: [String: Any] = [:]
    private let configFile: URL?

    /// `configJSON`: an emulator configuration (docs/emulator.md), e.g. a latency model.
    public init(stateDirectory: URL, configJSON: String? = nil, devices: String = "loop") throws {
        self.stateDirectory = stateDirectory
        self.devices = devices
        try FileManager.default.createDirectory(at: stateDirectory, withIntermediateDirectories: true)
        if let configJSON {
            let file = stateDirectory.appendingPathComponent("config.json")
            try Data(configJSON.utf8).write(to: file)
            configFile = file
        } else {
            configFile = nil
        }
        try start()
    }

    public var endpointsFile: String { stateDirectory.appendingPathComponent("endpoints.json").path }
    public var control: String { endpoints["control"] as? String ?? "" }
    public var logFile: URL { stateDirectory.appendingPathComponent("serve.log") }

    private func start() throws {
        try? FileManager.default.removeItem(atPath: endpointsFile)
        let p = Process()
        p.executableURL = KilnBinary.url
        p.arguments = ["emulator", "serve", "--state-dir", stateDirectory.path, "--devices", devices, "--no-tls"]
            + (configFile.map { ["--config", $0.path] } ?? [])
        FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let log = try FileHandle(forWritingTo: logFile)
        log.seekToEndOfFile()
        p.standardOutput = log
        p.standardError = log
        p.standardInput = FileHandle.nullDevice
        try p.run()
        try? log.close()
        process = p
        let ready = waitUntil(timeout: 60) { FileManager.default.fileExists(atPath: endpointsFile) || !p.isRunning }
        guard ready, p.isRunning, let data = FileManager.default.contents(atPath: endpointsFile),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            p.terminate()
            p.waitUntilExit()
            throw FixtureError("the emulator did not start: \((try? String(contentsOf: logFile, encoding: .utf8)) ?? "")")
        }
        endpoints = object
    }

    /// SIGTERM and wait: the emulator detaches every disk and saves its state.
    public func stop() {
        guard let p = process else { return }
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
        process = nil
    }

    /// SIGKILL, as a crash: loop devices stay attached until `restart()` adopts them.
    public func crash() {
        guard let p = process else { return }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        process = nil
    }

    /// Starts again on the same state (after `crash()` or `stop()`).
    public func restart() throws {
        if process != nil { stop() }
        try start()
    }

    /// Every request logged since the emulator started (or `since` a sequence number).
    public func requests(since: Int = 0) throws -> [LoggedRequest] {
        try JSONDecoder().decode([LoggedRequest].self, from: call("GET", "requests?since=\(since)"))
    }

    /// The emulator's inventory document (disks, snapshots, images, versions, attachments).
    public func inventory() throws -> [String: Any] {
        (try JSONSerialization.jsonObject(with: call("GET", "inventory")) as? [String: Any]) ?? [:]
    }

    /// The ids of the inventory's resources of an ARM type (e.g. `Microsoft.Compute/disks`).
    public func resources(ofType type: String) throws -> [String] {
        let all = (try inventory())["resources"] as? [[String: Any]] ?? []
        return all.filter { ($0["type"] as? String)?.lowercased() == type.lowercased() }.compactMap { $0["id"] as? String }
    }

    /// Replaces the fault rules (a JSON array, docs/emulator.md); `"[]"` clears them.
    public func setFaults(_ json: String) throws { _ = try call("PUT", "faults", body: json) }

    /// Replaces the latency model (JSON as in the configuration).
    public func setLatency(_ json: String) throws { _ = try call("PUT", "latency", body: json) }

    /// A control-surface call; throws on a non-2xx answer.
    public func call(_ method: String, _ path: String, body: String? = nil) throws -> Data {
        let url = control + (control.hasSuffix("/") ? "" : "/") + path
        let answer = try httpExchange(method, url, headers: body == nil ? [:] : ["Content-Type": "application/json"], body: body.map { Data($0.utf8) })
        guard (200..<300).contains(answer.status) else { throw FixtureError("\(method) \(url): HTTP \(answer.status) \(String(decoding: answer.body, as: UTF8.self))") }
        return answer.body
    }

    deinit { if process?.isRunning == true { stop() } }
}

/// What a test leaves on the machine that it should not: loop devices backed by files under
/// `directory`, and mounts whose path contains `mountFragment`.
public enum Leaks {
    public static func loopDevices(backedUnder directory: URL) -> [String] {
        guard let out = try? runProcess(URL(fileURLWithPath: "/sbin/losetup"), ["-a"]) else { return [] }
        return out.stdout.split(separator: "\n").map(String.init).filter { $0.contains(directory.path) }
    }

    /// Unmounts everything at or under `path` (for a test's cleanup after kiln kept a failed
    /// build mounted); deepest first, lazily as a last resort.
    public static func unmountAll(under path: String) {
        guard !mounts(containing: path).isEmpty else { return }
        if (try? runProcess(URL(fileURLWithPath: "/bin/umount"), ["-R", path]))?.status != 0 {
            _ = try? runProcess(URL(fileURLWithPath: "/bin/umount"), ["-R", "-l", path])
        }
    }

    /// SIGKILLs the processes whose root directory is `root` (a chroot a killed kiln left:
    /// its step's processes outlive it and keep the root busy), and waits for them to go.
    public static func killProcessesRooted(at root: String) {
        let resolved = URL(fileURLWithPath: root).resolvingSymlinksInPath().path
        func rootedThere(_ entry: String) -> Bool {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(entry)/root")) == resolved
        }
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != getpid(), rootedThere(entry) else { continue }
            kill(pid, SIGKILL)
        }
        _ = waitUntil(timeout: 10) { ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).allSatisfy { !rootedThere($0) } }
    }

    public static func mounts(containing mountFragment: String) -> [String] {
        // Through cat: String(contentsOfFile:) returns only the first page of a /proc file.
        let table = (try? runProcess(URL(fileURLWithPath: "/bin/cat"), ["/proc/self/mountinfo"]))?.stdout ?? ""
        return table.split(separator: "\n").map(String.init).filter { $0.contains(mountFragment) }
    }
}
