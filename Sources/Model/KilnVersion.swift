import KilnBuildInfo

/// Kiln's version: `kiln --version`, and the `User-Agent` of every Azure request
/// (`kiln/<version>`, the product/version form Azure's guidance asks for).
public enum KilnVersion {
    public static let current = "0.1.0"
    public static var userAgent: String { "kiln/\(current)" }

    /// The git commit the binary was built from (`make install` passes it as KILN_COMMIT);
    /// nil for a plain `swift build`.
    public static let commit: String? = kiln_build_commit().map { String(cString: $0) }

    /// What `kiln --version` prints: `0.1.0 (commit 1a2b3c4d5e6f)`, or `(commit unknown)`.
    public static var description: String { "\(current) (commit \(commit ?? "unknown"))" }
}
