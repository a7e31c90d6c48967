import Foundation
import Model
import Planner
import Providers
import TestSupport
import Testing

@testable import Reconciler

#if canImport(Glibc)
    import Glibc
#endif

extension Tag {
    /// Tests that need root (chroot).
    @Tag static var vmRoot: Self
}

/// The provision executor with the real chroot executor, on a busybox root directory (no
/// disk or mount needed: the in-memory mount table says the root is mounted).
@Suite(
    .tags(.vmRoot), .enabled(if: getuid() == 0, "needs root (chroot); run the tests as root, as CI does"),
    .enabled(if: VMBusybox.path != nil, "needs busybox-static (apt-get install -y busybox-static)"))
struct VMProvisionOnBusyboxRootTests {
    @Test func stepsRunInTheChrootWithTheirEnvironmentScriptArgumentsAndUploads() async throws {
        let dir = try TemporaryDirectory("kiln-vmx")
        defer { dir.remove() }
        let root = canonicalPath(dir.url.appendingPathComponent("root").path)
        try await VMBusybox.makeRoot(at: root)
        let files = ["scripts/args.sh": "#!/bin/sh\necho \"$#:$1\" > /root/args\n", "files/banner": "welcome\n"]
        for (path, text) in files { try dir.write(path, text, mode: 0o644) }

        var f = try await VMExecutorFixture(
            build: """
                    mount: {path: '\(root)'}
                    provision:
                      - name: greet
                        shell: ['echo "$GREETING from $KILN_MOUNT_PATH on $DEVICE" > /root/greeting', 'echo second >> /root/greeting']
                        env: {GREETING: 'hello {{.BuildName}}'}
                      - name: args
                        script: scripts/args.sh
                        args: ['two words; touch /root/injected']
                      - name: banner
                        upload: {source: files/banner, destination: /etc/banner, mode: '0600'}
                      - name: fails
                        shell: ['echo about to fail; echo oops >&2; exit 7', 'touch /root/never']
                """, manifestFiles: files)
        f.env.local.chroot = SystemChrootExecutor(runner: ProcessCommandRunner())
        f.manifestDirectory = dir.url
        #expect(f.root == root)
        try await f.mountRoot()

        try await f.run(.provision, "greet")
        #expect(
            try String(contentsOfFile: root + "/root/greeting", encoding: .utf8)
                == "hello vmx from \(root) on /dev/sdc1\nsecond\n")

        try await f.run(.provision, "args")
        #expect(
            try String(contentsOfFile: root + "/root/args", encoding: .utf8) == "1:two words; touch /root/injected\n")
        #expect(!FileManager.default.fileExists(atPath: root + "/root/injected"))
        #expect(
            !FileManager.default.fileExists(atPath: root + "/tmp/kiln-args.sh"), "the script is removed after it ran")

        try await f.run(.provision, "banner")
        #expect(try String(contentsOfFile: root + "/etc/banner", encoding: .utf8) == "welcome\n")
        let attributes = try FileManager.default.attributesOfItem(atPath: root + "/etc/banner")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)

        let error = await #expect(throws: CommandRunnerError.self) { try await f.run(.provision, "fails") }
        let failure = ActionFailure(action: ActionID("vmx", .provision(step: "fails")), error: try #require(error))
        #expect(failure.message.contains("exited with status 7"))
        #expect(failure.command?.contains("exit 7") == true)
        #expect(failure.outputTail.contains("about to fail") && failure.outputTail.contains("oops"))
        #expect(!FileManager.default.fileExists(atPath: root + "/root/never"))
    }
}

/// A busybox-static userland for chroot tests.
enum VMBusybox {
    static let path = ["/bin/busybox", "/usr/bin/busybox"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Makes a minimal root at `root`: busybox and its applets in /bin, /tmp, /root, /etc.
    static func makeRoot(at root: String) async throws {
        let busybox = try #require(path)
        let r = shellQuote(root)
        try await ProcessCommandRunner().runChecked(
            CommandSpec(
                """
                set -e
                mkdir -p \(r)/bin \(r)/etc \(r)/tmp \(r)/root
                cp \(shellQuote(busybox)) \(r)/bin/busybox
                for applet in $(\(shellQuote(busybox)) --list); do
                  [ "$applet" = busybox ] || ln -sf busybox \(r)/bin/"$applet"
                done
                """, timeout: .seconds(120)))
    }
}
