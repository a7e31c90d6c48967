/// Rewrites a host command line before it runs, e.g. to prefix `sudo` (the manifest's
/// `command_wrapper`, a template around `{{.Command}}`).
///
/// Kiln applies the wrapper to every command it runs on the host: mounts, `mkdir -p` of
/// mount points, unmounts, file copies into the image and chroot commands, so that a
/// wrapper such as `sudo {{.Command}}` covers all privileged work (the reference builder
/// forgot `mkdir`). The input is a complete, already-quoted command line; the wrapper must
/// treat it as opaque text.
public struct CommandWrapper: Sendable {
    private let transform: @Sendable (String) -> String

    /// A wrapper that applies `transform` to each command line.
    public init(_ transform: @escaping @Sendable (String) -> String) {
        self.transform = transform
    }

    /// The wrapper that leaves commands unchanged (no `command_wrapper` in the manifest).
    public static let identity = CommandWrapper { $0 }

    /// The command line `command` becomes once wrapped.
    public func callAsFunction(_ command: String) -> String {
        transform(command)
    }
}
