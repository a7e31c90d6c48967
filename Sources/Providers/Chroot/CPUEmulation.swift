import Foundation
import Model

/// Runs the programs of an image built for another CPU architecture than the builder VM's:
/// Debian's `qemu-user-static` interpreter registered in the kernel's `binfmt_misc` with the
/// `F` flag (the kernel opens the interpreter when it is registered, so it works inside a
/// chroot that does not contain it).
public protocol CPUEmulation: Sendable {
    /// The builder VM's architecture.
    var host: Architecture { get }
    /// Makes programs of `architecture` run for `build`'s chroot. Idempotent (a resumed run
    /// calls it again); nothing to do for the host's own architecture.
    func enable(_ architecture: Architecture, for build: String) async throws
    /// Removes what `enable` registered for `build`. Idempotent.
    func disable(_ architecture: Architecture, for build: String) async throws
}

/// Why an image's programs cannot run on this VM.
public struct CPUEmulationError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// The real one: one `binfmt_misc` entry per build (`kiln-<build>-<machine>`), so that one
/// build finishing never takes away another's; none when an entry that is not Kiln's (the
/// distribution's `qemu-aarch64`, say) already handles the architecture, which stays as it is.
/// `binfmt_misc` is mounted for the moment at a directory of Kiln's own, never over the
/// host's `/proc/sys/fs/binfmt_misc`.
public struct QemuUserEmulation: CPUEmulation {
    public let runner: any CommandRunner
    public let host: Architecture
    /// Where `binfmt_misc` is mounted while Kiln registers or removes an entry.
    public var mountPoint = "/run/kiln/binfmt_misc"
    /// Where Debian's `qemu-user-static` puts its interpreters.
    public var interpreterDirectory = "/usr/bin"

    public init(runner: any CommandRunner, host: Architecture) {
        self.runner = runner
        self.host = host
    }

    public func interpreter(_ architecture: Architecture) -> String {
        "\(interpreterDirectory)/qemu-\(architecture.machine)-static"
    }

    static func entryName(_ architecture: Architecture, build: String) -> String {
        let safe = build.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" }
        return "kiln-\(String(safe))-\(architecture.machine)"
    }

    /// The ELF header bytes that identify the architecture's executables, and the mask of
    /// the bytes compared (as qemu's own binfmt configuration gives them).
    static func magic(_ architecture: Architecture) -> (magic: String, mask: String) {
        switch architecture {
        case .arm64:
            (
                #"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00"#,
                #"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"#
            )
        case .x64:
            (
                #"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00"#,
                #"\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"#
            )
        }
    }

    /// The magic as `binfmt_misc` lists it in an entry (hex, no escapes).
    static func listedMagic(_ architecture: Architecture) -> String {
        magic(architecture).magic.replacingOccurrences(of: "ELF", with: #"\x45\x4c\x46"#)
            .replacingOccurrences(of: #"\x"#, with: "")
    }

    /// A shell script that mounts `binfmt_misc` at `mountPoint`, runs `body`, and unmounts it.
    func mounted(_ body: String) -> String {
        let d = shellQuote(mountPoint)
        return """
            set -e; mkdir -p \(d); mountpoint -q \(d) || { mount -t binfmt_misc binfmt_misc \(d); \
            trap 'umount \(d)' EXIT; }; \(body)
            """
    }

    public func enable(_ architecture: Architecture, for build: String) async throws {
        guard architecture != host else { return }
        let qemu = interpreter(architecture)
        guard FileManager.default.isExecutableFile(atPath: qemu) else {
            throw CPUEmulationError(
                description:
                    "the image is \(architecture) and this VM is \(host): its programs need \(qemu), which is not installed; install Debian's qemu-user-static (apt-get install qemu-user-static), or build on a \(architecture) VM"
            )
        }
        let (magic, mask) = Self.magic(architecture)
        let name = Self.entryName(architecture, build: build)
        let line = ":\(name):M::\(magic):\(mask):\(qemu):F"
        // Someone else's enabled entry for the magic handles it already; Kiln's own is kept.
        let body = """
            for f in \(shellQuote(mountPoint))/*; do case "${f##*/}" in register|status|kiln-*) continue;; esac; \
            grep -qx enabled "$f" && grep -qx 'magic \(Self.listedMagic(architecture))' "$f" && exit 0; done; \
            [ -e \(shellQuote(mountPoint + "/" + name)) ] || printf '%s' \(shellQuote(line)) > \(shellQuote(mountPoint + "/register"))
            """
        try await runner.runChecked(CommandSpec(mounted(body), timeout: .seconds(30)))
    }

    public func disable(_ architecture: Architecture, for build: String) async throws {
        guard architecture != host else { return }
        let entry = shellQuote(mountPoint + "/" + Self.entryName(architecture, build: build))
        try await runner.runChecked(
            CommandSpec(mounted("[ ! -e \(entry) ] || echo -1 > \(entry)"), timeout: .seconds(30)))
    }
}

/// The in-memory one (unit tests): records what is enabled.
public actor InMemoryCPUEmulation: CPUEmulation {
    public nonisolated let host: Architecture
    public private(set) var enabled: Set<String> = []
    public private(set) var calls: [String] = []

    public init(host: Architecture = .x64) {
        self.host = host
    }

    public func enable(_ architecture: Architecture, for build: String) async throws {
        guard architecture != host else { return }
        calls.append("enable \(build) \(architecture)")
        enabled.insert("\(build) \(architecture)")
    }

    public func disable(_ architecture: Architecture, for build: String) async throws {
        guard architecture != host else { return }
        calls.append("disable \(build) \(architecture)")
        enabled.remove("\(build) \(architecture)")
    }
}
