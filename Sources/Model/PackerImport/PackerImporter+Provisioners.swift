import Foundation

/// Provisioners: `shell` (inline, script, scripts, environment_vars, env, execute_command
/// where it only runs the script) and `file` (uploads) become Kiln steps; anything else is
/// unsupported.
extension PackerImporter {
    /// Why a provisioner cannot be imported, or the steps it becomes.
    enum ProvisionerMapping {
        case steps([ImportedYAML.Item])
        case unsupported(String)
    }

    static let shellOptions: Set<String> = [
        "inline", "script", "scripts", "environment_vars", "env", "execute_command", "inline_shebang", "timeout"
    ]
    /// Options that change nothing inside a chroot (where and how Packer stages the script).
    static let shellOptionsWithoutEffect: Set<String> = [
        "remote_folder", "remote_file", "remote_path", "skip_clean", "start_retry_timeout", "binary",
        "use_env_var_file", "expect_disconnect"
    ]

    func provisionerSteps(_ p: PackerProvisioner, context: PackerContext, names: inout Set<String>, index: Int)
        -> ProvisionerMapping
    {
        let r = PackerFieldReader(
            attributes: p.attributes, context: context, diagnostics: diagnostics, owner: "provisioner \"\(p.type)\"",
            location: p.location)
        switch p.type {
        case "shell":
            let known = Self.shellOptions.union(Self.shellOptionsWithoutEffect)
            if let other = p.attributes.first(where: { !known.contains($0.name) }) {
                return .unsupported("its option \(other.name) has no Kiln equivalent")
            }
            return shellSteps(r, names: &names, index: index)
        case "file":
            if let other = p.attributes.first(where: {
                !["source", "sources", "destination", "direction", "generated", "timeout"].contains($0.name)
            }) {
                return .unsupported("its option \(other.name) has no Kiln equivalent")
            }
            if let direction = r.string("direction"), direction.value != "upload" {
                return .unsupported("direction \(direction.value): Kiln only uploads")
            }
            return fileSteps(r, names: &names, index: index)
        default:
            return .unsupported("Kiln runs shell commands, scripts and uploads only")
        }
    }

    /// A step name that is unique in the build.
    private func unique(_ base: String, _ names: inout Set<String>) -> String {
        var cleaned = String(
            base.unicodeScalars.map { c in
                c.isASCII && (CharacterSet.alphanumerics.contains(c) || c == "-" || c == "_" || c == ".")
                    ? Character(c) : "-"
            })
        while cleaned.hasPrefix("-") || cleaned.hasPrefix(".") || cleaned.hasPrefix("_") { cleaned.removeFirst() }
        if cleaned.isEmpty { cleaned = "step" }
        cleaned = String(cleaned.prefix(40))
        var name = cleaned
        var n = 2
        while names.contains(name) {
            name = "\(cleaned)-\(n)"
            n += 1
        }
        names.insert(name)
        return name
    }

    private func step(
        _ name: String, _ action: ImportedYAML.Entry, env: [ImportedYAML.Entry], timeout: ImportedYAML.Entry?,
        comments: [String], origin: SourceLocation
    ) -> ImportedYAML.Item {
        var entries: [ImportedYAML.Entry] = [
            .init(key: "name", value: .scalar(name), comments: comments, origin: origin), action
        ]
        if !env.isEmpty { entries.append(.init(key: "env", value: .map(env))) }
        if let timeout { entries.append(timeout) }
        return ImportedYAML.Item(value: .map(entries), origin: origin)
    }

    private func shellSteps(_ r: PackerFieldReader, names: inout Set<String>, index: Int) -> ProvisionerMapping {
        let given = ["inline", "script", "scripts"].filter { r.field($0) != nil }
        guard given.count == 1 else {
            diagnostics.error(
                r.location,
                given.isEmpty
                    ? "a shell provisioner needs inline, script or scripts"
                    : "a shell provisioner takes one of inline, script and scripts, not \(given.joined(separator: " and "))",
                fix: "give exactly one")
            return .steps([])
        }
        var comments: [String] = []
        if let command = r.string("execute_command") {
            guard Self.executeCommandOnlyRuns(command.value) else {
                return .unsupported("its execute_command \"\(command.value)\" does more than run the script")
            }
            comments.append("execute_command is left out: Kiln runs each step as root in the chroot with its env set")
        }
        var env: [ImportedYAML.Entry] = []
        for pair in r.strings("environment_vars") ?? [] {
            guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else {
                diagnostics.error(
                    r.field("environment_vars")!.location, "environment_vars item \"\(pair)\" is not NAME=VALUE",
                    fix: "write NAME=VALUE")
                continue
            }
            env.append(
                .init(
                    key: String(pair[..<eq]), value: .scalar(String(pair[pair.index(after: eq)...])),
                    origin: r.field("environment_vars")?.location))
        }
        if let map = r.value("env"), case .object(let members) = map.kind {
            for m in members {
                if let t = m.value.text { env.append(.init(key: m.key, value: .scalar(t), origin: m.value.location)) }
            }
        }
        let timeout = r.string("timeout").map {
            ImportedYAML.Entry(key: "timeout", value: .scalar($0.value), origin: $0.location)
        }
        let origin = r.field(given[0])!.location
        if let lines = r.strings("inline") {
            let shebang = r.string("inline_shebang")?.value ?? "/bin/sh -e"
            let (commands, note) = Self.inlineCommands(lines, shebang: shebang)
            let name = unique("shell-\(index)", &names)
            return .steps([
                step(
                    name, .init(key: "shell", value: .list(commands.map { .init(value: .scalar($0)) }), origin: origin),
                    env: env, timeout: timeout, comments: comments + (note.map { [$0] } ?? []), origin: origin)
            ])
        }
        let scripts = given[0] == "script" ? r.string("script").map { [$0.value] } ?? [] : r.strings("scripts") ?? []
        return .steps(
            scripts.compactMap { script in
                guard let path = hostPath(script, at: origin) else { return nil }
                let stem = URL(fileURLWithPath: script).deletingPathExtension().lastPathComponent
                return step(
                    unique(stem, &names), .init(key: "script", value: .scalar(path), origin: origin), env: env,
                    timeout: timeout, comments: comments, origin: origin)
            })
    }

