import Crypto
import Foundation
import Model

#if canImport(Glibc)
    import Glibc
#endif

/// Builds the disk file of a platform image: a partition table (MBR for Hyper-V generation
/// V1, GPT for V2) with an ext4 root filesystem in partition 1 that holds a small busybox
/// userland, the way Azure's Linux images are laid out. V2 images also carry an (empty,
/// unformatted) EFI system partition 15, as Ubuntu's Gen2 images do.
///
/// The filesystem is made with `mkfs.ext4 -d` straight into the partition's region of the
/// file (`-E offset=`), so building needs no mount, no loop device and only Debian's
/// `fdisk`, `e2fsprogs` and `busybox-static`. The userland is of the image's architecture:
/// the host's busybox for the host's, Debian's `busybox-static` of the other architecture
/// (extracted by `make deps`, see `BusyboxPaths`) for the other; its applets need not run
/// here.
///
/// Images are built on first use and cached in `cacheDirectory` under a name derived from
/// the key and the layout; a build writes a temporary file and renames it into place, so
/// concurrent first uses (even from two processes) never see a half-built image. Within
/// one process concurrent requests for the same key share one build.
public actor PlatformImageBuilder {
    /// 2 GiB: small enough to build in a second, big enough for a provisioning test.
    public static let defaultDiskBytes: Int64 = 2 << 30
    /// Bumped whenever the layout or contents change, so old cached files are not reused.
    static let layoutVersion = 2

    /// The emulator's default catalog (one list, kept in the configuration: two versions of
    /// one image and one image per Hyper-V generation); any key can be built.
    public static var defaultCatalog: [PlatformImageKey] { PlatformImage.defaultCatalog.map(\.key) }

    public nonisolated let cacheDirectory: String
    public nonisolated let diskBytes: Int64
    private let busybox: BusyboxPaths
    /// One build per image at a time: callers that ask while it runs share its result.
    private let builds = SingleFlight<PlatformImageKey, String>(policy: .whileRunning)

    /// - Parameters:
    ///   - cacheDirectory: where built images are kept (created when missing).
    ///   - diskBytes: the apparent size of each image disk (sparse); at least 64 MiB.
    ///   - busybox: the statically linked busybox of each architecture (`BusyboxPaths`).
    public init(
        cacheDirectory: String, diskBytes: Int64 = PlatformImageBuilder.defaultDiskBytes,
        busybox: BusyboxPaths = BusyboxPaths()
    ) {
        self.cacheDirectory = cacheDirectory
        self.diskBytes = max(diskBytes, 64 << 20)
        self.busybox = busybox
    }

    /// The path the image for `key` has (or will have) in the cache.
    public nonisolated func cachedPath(for key: PlatformImageKey) -> String {
        let fields = [
            key.publisher, key.offer, key.sku, key.version, key.hyperVGeneration, key.architecture.rawValue
        ].map(Self.sanitize)
        let digest = SHA256.hash(data: Data("\(key)|\(Self.layoutVersion)|\(diskBytes)".utf8))
        let short = digest.prefix(6).map { String(format: "%02x", $0) }.joined()
        return "\(cacheDirectory)/\(fields.joined(separator: "_"))-\(short).img"
    }

    /// The path of the image disk for `key`, building it first when it is not cached.
    /// Throws `imageBuildFailed` (or `toolMissing`) when a build fails; nothing is cached then.
    public func image(for key: PlatformImageKey) async throws -> String {
        let path = cachedPath(for: key)
        if FileManager.default.fileExists(atPath: path) { return path }
        let diskBytes = self.diskBytes
        let busybox = self.busybox
        let cacheDirectory = self.cacheDirectory
        return try await builds.run(key) {
            // A caller that waited for another's build finds the image cached.
            if FileManager.default.fileExists(atPath: path) { return path }
            try await Self.build(
                key: key, into: path, cacheDirectory: cacheDirectory, diskBytes: diskBytes, busybox: busybox)
            return path
        }
    }

    // MARK: - Building

    /// Partition geometry in 512-byte sectors.
    struct Layout: Equatable {
        var gpt: Bool
        var rootStart: Int64
        var rootSectors: Int64
        var espStart: Int64?
        var espSectors: Int64?

        var rootOffsetBytes: Int64 { rootStart * 512 }
        var rootKiB: Int64 { rootSectors / 2 }

        static func forDisk(bytes: Int64, generation: String) -> Layout {
            let total = bytes / 512
            let alignment: Int64 = 2048  // 1 MiB, as every modern partitioner aligns
            if generation.uppercased() == "V2" {
                let espStart: Int64 = 2048
                let espSectors: Int64 = 32768  // 16 MiB
                let rootStart = espStart + espSectors
                let lastUsable = total - 34  // the backup GPT takes the last 33 sectors
                let rootSectors = (lastUsable - rootStart + 1) / alignment * alignment
                return Layout(
                    gpt: true, rootStart: rootStart, rootSectors: rootSectors,
                    espStart: espStart, espSectors: espSectors)
            }
            let rootStart: Int64 = 2048
            return Layout(gpt: false, rootStart: rootStart, rootSectors: (total - rootStart) / alignment * alignment)
        }

        /// The sfdisk script; partitions are named `<file><N>` so that sfdisk uses N as the
        /// partition number (root = 1, ESP = 15).
        func sfdiskScript(file: String) -> String {
            if !gpt {
                return "label: dos\n\(file)1 : start=\(rootStart), size=\(rootSectors), type=83, bootable\n"
            }
            var script = "label: gpt\n"
            script +=
                "\(file)1 : start=\(rootStart), size=\(rootSectors), type=0FC63DAF-8483-4772-8E79-3D69C8477DE4, name=\"cloudimg-rootfs\"\n"
            if let espStart, let espSectors {
                script +=
                    "\(file)15 : start=\(espStart), size=\(espSectors), type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=\"UEFI\"\n"
            }
            return script
        }
    }

    private static func build(
        key: PlatformImageKey, into finalPath: String, cacheDirectory: String, diskBytes: Int64, busybox: BusyboxPaths
    ) async throws {
        let name =
            "\(key.publisher):\(key.offer):\(key.sku):\(key.version) (\(key.hyperVGeneration), \(key.architecture.rawValue))"
        func fail(_ reason: String) -> DiskBackendError { .imageBuildFailed(image: name, reason: reason) }

        let busyboxPath = try busybox.path(for: key.architecture) ?? locateBusybox()
        guard FileManager.default.fileExists(atPath: busyboxPath) else {
            throw fail(BusyboxPaths.missingAdvice(busyboxPath, architecture: key.architecture))
        }
        guard isStaticELF(busyboxPath) else {
            throw fail(
                "\(busyboxPath) is not a statically linked executable, so it cannot run in the image's chroot; install the Debian package busybox-static"
            )
        }
        guard let machine = elfMachine(busyboxPath), machine == key.architecture.elfMachine else {
            throw fail(
                "\(busyboxPath) is not an \(key.architecture.machineName) executable (ELF e_machine \(elfMachine(busyboxPath).map(String.init) ?? "unknown"), wanted \(key.architecture.elfMachine)); "
                    + BusyboxPaths.missingAdvice(busyboxPath, architecture: key.architecture))
        }
        let fm = FileManager.default
        try fm.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true)
        let work = "\(cacheDirectory)/.build-\(UUID().uuidString)"
        try fm.createDirectory(atPath: work, withIntermediateDirectories: false)
        defer { try? fm.removeItem(atPath: work) }

        let root = work + "/root"
        let applets = try await appletList(busyboxPath, architecture: key.architecture)
        try populateRoot(root, key: key, busybox: busyboxPath, available: applets)

        let disk = work + "/disk.img"
        let layout = Layout.forDisk(bytes: diskBytes, generation: key.hyperVGeneration)
        guard layout.rootSectors > 8192 else { throw fail("disk of \(diskBytes) bytes is too small") }
        try SparseFile.create(at: disk, bytes: diskBytes)
        try await runSfdisk(disk: disk, script: layout.sfdiskScript(file: disk))
        try await DiskCommand.check(
            "mkfs.ext4",
            [
                "-q", "-F", "-b", "4096", "-L", "cloudimg-rootfs",
                "-E", "offset=\(layout.rootOffsetBytes),root_owner=0:0",
                "-d", root, disk, "\(layout.rootKiB)k"
            ])
        // mke2fs must not have touched the size; a longer file would move the backup GPT.
        guard try SparseFile.size(of: disk) == diskBytes else { throw fail("mkfs.ext4 changed the disk file's size") }
        guard rename(disk, finalPath) == 0 else {
            throw DiskBackendError.systemCall(call: "rename", path: finalPath, errno: errno)
        }
    }

    /// sfdisk reads its script from standard input.
    private static func runSfdisk(disk: String, script: String) async throws {
        let scriptPath = disk + ".sfdisk"
        try script.write(toFile: scriptPath, atomically: false, encoding: .utf8)
        defer { unlink(scriptPath) }
        try await DiskCommand.check("sfdisk", ["-q", "--no-reread", "--no-tell-kernel", disk], stdinFile: scriptPath)
    }

    private static func locateBusybox() throws -> String {
        for candidate in ["/bin/busybox", "/usr/bin/busybox", "/usr/lib/busybox/busybox"]
        where access(candidate, X_OK) == 0 {
            return candidate
        }
        throw DiskBackendError.toolMissing(tool: "busybox", package: "busybox-static")
    }

    /// The applets `busybox` provides. A busybox of another architecture may not run here
    /// (no binfmt handler): then the host's own busybox-static, built by Debian with the same
    /// configuration, stands in for it, or failing that the list this builder links.
    private static func appletList(_ busybox: String, architecture: ImageArchitecture) async throws -> Set<String> {
        func list(_ path: String) async -> Set<String>? {
            guard let out = try? await DiskCommand.check(path, ["--list"]).stdout else { return nil }
            let names = Set(out.split(separator: "\n").map(String.init))
            return names.isEmpty ? nil : names
        }
        if let own = await list(busybox) { return own }
        if architecture == .host { throw DiskBackendError.toolMissing(tool: busybox, package: "busybox-static") }
        if let host = try? locateBusybox(), let hosts = await list(host) { return hosts }
        return Set(applets)
    }

    /// `e_machine` of the ELF file at `path` (little-endian ELF only), nil when it is not one.
    static func elfMachine(_ path: String) -> UInt16? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let header = try? handle.read(upToCount: 20), header.count == 20,
            header.prefix(4) == Data([0x7f, 0x45, 0x4c, 0x46]), header[header.startIndex + 5] == 1
        else { return nil }
        return UInt16(header[header.startIndex + 18]) | UInt16(header[header.startIndex + 19]) << 8
    }

    /// True when `path` is an ELF executable without a PT_INTERP program header, i.e. one
    /// that needs no dynamic loader inside the image.
    static func isStaticELF(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        guard let header = try? handle.read(upToCount: 64), header.count == 64,
            header.prefix(4) == Data([0x7f, 0x45, 0x4c, 0x46]), header[4] == 2  // 64-bit
        else { return false }
        func little(_ data: Data, _ offset: Int, _ count: Int) -> UInt64 {
            (0..<count).reduce(UInt64(0)) { $0 | UInt64(data[data.startIndex + offset + $1]) << (8 * UInt64($1)) }
        }
        let phoff = little(header, 0x20, 8)
        let phentsize = Int(little(header, 0x36, 2))
        let phnum = Int(little(header, 0x38, 2))
        guard phentsize >= 4, phnum > 0, (try? handle.seek(toOffset: phoff)) != nil,
            let table = try? handle.read(upToCount: phentsize * phnum), table.count == phentsize * phnum
        else { return false }
        let ptInterp: UInt64 = 3
        return !(0..<phnum).contains { little(table, $0 * phentsize, 4) == ptInterp }
    }

    /// The applets linked into /bin (those the host's busybox provides); `sh` is required.
    static let applets = [
        "sh", "ash", "ls", "cat", "echo", "mkdir", "rmdir", "rm", "cp", "mv", "ln", "chmod", "chown",
        "touch", "grep", "egrep", "sed", "awk", "env", "id", "whoami", "uname", "hostname", "sleep",
        "true", "false", "test", "[", "[[", "printf", "head", "tail", "wc", "sync", "sort", "uniq",
        "cut", "tr", "tee", "find", "xargs", "date", "dirname", "basename", "readlink", "realpath",
        "stat", "du", "df", "pwd", "which", "expr", "seq", "mktemp", "md5sum", "sha256sum", "gzip",
        "gunzip", "zcat", "tar", "diff", "cmp", "ps", "kill", "vi", "less", "more", "mount", "umount",
        "install", "nproc", "timeout", "base64", "od", "hexdump", "dd", "stty", "tty"
    ]

    private static func populateRoot(_ root: String, key: PlatformImageKey, busybox: String, available: Set<String>)
        throws
    {
        let fm = FileManager.default
        func dir(_ path: String, _ mode: Int = 0o755) throws {
            try fm.createDirectory(atPath: root + path, withIntermediateDirectories: true)
            guard chmod(root + path, mode_t(mode)) == 0 else {
                throw DiskBackendError.systemCall(call: "chmod", path: root + path, errno: errno)
            }
        }
        func file(_ path: String, _ text: String, _ mode: Int = 0o644) throws {
            try text.write(toFile: root + path, atomically: false, encoding: .utf8)
            chmod(root + path, mode_t(mode))
        }
        func link(_ path: String, _ target: String) throws {
            try fm.createSymbolicLink(atPath: root + path, withDestinationPath: target)
        }

        for path in [
            "/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/lib", "/etc", "/home", "/mnt", "/opt",
            "/var/log", "/var/lib", "/var/cache", "/proc", "/sys", "/dev", "/run/systemd/resolve", "/boot"
        ] {
            try dir(path)
        }
        try dir("/tmp", 0o1777)
        try dir("/var/tmp", 0o1777)
        try dir("/root", 0o700)
        if key.hyperVGeneration.uppercased() == "V2" { try dir("/boot/efi") }

        try fm.copyItem(atPath: busybox, toPath: root + "/bin/busybox")
        chmod(root + "/bin/busybox", 0o755)
        guard available.contains("sh") else {
            throw DiskBackendError.imageBuildFailed(image: key.version, reason: "\(busybox) has no 'sh' applet")
        }
        var linked = Set<String>()
        for applet in applets where available.contains(applet) && !linked.contains(applet) {
            try link("/bin/" + applet, "busybox")
            linked.insert(applet)
        }
        // Scripts start with `#!/usr/bin/env bash`-style lines; env at its usual place.
        try link("/usr/bin/env", "../../bin/busybox")

        func quoted(_ value: String) -> String {
            "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                + "\""
        }
        let osRelease =
            [
                "NAME=\"Kiln Emulator Linux\"",
                "ID=kiln-emulator",
                "VERSION=\(quoted("\(key.sku) \(key.version)"))",
                "VERSION_ID=\(quoted(key.version))",
                "PRETTY_NAME=\(quoted("Kiln emulator image \(key.publisher):\(key.offer):\(key.sku):\(key.version)"))",
                "KILN_IMAGE_PUBLISHER=\(quoted(key.publisher))",
                "KILN_IMAGE_OFFER=\(quoted(key.offer))",
                "KILN_IMAGE_SKU=\(quoted(key.sku))",
                "KILN_IMAGE_VERSION=\(quoted(key.version))",
                "KILN_IMAGE_HYPERV_GENERATION=\(quoted(key.hyperVGeneration))",
                "KILN_IMAGE_ARCHITECTURE=\(quoted(key.architecture.rawValue))"
            ].joined(separator: "\n") + "\n"
        try file("/usr/lib/os-release", osRelease)
        try link("/etc/os-release", "../usr/lib/os-release")
        try file("/etc/hostname", "localhost\n")
        try file("/etc/hosts", "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n")
        try file("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
        try file("/etc/group", "root:x:0:\nnogroup:x:65534:\n")
        try file("/etc/shadow", "root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n", 0o640)
        try file("/etc/profile", "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n")
        try file("/etc/fstab", "LABEL=cloudimg-rootfs / ext4 defaults 0 1\n")
        // As on systemd images: a symlink into /run. The stub file exists in the image so that
        // the link is not dangling inside a chroot that does not mount /run.
        try file("/run/systemd/resolve/stub-resolv.conf", "nameserver 127.0.0.53\noptions edns0 trust-ad\n")
        try link("/etc/resolv.conf", "../run/systemd/resolve/stub-resolv.conf")
    }

    private static func sanitize(_ value: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
        return String(value.map { allowed.contains($0) ? $0 : "-" }.prefix(60))
    }
}
