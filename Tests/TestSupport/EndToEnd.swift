import Foundation
import Testing

// Fixtures for tests that run the real `kiln` binary against a real emulator process:
// scratch copies of the examples, kiln in the background, and `kiln emulator serve`.

/// A scratch directory holding a copy of `manifests/` (so tests may edit scripts and
/// manifests), with its host paths (`TestHostPaths`). When the test ends (`TestScope`),
/// whatever is still mounted under its mount root is unmounted, then (after the emulator
/// stopped) the mount root's empty directories and the directory go.
public func manifestScratch(_ label: String) throws -> TemporaryDirectory {
    let scope = try TestScope.required()
    let dir = try TemporaryDirectory(label)
    scope.onExit(.mounts) { await Leaks.unmountAll(under: dir.hostPaths.mountRoot) }
    scope.onExit(.files) { await dir.removeWithMountRoot() }
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

    /// Where kiln run in this directory mounts and locks (`KilnBinary.environment`).
    public var hostPaths: TestHostPaths { TestHostPaths(for: url) }

    /// Unmounts what is left under the mount root, removes its empty directories (never
    /// anything that is not an empty directory), then removes the directory; when something
    /// stays mounted, the directory stays too and the test fails.
    public func removeWithMountRoot() async {
        let root = hostPaths.mountRoot
        await Leaks.unmountAll(under: root)
        let left = await Leaks.mounts(under: root)
        guard left.isEmpty else {
            Issue.record("still mounted under \(root), so \(url.path) is kept: \(left)")
            return
        }
        Leaks.removeEmptyDirectories(root)
        remove()
    }
}

