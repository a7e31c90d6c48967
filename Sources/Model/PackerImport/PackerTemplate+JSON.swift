import Foundation

/// Reading a legacy JSON template into a `PackerTemplate`.
extension PackerTemplate {
    static func json(_ text: String, file: String, directory: String, inputs: PackerInputs) throws(PackerImportError)
        -> PackerTemplate
    {
        let root = try JSONTemplateReader.parse(text, file: file)
        guard let members = root.members else {
            throw PackerImportError(at: root.location, "a JSON template is one object", fix: "start it with {")
        }
        var scope = GoTemplateScope(directory: directory)
        var template = PackerTemplate(file: file, format: .json, sources: [], builds: [])
        var build = PackerBuild(name: nil, location: root.location, sources: [], provisioners: [], unsupported: [])
        var builders: [JSONNode] = []
        var provisioners: [JSONNode] = []
        for m in members {
            switch m.key {
            case "variables":
                for v in m.value.members ?? [] {
                    scope.defaults[v.key] = v.value.literal.text
                    scope.locations[v.key] = v.keyLocation
                }
            case "sensitive-variables":
                if case .array(let items) = m.value.kind { scope.sensitive.formUnion(items.compactMap(\.string)) }
            case "builders", "provisioners":
                guard case .array(let items) = m.value.kind else {
                    throw PackerImportError(at: m.value.location, "\(m.key) must be a list", fix: "write [{…}]")
                }
                for item in items {
                    guard item.members != nil, item["type"]?.string != nil else {
                        throw PackerImportError(
                            at: item.location, "each of \(m.key) needs a \"type\"",
                            fix: m.key == "builders" ? "add \"type\": \"azure-chroot\"" : "add \"type\": \"shell\"")
                    }
                }
                if m.key == "builders" { builders += items } else { provisioners += items }
            case "post-processors":
                guard case .array(let items) = m.value.kind else { continue }
                for item in items {
                    let chain: [JSONNode] = if case .array(let inner) = item.kind { inner } else { [item] }
                    for p in chain {
                        let type = p.string ?? p["type"]?.string ?? "?"
                        build.unsupported.append(.init(what: "post-processor \"\(type)\"", location: p.location))
                    }
                }
            case "description", "min_packer_version":
                continue
            default:
                if m.key.hasPrefix("_") { continue }
                throw PackerImportError(
                    at: m.keyLocation, "unknown top-level key \"\(m.key)\"",
                    fix:
                        "a JSON template has variables, sensitive-variables, builders, provisioners and post-processors"
                )
            }
        }
        scope.overrides = try inputs.jsonValues(for: scope, file: file, template: &template)
        let own = { (item: JSONNode, skipping: Set<String>) in
            (item.members ?? []).filter { !skipping.contains($0.key) && !$0.key.hasPrefix("_") }
                .map { PackerAttribute($0.key, scope.field($0.value, at: $0.keyLocation)) }
        }
        for item in builders {
            let type = item["type"]?.string ?? ""
            let name = item["name"]?.string ?? type
            template.sources.append(
                PackerSource(type: type, name: name, location: item.location, attributes: own(item, ["type", "name"])))
            build.sources.append(.init(type: type, name: name, rename: nil, location: item.location))
        }
        for item in provisioners {
            let names = { (key: String) -> [String] in
                if case .array(let a)? = item[key]?.kind { return a.compactMap(\.string) }
                return []
            }
            build.provisioners.append(
                PackerProvisioner(
                    type: item["type"]?.string ?? "", location: item.location,
                    attributes: own(item, ["type", "only", "except"]), only: names("only"), except: names("except")))
        }
        template.builds = [build]
        template.sensitiveVariables = scope.sensitive
        return template
    }
}

extension PackerInputs {
    /// The given values of a JSON template's variables: files (JSON objects), then `--var`.
    func jsonValues(for scope: GoTemplateScope, file: String, template: inout PackerTemplate) throws(PackerImportError)
        -> [String: String]
    {
        var out: [String: String] = [:]
        for varFile in variableFiles {
            let node = try JSONTemplateReader.parse(varFile.text, file: varFile.path)
            guard let members = node.members else {
                throw PackerImportError(
                    at: node.location, "a variable file holds one JSON object", fix: "write {\"name\": \"value\"}")
            }
            for m in members {
                guard scope.locations[m.key] != nil else {
                    template.warnings.append(
                        Diagnostic(
                            .warning, at: m.keyLocation, "the template declares no variable \(m.key)",
                            fix: "the value is not used"))
                    continue
                }
                out[m.key] = m.value.literal.text ?? ""
            }
        }
        for a in variables {
            guard scope.locations[a.name] != nil else {
                let hint = Suggestions.closest(to: a.name, in: Array(scope.locations.keys)).map {
                    "did you mean \($0)? "
                }
                throw PackerImportError(
                    at: SourceLocation(file: file, line: 1, column: 1),
                    "--var \(a.name): the template declares no variable \(a.name)",
                    fix: (hint ?? "") + "add it to \"variables\", or check the name")
            }
            out[a.name] = a.value
        }
        return out
    }
}
