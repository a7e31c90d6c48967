import Foundation

/// The Blob service's state on disk: `STATE/blob-storage/index.json` (containers, blob
/// properties, leases) and one content file per blob under `STATE/blob-storage/data/`, so a
/// restarted emulator serves the same blobs. Content is written before the index names it.
struct BlobStore: Sendable {
    let directory: URL
    var containers: [String: StoredBlobContainer] = [:]
    /// The last ETag's ticks, so every write gets a new, larger one even within a tick.
    var lastTicks: UInt64 = 0

    private struct Index: Codable {
        var containers: [String: StoredBlobContainer]
        var lastTicks: UInt64
    }

    var indexFile: URL { directory.appendingPathComponent("index.json") }
    var dataDirectory: URL { directory.appendingPathComponent("data") }

    init(stateDirectory: URL) throws {
        directory = stateDirectory.appendingPathComponent("blob-storage")
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        if let data = try? Data(contentsOf: indexFile) {
            let index = try JSONDecoder().decode(Index.self, from: data)
            containers = index.containers
            lastTicks = index.lastTicks
        }
    }

    func save() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(Index(containers: containers, lastTicks: lastTicks)).write(to: indexFile, options: .atomic)
    }

    /// A new ETag from the time in .NET ticks (as Azure's look), strictly increasing.
    mutating func newETag(at now: Date) -> BlobETag {
        let ticks = UInt64((now.timeIntervalSince1970 + 62_135_596_800) * 10_000_000)
        lastTicks = max(ticks, lastTicks + 1)
        return BlobETag(value: "0x" + String(lastTicks, radix: 16, uppercase: true))
    }

    func content(of blob: StoredBlob) throws -> Data {
        try Data(contentsOf: dataDirectory.appendingPathComponent(blob.dataFile))
    }

    /// Writes content to a new file and returns its name.
    func writeContent(_ data: Data) throws -> String {
        let name = UUID().uuidString.lowercased()
        try data.write(to: dataDirectory.appendingPathComponent(name), options: .atomic)
        return name
    }

    func removeContent(_ file: String) {
        try? FileManager.default.removeItem(at: dataDirectory.appendingPathComponent(file))
    }

    /// Forgets every container and blob (the control surface's reset).
    mutating func removeAll() throws {
        for c in containers.values { for b in c.blobs.values { removeContent(b.dataFile) } }
        containers = [:]
        try save()
    }
}
