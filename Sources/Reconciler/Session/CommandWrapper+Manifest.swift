import Model
import Providers

extension CommandWrapper {
    /// The wrapper a manifest asks for (`mount.commandWrapper`, e.g. `sudo -n {{.Command}}`).
    /// One runner serves every build, so the builds of one manifest must agree on it.
    public static func from(_ manifest: Manifest, environment: [String: String]) throws -> CommandWrapper {
        let templates = Set(manifest.builds.map(\.mount.commandWrapper))
        guard templates.count <= 1 else {
            throw SessionError(
                message:
                    "the builds of \(manifest.file) use different mount.commandWrapper values; give them one wrapper (Kiln runs all host commands through one)"
            )
        }
        guard let text = templates.first, text != "{{.Command}}" else { return .identity }
        let template = try Template(parsing: text, allowed: ["Command"])
        return CommandWrapper { command in
            (try? template.render(
                TemplateValues(variables: ["Command": command], environment: environment), mode: .shell)) ?? command
        }
    }
}
