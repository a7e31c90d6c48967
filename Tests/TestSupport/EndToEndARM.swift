import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

// Fixtures for end-to-end tests that act behind Kiln's back: ARM calls to a served emulator
// (to create a source or introduce drift) and reading files out of the emulator's disk blobs.

/// One HTTP exchange on loopback, bounded by `timeout`; throws only when there was no answer.
public func httpExchange(
    _ method: String, _ urlString: String, headers: [String: String] = [:], body: Data? = nil,
    timeout: TimeInterval = 30
) async throws -> (status: Int, body: Data) {
    guard let url = URL(string: urlString) else { throw FixtureError("bad URL \(urlString)") }
    var request = URLRequest(url: url, timeoutInterval: timeout)
    request.httpMethod = method
    request.httpBody = body
    for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
    return try await withCheckedThrowingContinuation { continuation in
        URLSession.shared.dataTask(with: request) { data, response, error in
            if let error {
                continuation.resume(throwing: FixtureError("\(method) \(url): \(error)"))
            } else {
                continuation.resume(returning: ((response as? HTTPURLResponse)?.statusCode ?? 0, data ?? Data()))
            }
        }.resume()
    }
}

extension ServedEmulator {
    /// The emulator's subscription id.
    public var subscriptionID: String { endpoints["subscriptionId"] as? String ?? "" }

    /// An access token for ARM from the emulator's Entra endpoint (its default client secret).
    public func armToken() async throws -> String {
        guard let login = endpoints["login"] as? String, let tenant = endpoints["tenantId"] as? String,
            let credential = endpoints["credential"] as? [String: Any],
            let client = credential["clientId"] as? String, let secret = credential["clientSecret"] as? String
        else {
            throw FixtureError("endpoints.json lacks login, tenantId or credential")
        }
        let form =
            "grant_type=client_credentials&client_id=\(client)&client_secret=\(secret)&scope=https%3A%2F%2Fmanagement.azure.com%2F.default"
        let answer = try await httpExchange(
            "POST", "\(login)/\(tenant)/oauth2/v2.0/token",
            headers: ["Content-Type": "application/x-www-form-urlencoded"], body: Data(form.utf8))
        guard answer.status == 200, let object = try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any],
            let token = object["access_token"] as? String
        else {
            throw FixtureError("token request: HTTP \(answer.status) \(String(decoding: answer.body, as: UTF8.self))")
        }
        return token
    }

    /// An authenticated ARM call (`path` starts with `/subscriptions/`): the status and the
    /// JSON body (empty when there is none).
    @discardableResult
    public func arm(_ method: String, _ path: String, apiVersion: String, body: String? = nil) async throws -> (
        status: Int, json: [String: Any]
    ) {
        guard let base = endpoints["arm"] as? String else { throw FixtureError("endpoints.json lacks arm") }
        var headers = ["Authorization": "Bearer \(try await armToken())"]
        if body != nil { headers["Content-Type"] = "application/json" }
        let separator = path.contains("?") ? "&" : "?"
        let answer = try await httpExchange(
            method, "\(base)\(path)\(separator)api-version=\(apiVersion)", headers: headers,
            body: body.map { Data($0.utf8) })
        let json = (try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any]) ?? [:]
        return (answer.status, json)
    }

    /// Waits (bounded) until the resource at `path` reports `provisioningState` `Succeeded`
    /// or `Failed`; returns the last state seen.
    @discardableResult
    public func waitForProvisioning(_ path: String, apiVersion: String, timeout: TimeInterval = 120) async throws
        -> String
    {
        var state = ""
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            let answer = try await arm("GET", path, apiVersion: apiVersion)
            state =
                (answer.json["properties"] as? [String: Any])?["provisioningState"] as? String
                ?? "HTTP \(answer.status)"
            if state == "Succeeded" || state == "Failed" { return state }
            try await Task.sleep(for: .milliseconds(100))
        } while Date() < deadline
        return state
    }

    /// The inventory's resources (each a JSON object with `id`, `type`, `blobs`, …).
    public func inventoryResources() async throws -> [[String: Any]] {
        (try await inventory())["resources"] as? [[String: Any]] ?? []
    }

    /// The files holding the blobs of the resource `id` (an image's or version's OS disk
    /// first, then its data disks, in the emulator's order). The loop backend names a blob
    /// file `<the blob id's last two components>-<16 hex of its SHA-256>.img`.
    public func blobFiles(of id: String) async throws -> [URL] {
        guard
            let resource = try await inventoryResources().first(where: {
                ($0["id"] as? String)?.lowercased() == id.lowercased()
            })
        else {
            throw FixtureError("the emulator has no resource \(id)")
        }
        let directory = stateDirectory.appendingPathComponent("disks/blobs")
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")
        var files: [URL] = []
        for blob in (resource["blobs"] as? [String]) ?? [] {
            let tail = blob.split(separator: "/").suffix(2).joined(separator: "_")
            let readable = String(tail.map { allowed.contains($0) ? $0 : "-" }.suffix(80))
            let hash = try await runProcess(
                URL(fileURLWithPath: "/bin/sh"), ["-c", "printf '%s' \"$1\" | sha256sum", "sh", blob])
            let file = directory.appendingPathComponent("\(readable)-\(hash.stdout.prefix(16)).img")
            guard FileManager.default.fileExists(atPath: file.path) else {
                throw FixtureError("blob \(blob): no file \(file.path)")
            }
            files.append(file)
        }
        return files
    }
}

/// Reads files out of a disk image file holding ext4 (whole disk, or in a partition) with
/// `debugfs`, so nothing is mounted and no loop device is used.
public enum DiskImage {
    /// The byte offset of partition `number` (1-based) in the image's partition table.
    public static func partitionOffset(_ image: URL, number: Int) async throws -> Int {
        let out = try await runProcess(URL(fileURLWithPath: "/usr/sbin/sfdisk"), ["-J", image.path])
        guard out.status == 0,
            let object = try? JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any],
            let table = object["partitiontable"] as? [String: Any],
            let device = table["device"] as? String, let partitions = table["partitions"] as? [[String: Any]],
            // Listed in disk order, not by number (a UEFI partition 15 may come first).
            let start = partitions.first(where: { ($0["node"] as? String) == "\(device)\(number)" })?["start"] as? Int
        else {
            throw FixtureError("sfdisk -J \(image.path) (exit \(out.status)): \(out.stdout) \(out.stderr)")
        }
        let sector = table["sectorsize"] as? Int ?? 512
        return start * sector
    }

    /// The content of `path` in the ext4 filesystem of `image` (in `partition` when given);
    /// nil when debugfs cannot read it.
    public static func read(_ path: String, in image: URL, partition: Int? = nil) async throws -> String? {
        var device = image.path
        if let partition { device += "?offset=\(try await partitionOffset(image, number: partition))" }
        let out = try await runProcess(URL(fileURLWithPath: "/usr/sbin/debugfs"), ["-R", "cat \(path)", device])
        // debugfs exits 0 even when there is no filesystem or no such file; it says so on stderr.
        let failures = ["not found", "Could not open", "Bad magic", "not open"]
        guard out.status == 0, !failures.contains(where: out.stderr.contains) else { return nil }
        return out.stdout
    }
}