/// A fixture that could not be set up.
public struct FixtureError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Waits (bounded by `timeout`) until `condition` holds, polling with `Task.sleep`; false
/// when it never did.
@discardableResult
public func waitUntil(timeout: Duration = .seconds(120), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

/// `kiln` started in the background, its stdout and stderr going to one file, in a session
/// of its own (`ChildProcess`). When the test ends (`TestScope`), it and everything it
/// started are killed, and the test fails if any of them outlives that.
public final class BackgroundKiln: Sendable {
    public let process: ChildProcess
    public let outputFile: URL

    /// `environment`: as for `KilnBinary.run` (the directory's host paths are added).
    public init(_ arguments: [String], in directory: URL, environment: [String: String]? = nil) throws {
        let scope = try TestScope.required()
        outputFile = directory.appendingPathComponent("kiln-\(UUID().uuidString.prefix(6)).log")
        FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        process = try ChildProcess.spawn(
            KilnBinary.url, arguments, in: directory,
            environment: KilnBinary.environment(environment, in: directory),
            output: .file(outputFile), error: .file(outputFile))
        let process = process
        scope.onExit(.processes) {
            let left = await process.killSession()
            if !left.isEmpty { Issue.record("processes of kiln \(process.pid) outlived SIGKILL: \(left)") }
        }
    }

    public var pid: Int32 { process.pid }
    public var isRunning: Bool { process.isRunning }
    public var output: String { (try? String(contentsOf: outputFile, encoding: .utf8)) ?? "" }

    /// Waits until `file` (default: the output) contains `text`, or the process ends.
    @discardableResult
    public func wait(for text: String, in file: URL? = nil, timeout: Duration = .seconds(120)) async -> Bool {
        let target = file ?? outputFile
        let contains = { (try? String(contentsOf: target, encoding: .utf8))?.contains(text) == true }
        return await waitUntil(timeout: timeout) { contains() || !process.isRunning } && contains()
    }

    public func signal(_ sig: Int32) { process.signal(sig) }

    /// Waits for the exit and returns the status (128 + signal when killed, as a shell says).
    @discardableResult
    public func waitForExit() async -> Int32 { await process.exit() }

    /// SIGKILLs kiln and every process it started (its session: the steps it left running
    /// in a chroot included, and nothing else), and reaps it.
    public func stop() async {
        let left = await process.killSession()
        if !left.isEmpty { Issue.record("processes of kiln \(process.pid) outlived SIGKILL: \(left)") }
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
/// state in a scratch directory. Stopped when the test ends (`TestScope`) unless stopped
/// before (`stop()`: SIGTERM, it detaches every disk); after a `crash()` it must be
/// `restart()`ed before it stops, so that its loop devices go.
public final class ServedEmulator: @unchecked Sendable {
    // Mutated only by the test that owns the fixture, from one task at a time.
    public let stateDirectory: URL
    public let devices: String
    public private(set) var process: ChildProcess?
    public private(set) var endpoints: [String: Any] = [:]
    private let configFile: URL

    /// `configJSON`: an emulator configuration (docs/emulator.md), e.g. a latency model.
    public init(stateDirectory: URL, configJSON: String? = nil, devices: String = "loop") async throws {
        let scope = try TestScope.required()
        self.stateDirectory = stateDirectory
        self.devices = devices
        try FileManager.default.createDirectory(at: stateDirectory, withIntermediateDirectories: true)
        let file = stateDirectory.appendingPathComponent("config.json")
        try Data(try Self.testConfiguration(configJSON).utf8).write(to: file)
        configFile = file
        scope.onExit(.services) { [self] in await stop() }
        try await start()
    }

    /// The configuration the tests serve with: lists of 2 items a page unless the test says
    /// otherwise (so Kiln's paging always runs), and `exchangeLog` set when
    /// `KILN_EXCHANGE_LOG_DIR` names a directory: every ARM exchange of the emulator goes to
    /// a file there, which `make test` checks against Azure's specifications once the suite
    /// has run (Tests/AzureSpecs).
    static func testConfiguration(_ configJSON: String?) throws -> String {
        var object =
            try configJSON.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:] } ?? [:]
        if object["pageSize"] == nil { object["pageSize"] = 2 }
        if let directory = ProcessInfo.processInfo.environment["KILN_EXCHANGE_LOG_DIR"], !directory.isEmpty {
            object["exchangeLog"] = "\(directory)/exchanges-\(UUID().uuidString.lowercased()).jsonl"
        }
        return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    public var endpointsFile: String { stateDirectory.appendingPathComponent("endpoints.json").path }
    public var control: String { endpoints["control"] as? String ?? "" }
    public var logFile: URL { stateDirectory.appendingPathComponent("serve.log") }

    private func start() async throws {
        try? FileManager.default.removeItem(atPath: endpointsFile)
        FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let arguments =
            ["emulator", "serve", "--state-dir", stateDirectory.path, "--devices", devices, "--no-tls"]
            + ["--config", configFile.path]
        let p = try ChildProcess.spawn(KilnBinary.url, arguments, output: .file(logFile), error: .file(logFile))
        process = p
        let endpointsFile = endpointsFile
        let ready = await waitUntil(timeout: .seconds(60)) {
            FileManager.default.fileExists(atPath: endpointsFile) || !p.isRunning
        }
        guard ready, p.isRunning, let data = FileManager.default.contents(atPath: endpointsFile),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else {
            await p.killSession()
            process = nil
            let log = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
            throw FixtureError("the emulator did not start: \(log)")
        }
        endpoints = object
    }

    /// SIGTERM and wait: the emulator detaches every disk and saves its state.
    public func stop() async {
        guard let p = process else { return }
        p.signal(SIGTERM)
        if await p.exit(within: .seconds(120)) == nil {
            Issue.record("the emulator did not stop within 120 s of SIGTERM; killed")
        }
        await p.killSession()
        process = nil
    }

    /// SIGKILL, as a crash: loop devices stay attached until `restart()` adopts them.
    public func crash() async {
        guard let p = process else { return }
        p.signal(SIGKILL)
        await p.exit()
        process = nil
    }

    /// Starts again on the same state (after `crash()` or `stop()`).
    public func restart() async throws {
        if process != nil { await stop() }
        try await start()
    }

    /// Every request logged since the emulator started (or `since` a sequence number).
    public func requests(since: Int = 0) async throws -> [LoggedRequest] {
        try JSONDecoder().decode([LoggedRequest].self, from: await call("GET", "requests?since=\(since)"))
    }

    /// The emulator's inventory document (disks, snapshots, images, versions, attachments).
    public func inventory() async throws -> [String: Any] {
        (try JSONSerialization.jsonObject(with: await call("GET", "inventory")) as? [String: Any]) ?? [:]
    }

    /// The ids of the inventory's resources of an ARM type (e.g. `Microsoft.Compute/disks`).
    public func resources(ofType type: String) async throws -> [String] {
        let all = (try await inventory())["resources"] as? [[String: Any]] ?? []
        return all.filter { ($0["type"] as? String)?.lowercased() == type.lowercased() }.compactMap {
            $0["id"] as? String
        }
    }

    /// Replaces the fault rules (a JSON array, docs/emulator.md); `"[]"` clears them.
    public func setFaults(_ json: String) async throws { _ = try await call("PUT", "faults", body: json) }

    /// Replaces the latency model (JSON as in the configuration).
    public func setLatency(_ json: String) async throws { _ = try await call("PUT", "latency", body: json) }

    /// A control-surface call; throws on a non-2xx answer.
    public func call(_ method: String, _ path: String, body: String? = nil) async throws -> Data {
        let url = control + (control.hasSuffix("/") ? "" : "/") + path
        let headers = body == nil ? [:] : ["Content-Type": "application/json"]
        let answer = try await httpExchange(method, url, headers: headers, body: body.map { Data($0.utf8) })
        guard (200..<300).contains(answer.status) else {
            throw FixtureError(
                "\(method) \(url): HTTP \(answer.status) \(String(decoding: answer.body, as: UTF8.self))")
        }
        return answer.body
    }

    deinit { process?.signal(SIGTERM) }
}

/// What a test leaves on the machine that it should not: loop devices backed by files under
/// `directory`, and mounts under a path.
public enum Leaks {
    public static func loopDevices(backedUnder directory: URL) async -> [String] {
        guard let out = try? await runProcess(URL(fileURLWithPath: "/sbin/losetup"), ["-a"]) else { return [] }
        return out.stdout.split(separator: "\n").map(String.init).filter { $0.contains(directory.path) }
    }

    /// Unmounts everything at or under `path` (for a test's cleanup after kiln kept a failed
    /// build mounted); deepest first, lazily as a last resort.
    public static func unmountAll(under path: String) async {
        let umount = URL(fileURLWithPath: "/bin/umount")
        for point in await mountPoints(under: path).sorted(by: { $0.count > $1.count }) {
            if (try? await runProcess(umount, [point]))?.status != 0 {
                _ = try? await runProcess(umount, ["-l", point])
            }
        }
    }

    /// The mount points at or under `path`.
    public static func mountPoints(under path: String) async -> [String] {
        await mounts(under: path).compactMap { line -> String? in
            let fields = line.split(separator: " ")
            return fields.count > 4 ? String(fields[4]) : nil
        }.filter { $0 == path || $0.hasPrefix(path + "/") }
    }

    /// Lines of the mount table whose mount point is `path` or under it.
    public static func mounts(under path: String) async -> [String] {
        await mounts(containing: path).filter { $0.contains(path + " ") || $0.contains(path + "/") }
    }

    public static func mounts(containing mountFragment: String) async -> [String] {
        // Through cat: String(contentsOfFile:) returns only the first page of a /proc file.
        let table = (try? await runProcess(URL(fileURLWithPath: "/bin/cat"), ["/proc/self/mountinfo"]))?.stdout ?? ""
        return table.split(separator: "\n").map(String.init).filter { $0.contains(mountFragment) }
    }

    /// Removes `path` and the directories under it, deepest first, with rmdir: only empty
    /// directories go (a mount point in use or a file stops it).
    public static func removeEmptyDirectories(_ path: String) {
        let children = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        for child in children {
            let full = path + "/" + child
            var isDirectory: ObjCBool = false
            let link = (try? FileManager.default.destinationOfSymbolicLink(atPath: full)) != nil
            if !link, FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), isDirectory.boolValue {
                removeEmptyDirectories(full)
            }
        }
        rmdir(path)
    }
}
