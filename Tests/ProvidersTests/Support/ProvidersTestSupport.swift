import Foundation
import Providers
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension Tag {
    /// Tests that need root: loop devices, mounts, chroot.
    @Tag static var hostRoot: Self
}

let rootSkipReason: Comment = "needs root (losetup, mount, chroot); run the tests as root, as CI does"

/// A fresh directory under the system temp dir, removed by `remove()`.
struct ScratchDirectory {
    let path: String

    init(_ label: String = "kiln-prov") throws {
        var template = Array(
            "\(NSTemporaryDirectory().hasSuffix("/") ? NSTemporaryDirectory() : NSTemporaryDirectory() + "/")\(label)-XXXXXX"
                .utf8CString)
        guard let made = mkdtemp(&template) else {
            throw ScratchError("mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        path = String(cString: made)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    func write(_ name: String, _ text: String, mode: Int = 0o644) throws {
        let full = "\(path)/\(name)"
        try FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: full))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: full)
    }
}

struct ScratchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs a host shell command for test setup and returns its standard output; throws with
/// the output tail when it fails.
@discardableResult
func host(_ command: String, timeout: Duration = .seconds(120)) async throws -> String {
    let result = try await ProcessCommandRunner().runChecked(
        CommandSpec(command, timeout: timeout, captureStdout: true))
    return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Collects values from any thread.
final class Collector<Value: Sendable>: Sendable {
    private let storage = Mutex<[Value]>([])
    func append(_ value: Value) { storage.withLock { $0.append(value) } }
    var values: [Value] { storage.withLock { $0 } }
}

/// A sparse backing file attached as a loop device, detached by `detach()`.
struct TestLoopDevice {
    let file: String
    let device: String

    /// Allocates a free loop device the machine-wide way (`losetup -f --show`), retrying
    /// the rare race with another process that takes the same device first.
    static func make(in directory: String, sizeMiB: Int = 64) async throws -> TestLoopDevice {
        let file = "\(directory)/disk.img"
        try await host("truncate -s \(sizeMiB)M \(shellQuote(file))")
        var lastError: (any Error)?
        for _ in 0..<5 {
            do {
                let device = try await host("losetup -f --show \(shellQuote(file))")
                return TestLoopDevice(file: file, device: device)
            } catch {
                lastError = error
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        throw lastError!
    }

    /// Detaches the device (after removing partition devices `partx` may have added).
    func detach() async {
        _ = try? await host("partx -d \(shellQuote(device)) 2>/dev/null || true")
        _ = try? await host("losetup -d \(shellQuote(device))")
    }
}

/// Unmounts everything under `path` with `umount -R` (cleanup after a failed test).
func forceUnmount(_ path: String) async {
    _ = try? await host("if mountpoint -q \(shellQuote(path)); then umount -R \(shellQuote(path)); fi")
}

/// Makes a minimal root filesystem at `path` with busybox-static and its applets in /bin.
func makeBusyboxRoot(at path: String) async throws {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"].first { FileManager.default.isExecutableFile(atPath: $0) }
    guard let busybox else { throw ScratchError("busybox-static is not installed (apt-get install -y busybox-static)") }
    try await host(
        """
        set -e
        mkdir -p \(shellQuote(path))/bin \(shellQuote(path))/etc \(shellQuote(path))/tmp \(shellQuote(path))/root \(shellQuote(path))/dev
        mknod -m 666 \(shellQuote(path))/dev/null c 1 3
        cp \(shellQuote(busybox)) \(shellQuote(path))/bin/busybox
        for applet in $(\(shellQuote(busybox)) --list); do
          [ "$applet" = busybox ] || ln -sf busybox \(shellQuote(path))/bin/"$applet"
        done
        """)
}

/// True while a process with `pid` exists and is not a zombie.
func processIsAlive(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
    guard let close = stat.lastIndex(of: ")") else { return false }
    let state = stat[stat.index(close, offsetBy: 2)]
    return state != "Z" && state != "X"
}

/// Waits (bounded) until `condition` holds; returns whether it did.
func eventually(within: Duration = .seconds(20), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + within
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return condition()
}
