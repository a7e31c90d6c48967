import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The mounts of the emulator's mount namespace (`/proc/self/mountinfo`), and the lazy
/// unmount of everything a set of block devices holds up, as a VM's dying kernel drops them.
struct MountTable: Sendable {
    /// One line of `mountinfo`.
    struct Entry: Sendable, Hashable {
        var id: Int
        /// `major:minor` of the mounted filesystem's device.
        var device: String
        var mountPoint: String
        /// How deep the mount point is (`/` is 0), for unmounting deepest first.
        var depth: Int { mountPoint.split(separator: "/").count }
    }

    var entries: [Entry]

    /// Reads `/proc/self/mountinfo`; an unreadable file reads as no mounts.
    static func current() -> MountTable {
        let text = String(decoding: readWhole("/proc/self/mountinfo"), as: UTF8.self)
        return MountTable(entries: text.split(separator: "\n").compactMap { parse(String($0)) })
    }

    /// Every byte of a /proc file: read until EOF (Foundation's readers trust the size
    /// `stat` gives, 0 for /proc files, and stop after the first page).
    static func readWhole(_ path: String) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return bytes
    }

    /// `36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw`: id, parent,
    /// major:minor, root, mount point (octal escapes for blanks), …
    static func parse(_ line: String) -> Entry? {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 5, let id = Int(fields[0]) else { return nil }
        return Entry(id: id, device: String(fields[2]), mountPoint: unescape(String(fields[4])))
    }

    /// `\040` → space, as the kernel escapes blanks, tabs, newlines and backslashes.
    static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out = [UInt8]()
        let bytes = Array(s.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 3 < bytes.count,
                let v = UInt8(String(decoding: bytes[(i + 1)...(i + 3)], as: UTF8.self), radix: 8)
            {
                out.append(v)
                i += 4
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The mounts of the devices numbered `devices` (`major:minor`) and every mount at or
    /// beneath their mount points (bind mounts of /proc, /dev, /sys in a chroot), deepest
    /// first, the newest first among equals.
    func mounts(holding devices: Set<String>) -> [Entry] {
        let roots = entries.filter { devices.contains($0.device) }.map(\.mountPoint)
        func beneath(_ path: String) -> Bool {
            roots.contains { root in path == root || path.hasPrefix(root == "/" ? "/" : root + "/") }
        }
        return entries.filter { beneath($0.mountPoint) }.sorted {
            ($0.depth, $0.id) > ($1.depth, $1.id)
        }
    }

    /// The `major:minor` of a block device and its partitions, from sysfs.
    static func deviceNumbers(of device: String) -> Set<String> {
        let name = LoopDeviceState.kernelName(device)
        var numbers = Set<String>()
        func read(_ path: String) {
            if let text = try? String(contentsOfFile: path, encoding: .utf8) {
                numbers.insert(text.trimmingCharacters(in: .whitespacesAndNewlines))
            }
        }
        read("/sys/block/\(name)/dev")
        for partition in LoopDeviceState.partitions(of: device) {
            read("/sys/block/\(name)/\(LoopDeviceState.kernelName(partition.device))/dev")
        }
        return numbers
    }

    /// Lazily unmounts (`umount2(MNT_DETACH)`) every mount `mounts(holding:)` names, deepest
    /// first. Returns the mount points unmounted and what failed; a mount already gone with
    /// its parent (EINVAL, ENOENT) is not a failure.
    static func lazilyUnmount(holding devices: Set<String>) -> (unmounted: [String], problems: [String]) {
        var unmounted: [String] = []
        var problems: [String] = []
        let detach: Int32 = 2  // MNT_DETACH (an anonymous enum in <sys/mount.h>)
        for entry in current().mounts(holding: devices) {
            if umount2(entry.mountPoint, detach) == 0 {
                unmounted.append(entry.mountPoint)
            } else if errno != EINVAL && errno != ENOENT {
                problems.append("umount2(\(entry.mountPoint), MNT_DETACH): \(String(cString: strerror(errno)))")
            }
        }
        return (unmounted, problems)
    }
}

extension MountTable {
    /// A VM's death takes its processes with it: SIGKILLs every process whose root directory
    /// or working directory is at or beneath one of `mountPoints` (a step running in a chroot
    /// there), and waits up to `timeout` for them to go. Returns the pids killed.
    static func killProcesses(under mountPoints: [String], timeout: Duration = .seconds(10)) async -> [Int32] {
        guard !mountPoints.isEmpty else { return [] }
        func inside(_ path: String) -> Bool {
            mountPoints.contains { path == $0 || path.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }
        }
        func victims() -> [Int32] {
            let own = getpid()
            let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap { Int32($0) } ?? []
            return pids.filter { pid in
                guard pid != own else { return false }
                for link in ["root", "cwd"] {
                    if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/\(link)"),
                        inside(target)
                    {
                        return true
                    }
                }
                return false
            }
        }
        let killed = victims()
        for pid in killed { kill(pid, SIGKILL) }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while !victims().isEmpty, clock.now < deadline { try? await clock.sleep(for: .milliseconds(50)) }
        return killed
    }
}
