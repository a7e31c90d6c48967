import Foundation

#if canImport(Glibc)
    import Glibc
    // `struct stat`'s members are attributed to whichever C module the compiler loaded the
    // header through first (Glibc or Dispatch's CDispatch, varying between builds), and
    // MemberImportVisibility wants that module imported: import both.
    #if canImport(CDispatch)
        import CDispatch
    #endif
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs chroot commands and file copies as host commands through a `CommandRunner`, so
/// the command wrapper (e.g. `sudo`) covers every one of them.
///
/// A chroot command becomes the host command line
/// `env -i 'PATH=…' 'K=V'… chroot '<root>' /bin/sh -c '<command>'`: every value is
/// single-quoted, so the host shell expands nothing, and `env -i` (inside the wrapped
/// command, so it survives wrappers like `sudo` that reset the environment) starts the
/// chroot's shell from the explicit environment only. In errors and logs the command is
/// shown with variable names but not their values, which may be secrets.
public struct SystemChrootExecutor: ChrootExecutor {
    public var runner: any CommandRunner
    /// Time limit for each file operation command.
    public var fileCommandTimeout: Duration

    public init(runner: any CommandRunner, fileCommandTimeout: Duration = .seconds(300)) {
        self.runner = runner
        self.fileCommandTimeout = fileCommandTimeout
    }

    /// The host command line for `command`, and its display form with values hidden.
    public static func commandLine(for command: ChrootCommand) throws(ChrootError) -> (command: String, display: String)
    {
        let environment = command.effectiveEnvironment.sorted { $0.key < $1.key }
        for (name, _) in environment where !isValidEnvironmentName(name) { throw .invalidEnvironmentName(name) }
        let assignments = environment.map { shellQuote("\($0.key)=\($0.value)") }
        let tail = ["chroot", shellQuote(command.root), "/bin/sh", "-c", shellQuote(command.command)]
        let line = (["env", "-i"] + assignments + tail).joined(separator: " ")
        let display = (["env", "-i"] + environment.map { "\($0.key)=…" } + tail).joined(separator: " ")
        return (line, display)
    }

    public func run(_ command: ChrootCommand, output: @escaping @Sendable (CommandOutputLine) -> Void) async throws
        -> CommandResult
    {
        let (line, display) = try Self.commandLine(for: command)
        return try await runner.run(
            CommandSpec(line, displayCommand: display, timeout: command.timeout, tailLines: command.tailLines),
            output: output)
    }

    public func upload(from source: String, to path: String, root: String, mode: UInt32?) async throws {
        let path = try validatePathInRoot(path)
        switch FileKind(path: source, followLinks: true) {
        case .regular:
            let destination = try resolveInRoot(root: root, path: path, followFinal: false)
            try await runScript(
                [Self.installFileCommand(source: source, destination: destination, mode: mode)],
                operation: "uploading \(source) to \(path) in \(root)")
        case .directory:
            try await uploadDirectory(source: source, root: root, path: path, mode: mode)
        case .absent:
            throw ChrootError.invalidSource(path: source, reason: "it does not exist")
        case .symlink(_), .other(_):
            throw ChrootError.invalidSource(path: source, reason: "it is neither a file nor a directory")
        }
    }

    public func copyHostFile(_ source: String, to path: String, root: String) async throws {
        let path = try validatePathInRoot(path)
        let destination = try resolveInRoot(root: root, path: path, followFinal: false)
        let names = HostFileBackupNames(destination: destination)
        guard FileKind(path: source, followLinks: true) == .regular else {
            throw ChrootError.invalidSource(
                path: source, reason: "only regular files (or links to them) can be copied into the image")
        }
        let operation = "copying host file \(source) to \(path) in \(root)"

        // Already saved by an earlier, interrupted run: the image's original is the backup
        // (or its absence the marker), and what is at the destination now is Kiln's copy.
        let alreadySaved =
            FileKind(path: names.backup, followLinks: false) != .absent
            || FileKind(path: names.absentMarker, followLinks: false) != .absent
        if !alreadySaved {
            switch FileKind(path: destination, followLinks: false) {
            case .absent:
                try await runScript(
                    ["mkdir -p -- \(shellQuote(names.directory))", ": > \(shellQuote(names.absentMarker))"],
                    operation: operation)
            case .regular, .symlink:
                // rename keeps the original exactly: its inode, owner, mode, and a symlink
                // as the symlink itself.
                try await runScript(
                    ["mv -f -T -- \(shellQuote(destination)) \(shellQuote(names.backup))"], operation: operation)
            case .directory:
                throw ChrootError.cannotReplace(path: path, kind: "directory")
            case .other(let kind):
                throw ChrootError.cannotReplace(path: path, kind: kind)
            }
        }
        try await runScript(
            [Self.installFileCommand(source: source, destination: destination, mode: nil)], operation: operation)
    }

    @discardableResult
    public func restoreHostFile(at path: String, root: String) async throws -> HostFileRestore {
        let path = try validatePathInRoot(path)
        let destination = try resolveInRoot(root: root, path: path, followFinal: false)
        let names = HostFileBackupNames(destination: destination)
        let operation = "restoring \(path) in \(root)"
        if FileKind(path: names.backup, followLinks: false) != .absent {
            try await runScript(
                ["mv -f -T -- \(shellQuote(names.backup)) \(shellQuote(destination))"], operation: operation)
            return .restoredOriginal
        }
        if FileKind(path: names.absentMarker, followLinks: false) != .absent {
            // Copy first, marker last: if this is interrupted the marker still says that
            // whatever is at the destination is ours.
            try await runScript(
                ["rm -f -- \(shellQuote(destination))", "rm -f -- \(shellQuote(names.absentMarker))"],
                operation: operation)
            return .removedCopy
        }
        return .nothingRecorded
    }

