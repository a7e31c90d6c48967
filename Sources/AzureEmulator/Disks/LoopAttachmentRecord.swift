import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One disk attached to a builder VM, as recorded in `STATE/attachments.json` so that an
/// emulator restarted after a crash can still detach it.
public struct LoopAttachmentRecord: Sendable, Hashable, Codable {
    /// The blob id the caller gave to `attach`.
    public var id: String
    /// The builder VM it is attached to (0 in records written before there were several).
    public var vm: Int
    public var lun: Int
    /// The blob file the loop device was set up on.
    public var file: String
    /// e.g. `/dev/loop7`.
    public var loopDevice: String
    /// Partition devices added with `partx -a`, keyed by partition number.
    public var partitions: [Int: String]
    public var attachedAt: Date

    public init(
        id: String, vm: Int = 0, lun: Int, file: String, loopDevice: String, partitions: [Int: String],
        attachedAt: Date
    ) {
        self.id = id
        self.vm = vm
        self.lun = lun
        self.file = file
        self.loopDevice = loopDevice
        self.partitions = partitions
        self.attachedAt = attachedAt
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        vm = try c.decodeIfPresent(Int.self, forKey: .vm) ?? 0
        lun = try c.decode(Int.self, forKey: .lun)
        file = try c.decode(String.self, forKey: .file)
        loopDevice = try c.decode(String.self, forKey: .loopDevice)
        partitions = try c.decode([Int: String].self, forKey: .partitions)
        attachedAt = try c.decode(Date.self, forKey: .attachedAt)
    }

    /// Where it is attached.
    public var slot: BuilderLUN { BuilderLUN(vm: vm, lun: lun) }
}

/// Reads and writes the attachment records file. Writes are atomic (temp, fsync, rename):
/// a crash leaves either the old or the new list, never a torn one.
struct AttachmentStore: Sendable {
    let path: String

    func load() throws -> [BuilderLUN: LoopAttachmentRecord] {
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let records = try decoder.decode([LoopAttachmentRecord].self, from: data)
        return Dictionary(records.map { ($0.slot, $0) }, uniquingKeysWith: { first, _ in first })
    }

    func save(_ records: [BuilderLUN: LoopAttachmentRecord]) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(records.values.sorted { $0.slot < $1.slot })
        let temporary = path + ".tmp-\(UUID().uuidString)"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw DiskBackendError.systemCall(call: "open", path: temporary, errno: errno) }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == data.count, synced == 0, rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw DiskBackendError.systemCall(call: "write+rename", path: path, errno: code)
        }
    }
}
