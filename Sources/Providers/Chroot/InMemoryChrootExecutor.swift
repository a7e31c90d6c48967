/// A `ChrootExecutor` over an in-memory file tree, for unit tests of provisioning logic.
/// Commands are recorded and answered from rules (like `InMemoryCommandRunner`); files
/// live in `files`, keyed by host path, and follow the real executor's save/restore rules.
public actor InMemoryChrootExecutor: ChrootExecutor {
    /// A file system node.
    public enum Node: Sendable, Equatable {
        case file(contents: String, mode: UInt32)
        case symlink(target: String)
        case directory
    }

    /// The image (and host) file tree, keyed by absolute host path.
    public private(set) var files: [String: Node]
    /// Every command run, in order.
    public private(set) var commands: [ChrootCommand] = []
    /// When set, every file operation fails with this message.
    public var failFileOperations: String?
    private var rules: [(matching: String, response: InMemoryCommandRunner.Response)] = []

    public init(files: [String: Node] = [:]) {
        self.files = files
    }

    /// Answers commands containing `text` with `response`.
    public func on(_ text: String, respond response: InMemoryCommandRunner.Response) {
        rules.append((text, response))
    }

    public func setFailFileOperations(_ message: String?) { failFileOperations = message }
    public func setFile(_ path: String, _ node: Node?) { files[path] = node }

    public func run(_ command: ChrootCommand, output: @escaping @Sendable (CommandOutputLine) -> Void) async throws
        -> CommandResult
    {
        let (_, display) = try SystemChrootExecutor.commandLine(for: command)
        commands.append(command)
        let runner = InMemoryCommandRunner()
        for rule in rules { await runner.on(rule.matching, respond: rule.response) }
        return try await runner.run(
            CommandSpec(
                command.command, displayCommand: display, timeout: command.timeout, tailLines: command.tailLines),
            output: output)
    }

    public func upload(from source: String, to path: String, root: String, mode: UInt32?) async throws {
        let path = try validatePathInRoot(path)
        try checkFailure("uploading \(source)")
        switch files[source] {
        case .file(let contents, let sourceMode)?:
            files[hostPath(root: root, inRoot: path)] = .file(contents: contents, mode: mode ?? sourceMode)
        case .directory?:
            let prefix = source + "/"
            for (key, node) in files where key.hasPrefix(prefix) {
                let target = hostPath(root: root, inRoot: path) + "/" + key.dropFirst(prefix.count)
                if case .file(let contents, let sourceMode) = node {
                    files[target] = .file(contents: contents, mode: mode ?? sourceMode)
                } else {
                    files[target] = node
                }
            }
            files[hostPath(root: root, inRoot: path)] = .directory
        case .symlink?, nil:
            throw ChrootError.invalidSource(path: source, reason: "it does not exist")
        }
    }

    public func copyHostFile(_ source: String, to path: String, root: String) async throws {
        let path = try validatePathInRoot(path)
        guard case .file(let contents, let mode)? = files[source] else {
            throw ChrootError.invalidSource(path: source, reason: "only regular files can be copied into the image")
        }
        try checkFailure("copying host file \(source)")
        let destination = hostPath(root: root, inRoot: path)
        let names = HostFileBackupNames(destination: destination)
        if files[names.backup] == nil && files[names.absentMarker] == nil {
            switch files[destination] {
            case nil: files[names.absentMarker] = .file(contents: "", mode: 0o644)
            case .directory?: throw ChrootError.cannotReplace(path: path, kind: "directory")
            case let original?: files[names.backup] = original
            }
        }
        files[destination] = .file(contents: contents, mode: mode)
    }

    @discardableResult
    public func restoreHostFile(at path: String, root: String) async throws -> HostFileRestore {
        let path = try validatePathInRoot(path)
        try checkFailure("restoring \(path)")
        let destination = hostPath(root: root, inRoot: path)
        let names = HostFileBackupNames(destination: destination)
        if let original = files[names.backup] {
            files[destination] = original
            files[names.backup] = nil
            return .restoredOriginal
        }
        if files[names.absentMarker] != nil {
            files[destination] = nil
            files[names.absentMarker] = nil
            return .removedCopy
        }
        return .nothingRecorded
    }

    private func checkFailure(_ operation: String) throws {
        if let failFileOperations {
            throw ChrootError.fileOperationFailed(operation: operation, cause: failFileOperations)
        }
    }
}
