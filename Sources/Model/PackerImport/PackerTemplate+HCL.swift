import Foundation

/// Reading an HCL2 template (`.pkr.hcl`) into a `PackerTemplate`.
extension PackerTemplate {
    /// Parses `text`; `inputs` are the variable values given on Kiln's command line.
    static func hcl(_ text: String, file: String, directory: String, inputs: PackerInputs) throws(PackerImportError)
        -> PackerTemplate
    {
        let body = try HCLParser.parse(text, file: file)
        var scope = HCLScope()
        scope.directory = directory
        var template = PackerTemplate(file: file, format: .hcl, sources: [], builds: [])
        for attribute in body.attributes {
            throw PackerImportError(
                at: attribute.location, "'\(attribute.name) =' at the top level of a template",
                fix: "put it in a variable, locals or source block")
        }
        var sourceBlocks: [HCLBlock] = []
        var buildBlocks: [HCLBlock] = []
        for block in body.blocks {
            switch (block.type, block.labels.count) {
            case ("variable", 1):
                let name = block.labels[0]
                let attributes = Dictionary(block.body.attributes.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
                var isString = true
                if let type = attributes["type"]?.value, case .name(let t) = type.kind {
                    isString = t == "string"
                } else if attributes["type"] != nil {
                    isString = false
                }
                var sensitive = false
                if case .bool(true)? = attributes["sensitive"]?.value.kind { sensitive = true }
                scope.variables[name] = HCLScope.Variable(
                    name: name, location: block.location, defaultValue: attributes["default"]?.value,
                    sensitive: sensitive, isString: isString)
            case ("variables", 0):
                for a in block.body.attributes {
                    scope.variables[a.name] = HCLScope.Variable(
                        name: a.name, location: a.location, defaultValue: a.value, sensitive: false, isString: true)
                }
            case ("locals", 0):
                for a in block.body.attributes { scope.locals[a.name] = a.value }
            case ("local", 1):
                let attributes = Dictionary(block.body.attributes.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
                guard let expression = attributes["expression"] else {
                    throw PackerImportError(
                        at: block.location, "local \"\(block.labels[0])\" has no expression", fix: "add expression = …")
                }
                scope.locals[block.labels[0]] = expression.value
                if case .bool(true)? = attributes["sensitive"]?.value.kind {
                    scope.sensitiveLocals.insert(block.labels[0])
                }
            case ("source", 2): sourceBlocks.append(block)
            case ("build", 0): buildBlocks.append(block)
            case ("packer", 0), ("data", 2): continue
            default:
                throw PackerImportError(
                    at: block.location, "unexpected block \(block.title)",
                    fix: "a Packer template has variable, locals, source, build, data and packer blocks")
            }
        }
        scope.overrides = try inputs.values(for: scope, file: file, template: &template)
        template.sources = sourceBlocks.map { block in
            PackerSource(
                type: block.labels[0], name: block.labels[1], location: block.location,
                attributes: scope.attributes(of: block.body))
        }
        template.builds = try buildBlocks.map { (block) throws(PackerImportError) in try scope.build(block) }
        return template
    }
}

extension HCLScope {
    /// The environment variable an expression is read from when it is `env("X")`, or a
    /// variable given no value whose default is that.
    func environmentName(of e: HCLExpression) -> String? {
        if let name = e.environmentName { return name }
        var inner = e
        if case .template(let parts) = e.kind, parts.count == 1, case .interpolation(let i) = parts[0] { inner = i }
        guard case .attribute(let base, let name) = inner.kind, case .name("var") = base.kind,
            overrides[name] == nil, let d = variables[name]?.defaultValue
        else { return nil }
        return d.environmentName
    }

    /// The variables an expression reads, through locals too.
    func variableNames(in e: HCLExpression, seen: Set<String> = []) -> Set<String> {
        var out: Set<String> = []
        for (root, name) in e.references {
            if root == "var" { out.insert(name) }
            if root == "local", !seen.contains(name), let l = locals[name] {
                out.formUnion(variableNames(in: l, seen: seen.union([name])))
            }
        }
        return out
    }

    func field(_ e: HCLExpression, at location: SourceLocation) -> PackerField {
        let scope = self
        return PackerField(at: location, environmentName: environmentName(of: e), variables: variableNames(in: e)) {
            (ctx) throws(PackerImportError) in try scope.evaluate(e, ctx)
        }
    }

    /// A block's body as an object value: attributes, and nested blocks by type (one block is
    /// an object, repeated blocks a list).
    func blockField(_ blocks: [HCLBlock]) -> PackerField {
        let scope = self
        let variables = blocks.reduce(into: Set<String>()) { out, b in
            for a in scope.attributes(of: b.body) { out.formUnion(a.field.variables) }
        }
        return PackerField(at: blocks[0].location, variables: variables) { (ctx) throws(PackerImportError) in
            var items: [PackerValue] = []
            for block in blocks {
                var members: [PackerValue.Member] = []
                for a in scope.attributes(of: block.body) { members.append(.init(a.name, try a.field.evaluate(ctx))) }
                items.append(PackerValue(.object(members), at: block.location))
            }
            return items.count == 1 ? items[0] : PackerValue(.list(items), at: blocks[0].location)
        }
    }

    func attributes(of body: HCLBody) -> [PackerAttribute] {
        var out = body.attributes.map { PackerAttribute($0.name, field($0.value, at: $0.location)) }
        var order: [String] = []
        var byType: [String: [HCLBlock]] = [:]
        for b in body.blocks {
            if byType[b.type] == nil { order.append(b.type) }
            byType[b.type, default: []].append(b)
        }
        for type in order { out.append(PackerAttribute(type, blockField(byType[type]!))) }
        return out
    }

    func strings(_ attribute: HCLAttribute?) throws(PackerImportError) -> [String] {
        guard let attribute else { return [] }
        let v = try evaluate(attribute.value, PackerContext())
        guard case .list(let items) = v.kind, let texts = Optional(items.compactMap(\.text)), texts.count == items.count
        else {
            throw PackerImportError(
                at: attribute.location, "\(attribute.name) must be a list of strings", fix: "write [\"…\"]")
        }
        return texts
    }

    func build(_ block: HCLBlock) throws(PackerImportError) -> PackerBuild {
        let given = Dictionary(block.body.attributes.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
        var build = PackerBuild(
            name: try given["name"].map { (a) throws(PackerImportError) in try evaluate(a.value, PackerContext()).text }
                ?? nil,
            location: block.location, sources: [], provisioners: [], unsupported: [])
        func reference(_ text: String, at location: SourceLocation, rename: String?) throws(PackerImportError) {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3, parts[0] == "source" || parts[0] == "sources" else {
                throw PackerImportError(
                    at: location, "'\(text)' does not name a source",
                    fix: "write source.TYPE.NAME, e.g. source.azure-chroot.ubuntu")
            }
            build.sources.append(.init(type: parts[1], name: parts[2], rename: rename, location: location))
        }
        if let sources = given["sources"] {
            for text in try strings(sources) { try reference(text, at: sources.location, rename: nil) }
        }
        for a in block.body.attributes where !["name", "description", "sources"].contains(a.name) {
            throw PackerImportError(at: a.location, "unexpected attribute \(a.name) in a build block", fix: "remove it")
        }
        for inner in block.body.blocks {
            switch (inner.type, inner.labels.count) {
            case ("source", 1):
                let own = Dictionary(inner.body.attributes.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
                if let other = inner.body.attributes.first(where: { $0.name != "name" }) {
                    throw PackerImportError(
                        at: other.location,
                        "setting \(other.name) on a source inside a build is not supported by kiln import",
                        fix: "set it in the source block itself")
                }
                let rename =
                    try own["name"].map { (a) throws(PackerImportError) in try evaluate(a.value, PackerContext()).text }
                    ?? nil
                try reference(inner.labels[0], at: inner.location, rename: rename)
            case ("provisioner", 1):
                let own = Dictionary(inner.body.attributes.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
                build.provisioners.append(
                    PackerProvisioner(
                        type: inner.labels[0], location: inner.location,
                        attributes: self.attributes(of: inner.body).filter { $0.name != "only" && $0.name != "except" },
                        only: try strings(own["only"]), except: try strings(own["except"])))
            case ("post-processors", 0):
                for p in inner.body.blocks { build.unsupported.append(.init(what: p.title, location: p.location)) }
            default:
                build.unsupported.append(.init(what: inner.title, location: inner.location))
            }
        }
        return build
    }
}
