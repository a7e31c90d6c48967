import Foundation
import Yams

/// The provisioning steps.
extension ManifestDecoder {
    // MARK: provision

    func decodeProvision(_ items: [Node], path: String) -> [ProvisionStep] {
        var out: [ProvisionStep] = []
        var names: [String: Node] = [:]
        for (i, item) in items.enumerated() {
            let p = "\(path)[\(i)]"
            guard let r = MappingReader(item, path: p, ctx: ctx) else { continue }
            let kinds = ["shell", "script", "upload"].filter { r.has($0) }
            if kinds.count > 1 {
                ctx.error(
                    r.keyNode(kinds[1]), "\(p) has both \(kinds[0]) and \(kinds[1])", fix: "split them into two steps")
            } else if kinds.isEmpty {
                ctx.error(
                    item, "\(p) says nothing to do",
                    fix: "add shell: [commands], script: path, or upload: {source, destination}")
            }
            var action: ProvisionStep.Action?
            if let lines = r.strings("shell", fix: "write the commands as a list, one `- command` per line") {
                if lines.value.isEmpty { ctx.error(lines.node, "\(p).shell is empty", fix: "add at least one command") }
                let ok = templates(lines.value, path: r.child("shell"), allowed: Self.shellVariables)
                if ok, action == nil { action = .shell(lines.value.map(\.value)) }
            }
            if let script = r.string("script") {
                let args = r.strings("args")?.value ?? []
                let argsOK = templates(args, path: r.child("args"), allowed: Self.shellVariables)
                if checkFile(script, path: r.child("script"), directoryAllowed: false), argsOK, action == nil {
                    action = .script(path: script.value, args: args.map(\.value))
                }
            } else if let a = r.raw("args") {
                ctx.error(a, "\(p).args is only used with script", fix: "remove it, or make the step a script")
            }
            if let upload = r.mapping("upload") {
                let src = upload.string("source", required: true, fix: "give a file or directory next to the manifest")
                let dst = upload.string(
                    "destination", required: true, fix: "give the absolute path inside the image, e.g. /etc/motd")
                var mode: UInt16?
                if let m = upload.raw("mode") {
                    let text: String? = if case .scalar(let s) = m { s.string } else { nil }
                    let digits = text.map { $0.hasPrefix("0o") ? String($0.dropFirst(2)) : $0 }
                    if let digits, let v = UInt16(digits, radix: 8), v <= 0o7777, !digits.isEmpty {
                        mode = v
                    } else {
                        ctx.error(
                            m, "\(upload.child("mode")) is not an octal file mode",
                            fix: "write it quoted, e.g. mode: \"0644\"")
                    }
                }
                if let dst, !(dst.value.hasPrefix("/") && !dst.value.split(separator: "/").contains("..")) {
                    ctx.error(
                        dst.node,
                        "\(upload.child("destination")) must be an absolute path inside the image without '..'",
                        fix: "e.g. /etc/motd")
                }
                let srcOK = src.map { checkFile($0, path: upload.child("source"), directoryAllowed: true) } ?? false
                upload.finish()
                if let src, let dst, srcOK, dst.value.hasPrefix("/"), action == nil {
                    action = .upload(source: src.value, destination: dst.value, mode: mode)
                }
            }
            var env: [String: String] = [:]
            if let e = r.stringMap("env") {
                for (k, v) in e.value {
                    if checkEnvName(k, path: "\(p).env")
                        && template(v, path: "\(p).env.\(k.value)", allowed: Self.shellVariables) != nil
                    {
                        env[k.value] = v.value
                    }
                }
            }
            let timeout = r.duration("timeout")
            let kindName = kinds.first ?? "step"
            var name = "\(kindName)-\(i + 1)"
            if let n = r.string("name") {
                if Self.isBuildName(n.value) {
                    name = n.value
                } else {
                    ctx.error(
                        n.node, "\(p).name '\(n.value)' is not a valid step name",
                        fix: "use letters, digits, '-', '_' or '.'")
                }
                if let first = names[n.value] {
                    ctx.error(
                        n.node, "step name '\(n.value)' is used twice (first at line \(first.mark?.line ?? 0))",
                        fix: "give each step its own name")
                }
                names[n.value] = n.node
            }
            r.finish()
            if let action {
                out.append(
                    ProvisionStep(
                        name: name, action: action, env: env, timeout: timeout?.value ?? Timeouts.defaultProvisionStep))
            }
        }
        return out
    }
}