    private func fileSteps(_ r: PackerFieldReader, names: inout Set<String>, index: Int) -> ProvisionerMapping {
        guard let destination = r.string("destination") else {
            if r.field("destination") == nil {
                diagnostics.error(r.location, "a file provisioner needs a destination", fix: "add destination")
            }
            return .steps([])
        }
        let sources = r.string("source").map { [$0.value] } ?? r.strings("sources") ?? []
        if sources.isEmpty, r.field("source") == nil, r.field("sources") == nil {
            diagnostics.error(destination.location, "a file provisioner needs a source", fix: "add source")
        }
        var items: [ImportedYAML.Item] = []
        for source in sources {
            guard let path = hostPath(source, at: destination.location) else { continue }
            var target = destination.value
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: absolute(source), isDirectory: &isDirectory)
            let name = URL(fileURLWithPath: source).lastPathComponent
            if exists && isDirectory.boolValue && !source.hasSuffix("/") {
                target = (target.hasSuffix("/") ? target : target + "/") + name
            } else if !(exists && isDirectory.boolValue) && (target.hasSuffix("/") || sources.count > 1) {
                target = (target.hasSuffix("/") ? target : target + "/") + name
            }
            let upload = ImportedYAML.Entry(
                key: "upload",
                value: .map([
                    .init(key: "source", value: .scalar(path)), .init(key: "destination", value: .scalar(target))
                ]),
                origin: destination.location)
            items.append(
                step(
                    unique("upload-\(index)", &names), upload, env: [], timeout: nil, comments: [],
                    origin: destination.location))
        }
        return .steps(items)
    }

    /// Whether an `execute_command` only runs the script (with sudo, sh or bash, its variables).
    public static func executeCommandOnlyRuns(_ command: String) -> Bool {
        var text = command
        text = text.replacingOccurrences(of: #"\{\{\s*\.Path\s*\}\}"#, with: " PATH ", options: .regularExpression)
        text = text.replacingOccurrences(of: #"\{\{\s*\.Vars\s*\}\}"#, with: " ", options: .regularExpression)
        let words = text.components(separatedBy: CharacterSet(charactersIn: " \t;'\"|&")).filter { !$0.isEmpty }
        let harmless: Set<String> = [
            "chmod", "+x", "PATH", "sudo", "-E", "-S", "-H", "-n", "sh", "bash", "/bin/sh", "/bin/bash", "/usr/bin/env",
            "env", "-c", "-e", "-x", "-ex", "-eu", "-eux", "echo", "packer"
        ]
        return words.contains("PATH") && words.allSatisfy { harmless.contains($0) }
    }

    /// The Kiln commands for Packer's inline lines, and a note when they are joined into one
    /// script: Packer ran them as one script under `shebang`, so a `cd` or a variable carries
    /// from line to line and only `-e` stops at the first failure.
    static func inlineCommands(_ lines: [String], shebang: String) -> ([String], String?) {
        let words = shebang.split(separator: " ").map(String.init)
        let interpreter = words.first ?? "/bin/sh"
        let flags = words.dropFirst()
        let stateful =
            #"^\s*(cd|export|set|source|\.|alias|unset|function|if|for|while|until|case|[A-Za-z_][A-Za-z0-9_]*=)(\s|$|\()"#
        let simple = lines.allSatisfy { line in
            !line.contains("\n") && !line.hasSuffix("\\") && !line.contains("<<")
                && line.range(of: stateful, options: .regularExpression) == nil
        }
        if ["/bin/sh", "/usr/bin/sh"].contains(interpreter) && Array(flags) == ["-e"] && simple {
            return (lines, nil)
        }
        let note = "Packer ran these lines as one script with #!\(shebang); so does this step"
        if ["/bin/sh", "/usr/bin/sh"].contains(interpreter) {
            let set = flags.filter { $0.hasPrefix("-") }.map { "set \($0)" }
            return ([(set + lines).joined(separator: "\n")], note)
        }
        let script = "\(shebang) <<'KILN_INLINE'\n" + lines.joined(separator: "\n") + "\nKILN_INLINE"
        return ([script], note)
    }
}
