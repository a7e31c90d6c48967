import Foundation

/// Where the statically linked busybox of each architecture is, for the platform images'
/// userland (configuration key `busybox`: `{"x64": PATH, "Arm64": PATH}`). The host's own
/// architecture defaults to the host's `busybox-static` (`/bin/busybox`, …); the other one to
/// `/usr/local/lib/kiln/<debian arch>/busybox`, where `make deps` puts the binary of Debian's
/// `busybox-static` package of that architecture (it cannot be installed beside the host's).
public struct BusyboxPaths: Sendable, Codable, Equatable {
    public var x64: String?
    public var arm64: String?

    public init(x64: String? = nil, arm64: String? = nil) {
        self.x64 = x64
        self.arm64 = arm64
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        x64 = try c.decodeIfPresent(String.self, forKey: .x64)
        arm64 = try c.decodeIfPresent(String.self, forKey: .arm64)
        try rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue), in: "busybox")
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case x64
        case arm64 = "Arm64"
    }

    /// Where the busybox of a foreign architecture is by default.
    public static func defaultPath(for architecture: ImageArchitecture) -> String {
        "/usr/local/lib/kiln/\(architecture.debianName)/busybox"
    }

    /// The configured path, else the default for a foreign architecture; nil: the host's own.
    public func path(for architecture: ImageArchitecture) -> String? {
        let configured =
            switch architecture {
            case .x64: x64
            case .arm64: arm64
            }
        if let configured { return configured }
        return architecture == .host ? nil : Self.defaultPath(for: architecture)
    }

    /// What to do when the busybox of `architecture` is missing or of the wrong kind.
    static func missingAdvice(_ path: String, architecture: ImageArchitecture) -> String {
        let key = CodingKeys.allCases.first { $0.stringValue.lowercased() == architecture.rawValue.lowercased() }
        return
            "the \(architecture.rawValue) userland needs a statically linked \(architecture.machineName) busybox at \(path), which is missing or unusable. Run `make deps` as root (it fetches Debian's busybox-static:\(architecture.debianName) with apt-get download and extracts its busybox to \(defaultPath(for: architecture))), or set \"busybox\": {\"\(key?.stringValue ?? architecture.rawValue)\": PATH} in the emulator configuration"
    }
}
