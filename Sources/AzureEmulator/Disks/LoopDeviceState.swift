import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Read-only facts about loop devices, taken from sysfs and the device nodes. No
/// subprocess: the backend's initializer reconciles with these synchronously.
enum LoopDeviceState {
    /// `loop7` for `/dev/loop7`.
    static func kernelName(_ device: String) -> String {
        (device as NSString).lastPathComponent
    }

    /// The file backing `device`, or nil when the device is free (or does not exist).
    /// A backing file deleted after setup reads as `path (deleted)` and is returned as is,
    /// so it never equals a live blob path.
    static func backingFile(of device: String) -> String? {
        let path = "/sys/block/\(kernelName(device))/loop/backing_file"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let trimmed = text.trimmingCharacters(in: .newlines)
        return trimmed.isEmpty ? nil : trimmed
    }

    /// True when `device` is set up on exactly `file` (compared by resolved path).
    static func isBacked(_ device: String, by file: String) -> Bool {
        guard let backing = backingFile(of: device) else { return false }
        return backing == canonicalPath(file)
    }

    /// Every loop device (`/dev/loopN`) whose backing file is `file`.
    static func devices(backedBy file: String) -> [String] {
        let target = canonicalPath(file)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/block")) ?? []
        return names.filter { $0.hasPrefix("loop") }
            .filter { backingFile(of: "/dev/" + $0) == target }
            .sorted()
            .map { "/dev/" + $0 }
    }

    /// Every loop device whose backing file lies inside `directory`, with that file.
    static func devices(backedUnder directory: String) -> [(device: String, file: String)] {
        let prefix = canonicalPath(directory) + "/"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/block")) ?? []
        return names.filter { $0.hasPrefix("loop") }.sorted().compactMap { name in
            guard let file = backingFile(of: "/dev/" + name), file.hasPrefix(prefix) else { return nil }
            return ("/dev/" + name, file)
        }
    }

    /// The partitions the kernel knows for `device`, as (number, `/dev/loop7pK`), by number.
    static func partitions(of device: String) -> [(number: Int, device: String)] {
        let name = kernelName(device)
        let dir = "/sys/block/\(name)"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return entries.filter { $0.hasPrefix(name + "p") }.compactMap { entry in
            let text = try? String(contentsOfFile: "\(dir)/\(entry)/partition", encoding: .utf8)
            guard let number = Int(text?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") else { return nil }
            return (number, "/dev/" + entry)
        }.sorted { $0.number < $1.number }
    }

    /// Tries an exclusive open of each of `devices`: a block device that is mounted (or
    /// otherwise claimed) anywhere, in any mount namespace, refuses it with EBUSY. Returns
    /// the devices that refused. Holding the open only for the test means we never block
    /// the real owner.
    static func busyDevices(_ devices: [String]) -> [String] {
        devices.filter { device in
            let fd = open(device, O_RDONLY | O_EXCL | O_CLOEXEC | O_NONBLOCK)
            if fd >= 0 {
                close(fd)
                return false
            }
            return errno == EBUSY
        }
    }

    static func canonicalPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
