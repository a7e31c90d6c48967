import Foundation
import Providers
import Testing

/// `copyHostFile`/`restoreHostFile` with real files: these need no root, only a directory
/// standing in for the mounted image.
@Suite("Copying host files into the image")
struct HostFileCopyTests {
    struct Fixture {
        let scratch: ScratchDirectory
        let root: String
        let hostResolv: String
        let executor = SystemChrootExecutor(runner: ProcessCommandRunner())
        var image: String { "\(root)/etc/resolv.conf" }

        init() throws {
            scratch = try ScratchDirectory()
            root = "\(scratch.path)/root"
            try FileManager.default.createDirectory(atPath: "\(root)/etc", withIntermediateDirectories: true)
            try scratch.write("host/resolv.conf", "nameserver 10.0.0.53\n")
            // The host's own resolv.conf is often a symlink: its content is what is copied.
            try FileManager.default.createSymbolicLink(
                atPath: "\(scratch.path)/host/resolv-link", withDestinationPath: "resolv.conf")
            hostResolv = "\(scratch.path)/host/resolv-link"
        }

        func etcListing() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: "\(root)/etc").sorted()
        }
    }

    @Test func aRegularFileIsRestoredWithItsContentModeAndInode() async throws {
        let f = try Fixture()
        defer { f.scratch.remove() }
        try f.scratch.write("root/etc/resolv.conf", "nameserver 1.1.1.1 # the image's\n", mode: 0o600)
        let inode = try FileManager.default.attributesOfItem(atPath: f.image)[.systemFileNumber] as? UInt64

        try await f.executor.copyHostFile(f.hostResolv, to: "/etc/resolv.conf", root: f.root)
        #expect(try String(contentsOfFile: f.image, encoding: .utf8) == "nameserver 10.0.0.53\n")

        #expect(try await f.executor.restoreHostFile(at: "/etc/resolv.conf", root: f.root) == .restoredOriginal)
        #expect(try String(contentsOfFile: f.image, encoding: .utf8) == "nameserver 1.1.1.1 # the image's\n")
        let attributes = try FileManager.default.attributesOfItem(atPath: f.image)
        #expect(attributes[.posixPermissions] as? Int == 0o600)
        #expect(attributes[.systemFileNumber] as? UInt64 == inode)
        #expect(try f.etcListing() == ["resolv.conf"])
    }

    @Test func aSymlinkIsRestoredAsTheSameSymlink() async throws {
        let f = try Fixture()
        defer { f.scratch.remove() }
        try FileManager.default.createSymbolicLink(
            atPath: f.image, withDestinationPath: "../run/systemd/resolve/stub-resolv.conf")

        try await f.executor.copyHostFile(f.hostResolv, to: "/etc/resolv.conf", root: f.root)
        #expect(
            (try? FileManager.default.destinationOfSymbolicLink(atPath: f.image)) == nil, "the copy is a regular file")
        #expect(try String(contentsOfFile: f.image, encoding: .utf8) == "nameserver 10.0.0.53\n")

        #expect(try await f.executor.restoreHostFile(at: "/etc/resolv.conf", root: f.root) == .restoredOriginal)
        #expect(
            try FileManager.default.destinationOfSymbolicLink(atPath: f.image)
                == "../run/systemd/resolve/stub-resolv.conf")
        #expect(try f.etcListing() == ["resolv.conf"])
    }

    @Test func anAbsentFileIsAbsentAgainAfterwards() async throws {
        let f = try Fixture()
        defer { f.scratch.remove() }
        try await f.executor.copyHostFile(f.hostResolv, to: "/etc/resolv.conf", root: f.root)
        #expect(FileManager.default.fileExists(atPath: f.image))
        #expect(try await f.executor.restoreHostFile(at: "/etc/resolv.conf", root: f.root) == .removedCopy)
        #expect(try f.etcListing().isEmpty)
    }

    @Test func aResumedRunStillRestoresTheOriginal() async throws {
        let f = try Fixture()
        defer { f.scratch.remove() }
        try f.scratch.write("root/etc/resolv.conf", "original\n")
        try await f.executor.copyHostFile(f.hostResolv, to: "/etc/resolv.conf", root: f.root)
        // A crash, then a new process copies again: the saved original must not be
        // replaced by Kiln's own copy.
        let resumed = SystemChrootExecutor(runner: ProcessCommandRunner())
        try await resumed.copyHostFile(f.hostResolv, to: "/etc/resolv.conf", root: f.root)
        #expect(try await resumed.restoreHostFile(at: "/etc/resolv.conf", root: f.root) == .restoredOriginal)
        #expect(try String(contentsOfFile: f.image, encoding: .utf8) == "original\n")
        // Restoring twice is harmless and never deletes the image's file.
        #expect(try await resumed.restoreHostFile(at: "/etc/resolv.conf", root: f.root) == .nothingRecorded)
        #expect(try String(contentsOfFile: f.image, encoding: .utf8) == "original\n")
    }

    @Test func aDirectoryInTheWayIsRefused() async throws {
        let f = try Fixture()
        defer { f.scratch.remove() }
        try FileManager.default.createDirectory(atPath: f.image, withIntermediateDirectories: true)
        await #expect {
            try await f.executor.copyHostFile(f.hostResolv, to: "/etc/resolv.conf", root: f.root)
        } throws: { error in
            guard case ChrootError.cannotReplace(let path, let kind) = error else { return false }
            return path == "/etc/resolv.conf" && kind == "directory"
        }
        await #expect(throws: ChrootError.self) {
            try await f.executor.copyHostFile("\(f.scratch.path)/host", to: "/etc/x", root: f.root)
        }
    }
}

