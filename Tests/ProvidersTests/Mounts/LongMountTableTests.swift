import Foundation
import Providers
import Testing

/// The real mount table, read when it is longer than a page: procfs files have no size, and
/// reading one with `String(contentsOfFile:)` stops at 4 KiB, which hid the newest mounts
/// (the build's own root) on a machine with many mounts.
@Suite(.enabled(if: getuid() == 0, "needs root: mounts tmpfs"))
struct LongMountTable {
    @Test func mountsPastTheFirstPageAreSeen() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "kiln-mounttable-\(UUID().uuidString.prefix(8))")
        let manager = SystemMountManager(runner: ProcessCommandRunner())
        var mounted: [String] = []
        defer {
            for path in mounted.reversed() {
                _ = try? Process.run(URL(fileURLWithPath: "/bin/umount"), arguments: [path]).waitUntilExit()
            }
            try? FileManager.default.removeItem(at: dir)
        }
        // Enough mounts that the table is well past 4 KiB whatever else is mounted.
        for i in 0..<40 {
            let path = dir.appendingPathComponent("m\(i)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let p = try Process.run(URL(fileURLWithPath: "/bin/mount"), arguments: ["-t", "tmpfs", "kiln-test", path])
            p.waitUntilExit()
            try #require(p.terminationStatus == 0)
            mounted.append(path)
        }
        let size = (try? FileHandle(forReadingAtPath: "/proc/self/mountinfo")?.readToEnd()?.count) ?? 0
        #expect(size > 4096)
        let table = try await manager.mountTable()
        let canonical = URL(fileURLWithPath: mounted.last!).resolvingSymlinksInPath().path
        #expect(table.entry(at: canonical) != nil, "the last of \(table.entries.count) mounts is missing")
    }
}
