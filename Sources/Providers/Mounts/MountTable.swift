/// One line of `/proc/self/mountinfo` (see proc(5)), with octal escapes decoded.
public struct MountEntry: Sendable, Equatable, CustomStringConvertible {
    public var mountID: Int
    public var parentID: Int
    /// `major:minor` of the device.
    public var device: String
    /// The directory of the filesystem that forms this mount's root (`/` except for binds).
    public var root: String
    /// Where it is mounted.
    public var mountPoint: String
    public var mountOptions: [String]
    /// Optional fields such as `shared:1`, `master:2`.
    public var optionalFields: [String]
    public var fsType: String
    /// The mount source, e.g. `/dev/loop7`, or `none`.
    public var source: String
    public var superOptions: [String]

    public init(
        mountID: Int, parentID: Int, device: String, root: String, mountPoint: String, mountOptions: [String] = [],
        optionalFields: [String] = [], fsType: String, source: String, superOptions: [String] = []
    ) {
        self.mountID = mountID
        self.parentID = parentID
        self.device = device
        self.root = root
        self.mountPoint = mountPoint
        self.mountOptions = mountOptions
        self.optionalFields = optionalFields
        self.fsType = fsType
        self.source = source
        self.superOptions = superOptions
    }

    public var description: String { "\(source) on \(mountPoint) type \(fsType)" }

    /// The number of path components of the mount point; deeper mounts come off first.
    public var depth: Int { mountPoint.split(separator: "/").count }
}

/// The mount table: the mounts visible in this process's mount namespace, in the kernel's
/// order (a mount always comes after the mount it sits on).
public struct MountTable: Sendable, Equatable {
    public var entries: [MountEntry]

    public init(entries: [MountEntry]) {
        self.entries = entries
    }

    /// Parses the text of `/proc/self/mountinfo`. Malformed lines throw, naming the line.
    public init(mountInfo text: String) throws(MountError) {
        var entries: [MountEntry] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            entries.append(try Self.parse(line: Substring(line), number: index + 1))
        }
        self.entries = entries
    }

    /// Mounts at `path` or below it, in table order. `path` is compared as given: pass the
    /// canonical path (mountinfo shows resolved paths).
    public func entries(under path: String) -> [MountEntry] {
        let prefix = path == "/" ? "/" : (path.hasSuffix("/") ? path : path + "/")
        let exact = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        return entries.filter { $0.mountPoint == exact || $0.mountPoint.hasPrefix(prefix) }
    }

    /// The topmost mount at exactly `mountPoint`, if any.
    public func entry(at mountPoint: String) -> MountEntry? {
        entries.last { $0.mountPoint == mountPoint }
    }

    /// The mounts whose source is `source` (e.g. a device path).
    public func entries(source: String) -> [MountEntry] {
        entries.filter { $0.source == source }
    }

    /// The mounts of `devicePath` or of a partition on it (`/dev/sdc1`, `/dev/loop7p1`),
    /// as this mount namespace sees them.
    public func entries(onDevice devicePath: String) -> [MountEntry] {
        entries.filter { PartitionNaming.isOnDevice($0.source, devicePath) }
    }

    private static func parse(line: Substring, number: Int) throws(MountError) -> MountEntry {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard let separator = fields.firstIndex(of: "-"), separator >= 6, fields.count >= separator + 3,
            let mountID = Int(fields[0]), let parentID = Int(fields[1])
        else {
            throw .malformedMountInfo(line: number, text: String(line))
        }
        return MountEntry(
            mountID: mountID,
            parentID: parentID,
            device: fields[2],
            root: decodeMountInfoEscapes(fields[3]),
            mountPoint: decodeMountInfoEscapes(fields[4]),
            mountOptions: fields[5].split(separator: ",").map(String.init),
            optionalFields: Array(fields[6..<separator]),
            fsType: decodeMountInfoEscapes(fields[separator + 1]),
            source: decodeMountInfoEscapes(fields[separator + 2]),
            superOptions: fields.count > separator + 3
                ? fields[separator + 3].split(separator: ",").map(String.init) : []
        )
    }
}

/// Decodes the kernel's `\ooo` octal escapes in a mountinfo field (space `\040`, tab
/// `\011`, newline `\012`, backslash `\134`). Works on bytes so multi-byte UTF-8 names
/// survive.
public func decodeMountInfoEscapes(_ field: String) -> String {
    let bytes = Array(field.utf8)
    guard bytes.contains(UInt8(ascii: "\\")) else { return field }
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var i = 0
    func octal(_ b: UInt8) -> UInt8? {
        (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(b) ? b - UInt8(ascii: "0") : nil
    }
    while i < bytes.count {
        if bytes[i] == UInt8(ascii: "\\"), i + 3 < bytes.count,
            let a = octal(bytes[i + 1]), let b = octal(bytes[i + 2]), let c = octal(bytes[i + 3]), a <= 3
        {
            out.append(a << 6 | b << 3 | c)
            i += 4
            continue
        }
        out.append(bytes[i])
        i += 1
    }
    return String(decoding: out, as: UTF8.self)
}