    /// A command that copies `source` to a temp name next to `destination`, sets the mode,
    /// and renames it into place; on failure it removes the temp file and fails.
    static func installFileCommand(source: String, destination: String, mode: UInt32?) -> String {
        let directory = (destination as NSString).deletingLastPathComponent
        let name = (destination as NSString).lastPathComponent
        let temp = "\(directory)/.kiln-upload-\(UInt32.random(in: 0...UInt32.max)).\(name)"
        var steps = [
            "mkdir -p -- \(shellQuote(directory))",
            "cp -L --preserve=mode -- \(shellQuote(source)) \(shellQuote(temp))"
        ]
        if let mode { steps.append("chmod \(String(mode, radix: 8)) -- \(shellQuote(temp))") }
        steps.append("mv -f -T -- \(shellQuote(temp)) \(shellQuote(destination))")
        return "{ " + steps.joined(separator: " && ") + "; } || { rm -f -- \(shellQuote(temp)); exit 1; }"
    }

    private func uploadDirectory(source: String, root: String, path: String, mode: UInt32?) async throws {
        let destination = try resolveInRoot(root: root, path: path, followFinal: true)
        var commands = ["mkdir -p -- \(shellQuote(destination))"]
        guard let enumerator = FileManager.default.enumerator(atPath: source) else {
            throw ChrootError.invalidSource(path: source, reason: "cannot list the directory")
        }
        while let relative = enumerator.nextObject() as? String {
            let from = "\(source)/\(relative)"
            let inRoot = path == "/" ? "/\(relative)" : "\(path)/\(relative)"
            switch FileKind(path: from, followLinks: false) {
            case .directory:
                // An existing directory in the image may be a symlink (`/bin -> usr/bin`):
                // merge into where it leads inside the image.
                let to = try resolveInRoot(root: root, path: inRoot, followFinal: true)
                let dirMode =
                    (try? FileManager.default.attributesOfItem(atPath: from)[.posixPermissions] as? Int) ?? 0o755
                commands.append(
                    "mkdir -p -- \(shellQuote(to)) && chmod \(String(dirMode, radix: 8)) -- \(shellQuote(to))")
            case .regular:
                let to = try resolveInRoot(root: root, path: inRoot, followFinal: false)
                commands.append(Self.installFileCommand(source: from, destination: to, mode: mode))
            case .symlink(let target):
                let to = try resolveInRoot(root: root, path: inRoot, followFinal: false)
                let temp =
                    "\((to as NSString).deletingLastPathComponent)/.kiln-upload-\(UInt32.random(in: 0...UInt32.max)).link"
                commands.append(
                    "ln -s -- \(shellQuote(target)) \(shellQuote(temp)) && mv -f -T -- \(shellQuote(temp)) \(shellQuote(to))"
                )
            case .absent, .other:
                continue
            }
        }
        try await runScript(commands, operation: "uploading directory \(source) to \(path) in \(root)")
    }

    /// Runs `commands` in order, stopping at the first failure, as `/bin/sh -c <script>`
    /// wrapped once per batch; batches stay well below the kernel's 128 KiB limit on one
    /// argument.
    private func runScript(_ commands: [String], operation: String) async throws {
        var batch: [String] = []
        var size = 0
        func flush() async throws {
            guard !batch.isEmpty else { return }
            let script = "set -e\n" + batch.joined(separator: "\n")
            batch.removeAll()
            size = 0
            do {
                try await runner.runChecked(
                    CommandSpec(
                        "/bin/sh -c \(shellQuote(script))", displayCommand: "/bin/sh -c <\(operation)>",
                        timeout: fileCommandTimeout))
            } catch let error as CommandRunnerError {
                throw ChrootError.fileOperationFailed(operation: operation, cause: error.description)
            }
        }
        for command in commands {
            if size + command.utf8.count > 64 * 1024 { try await flush() }
            batch.append(command)
            size += command.utf8.count + 1
        }
        try await flush()
    }
}

/// Names of what `copyHostFile` keeps next to a destination in the image.
struct HostFileBackupNames {
    let directory: String
    /// The image's original file or symlink, renamed.
    let backup: String
    /// Exists when the image had nothing at the destination.
    let absentMarker: String

    init(destination: String) {
        directory = (destination as NSString).deletingLastPathComponent
        let name = (destination as NSString).lastPathComponent
        backup = "\(directory)/.kiln-orig.\(name)"
        absentMarker = "\(directory)/.kiln-absent.\(name)"
    }
}

/// What is at a path, by `lstat` (or `stat` when following links).
enum FileKind: Equatable {
    case absent
    case regular
    case directory
    case symlink(target: String)
    case other(String)

    init(path: String, followLinks: Bool) {
        var info = stat()
        let rc = followLinks ? stat(path, &info) : lstat(path, &info)
        guard rc == 0 else {
            self = .absent
            return
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .directory
        case S_IFLNK:
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let count = readlink(path, &buffer, buffer.count - 1)
            self = .symlink(
                target: count >= 0
                    ? String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "")
        case S_IFBLK: self = .other("block device")
        case S_IFCHR: self = .other("character device")
        case S_IFIFO: self = .other("fifo")
        case S_IFSOCK: self = .other("socket")
        default: self = .other("special file")
        }
    }

    /// Matches any symlink regardless of its target.
    static func == (lhs: FileKind, rhs: FileKind) -> Bool {
        switch (lhs, rhs) {
        case (.absent, .absent), (.regular, .regular), (.directory, .directory), (.symlink, .symlink): true
        case (.other(let a), .other(let b)): a == b
        default: false
        }
    }
}