@Suite("InMemoryChrootExecutor")
struct InMemoryChrootExecutorTests {
    @Test func savesAndRestoresLikeTheRealOne() async throws {
        let executor = InMemoryChrootExecutor(files: [
            "/host/resolv.conf": .file(contents: "host", mode: 0o644),
            "/r/etc/resolv.conf": .symlink(target: "../run/stub")
        ])
        try await executor.copyHostFile("/host/resolv.conf", to: "/etc/resolv.conf", root: "/r")
        #expect(await executor.files["/r/etc/resolv.conf"] == .file(contents: "host", mode: 0o644))
        #expect(try await executor.restoreHostFile(at: "/etc/resolv.conf", root: "/r") == .restoredOriginal)
        #expect(await executor.files["/r/etc/resolv.conf"] == .symlink(target: "../run/stub"))
        #expect(try await executor.restoreHostFile(at: "/etc/resolv.conf", root: "/r") == .nothingRecorded)
    }

    @Test func errorPaths() async throws {
        let executor = InMemoryChrootExecutor(files: [
            "/host/f": .file(contents: "x", mode: 0o644), "/r/etc": .directory
        ])
        await #expect(throws: ChrootError.self) {
            try await executor.copyHostFile("/host/missing", to: "/etc/f", root: "/r")
        }
        await #expect(throws: ChrootError.self) { try await executor.copyHostFile("/host/f", to: "/etc", root: "/r") }
        await #expect(throws: ChrootError.self) {
            try await executor.upload(from: "/host/f", to: "../x", root: "/r", mode: nil)
        }
        await executor.setFailFileOperations("disk full")
        await #expect(throws: ChrootError.self) {
            try await executor.upload(from: "/host/f", to: "/x", root: "/r", mode: nil)
        }
        await #expect(throws: ChrootError.self) {
            _ = try await executor.run(
                ChrootCommand(root: "/r", command: "true", environment: ["BAD NAME": "x"]), output: { _ in })
        }
        await executor.on("apt-get", respond: .exit(100, stderr: ["E: Unable to locate package"]))
        let result = try await executor.run(
            ChrootCommand(root: "/r", command: "apt-get install nope", timeout: .seconds(5)), output: { _ in })
        #expect(result.termination == .exited(100))
        await executor.on("sleep", respond: .timeout)
        await #expect(throws: CommandRunnerError.self) {
            _ = try await executor.run(
                ChrootCommand(root: "/r", command: "sleep 9", timeout: .seconds(1)), output: { _ in })
        }
        #expect(await executor.commands.map(\.command) == ["apt-get install nope", "sleep 9"])
    }
}
