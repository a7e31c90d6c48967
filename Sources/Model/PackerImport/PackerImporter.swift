import Foundation

/// Turns a Packer template for the `azure-chroot` builder into an equivalent Kiln manifest:
/// one build per `azure-chroot` source of each build, the options mapped as docs/manifest.md's
/// table says, with a YAML comment wherever Kiln's meaning differs from Packer's.
///
/// Guarantees: secret options (`client_secret`, `client_cert_password`, `client_jwt`,
/// `oidc_request_token`) are never read, and no value of a sensitive variable, or of one that
/// sets a credential, is written; a provisioner or builder Kiln cannot carry out is refused
/// (an error at its line) unless `skipUnsupported`, which leaves it out with a warning and a
/// comment. The manifest is checked as `kiln validate` checks it, with each problem reported at
/// the template line it came from; any error means no manifest.
public struct PackerImporter {
    public struct Options: Sendable {
        public var inputs: PackerInputs
        public var skipUnsupported: Bool
        /// Where the manifest will be written: its relative paths start there.
        public var outputDirectory: URL
        /// Where Packer would run: its relative script and file paths start there.
        public var workingDirectory: URL
        public init(
            inputs: PackerInputs = PackerInputs(), skipUnsupported: Bool = false, outputDirectory: URL,
            workingDirectory: URL
        ) {
            self.inputs = inputs
            self.skipUnsupported = skipUnsupported
            self.outputDirectory = outputDirectory
            self.workingDirectory = workingDirectory
        }
    }

    public struct Result: Sendable {
        /// The manifest's YAML, when there are no errors.
        public var manifest: String?
        /// Every error and warning, located in the template.
        public var diagnostics: [Diagnostic]
        public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }
    }

    let template: PackerTemplate
    let options: Options
    let diagnostics = ImportDiagnostics()

    /// Reads and imports the template at `path` (`.json` is JSON; anything else HCL2 unless it starts with `{`).
    public static func importTemplate(path: String, options: Options) -> Result {
        let fail = { (m: String, fix: String) in
            Result(
                manifest: nil,
                diagnostics: [Diagnostic(.error, at: SourceLocation(file: path, line: 1, column: 1), m, fix: fix)])
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            return fail("the template cannot be read", "check the path")
        }
        guard data.count <= InputGuard.maxBytes else {
            return fail(
                "the template is \(data.count) bytes; kiln import reads at most \(InputGuard.maxBytes)",
                "check the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            return fail("the template is not UTF-8 text", "save it as UTF-8")
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        return convert(text, file: path, directory: directory, options: options)
    }

    /// Imports template text as if read from `file` in `directory`.
    public static func convert(_ text: String, file: String, directory: URL, options: Options) -> Result {
        let isJSON =
            file.hasSuffix(".json")
            || (!file.hasSuffix(".hcl") && text.drop { $0.isWhitespace || $0 == "\u{FEFF}" }.first == "{")
        let template: PackerTemplate
        do throws(PackerImportError) {
            template =
                isJSON
                ? try .json(text, file: file, directory: directory.path, inputs: options.inputs)
                : try .hcl(text, file: file, directory: directory.path, inputs: options.inputs)
        } catch {
            return Result(manifest: nil, diagnostics: error.diagnostics)
        }
        let importer = PackerImporter(template: template, options: options)
        return importer.run()
    }

    func run() -> Result {
        for w in template.warnings { diagnostics.add(w) }
        let secretOptions = Set(Self.secretOptions.map(\.packer))
        var secretVariables = template.sensitiveVariables
        for s in template.sources {
            for a in s.attributes where secretOptions.contains(a.name) { secretVariables.formUnion(a.field.variables) }
        }
        var builds: [ImportedYAML.Item] = []
        var azure: (entries: [Entry], text: String, source: String)?
        var buildNames: [String: SourceLocation] = [:]
        let sources = Dictionary(
            template.sources.map { ("\($0.type).\($0.name)", $0) }, uniquingKeysWith: { a, _ in a })
        for build in template.builds {
            for u in build.unsupported {
                unsupported(u.what, at: u.location, "Kiln publishes the image and the gallery version itself")
            }
            for ref in build.sources {
                guard let source = sources["\(ref.type).\(ref.name)"] else {
                    diagnostics.error(
                        ref.location, "source.\(ref.type).\(ref.name) is not defined",
                        fix: "define the source block, or check the name")
                    continue
                }
                guard source.type == "azure-chroot" else {
                    unsupported(
                        "builder \"\(source.type)\" (\(source.name))", at: source.location,
                        "Kiln builds what azure-chroot builds")
                    continue
                }
                var name = ref.rename ?? source.name
                if buildNames[name] != nil, let prefix = build.name { name = "\(prefix)-\(name)" }
                if let first = buildNames[name] {
                    diagnostics.error(
                        ref.location, "a second build named \(name) (first at line \(first.line))",
                        fix: "name the source differently in this build")
                    continue
                }
                buildNames[name] = ref.location
                let context = PackerContext(
                    sourceType: source.type, sourceName: source.name, secretVariables: secretVariables)
                let reader = PackerFieldReader(
                    attributes: source.attributes, context: context, diagnostics: diagnostics,
                    owner: "source \"\(source.type)\" \"\(source.name)\"", location: source.location)
                checkOptions(source)
                let azureEntries = azureEntries(reader)
                let azureText = ImportedYAML.render(azureEntries, header: []).text
                if let azure, azure.text != azureText {
                    diagnostics.error(
                        source.location,
                        "source \(source.name) authenticates differently from source \(azure.source); a Kiln manifest has one azure section",
                        fix: "import the sources in separate manifests")
                } else if azure == nil {
                    azure = (azureEntries, azureText, source.name)
                }
                let (steps, notes) = provision(build.provisioners, for: source, context: context)
                if let item = buildItem(name: name, reader, steps: steps, notes: notes, at: source.location) {
                    builds.append(item)
                }
            }
        }
        if buildNames.isEmpty && !diagnostics.hasErrors {
            diagnostics.error(
                SourceLocation(file: template.file, line: 1, column: 1), "the template builds no azure-chroot source",
                fix: "kiln import packer reads templates for Packer's azure-chroot builder")
        }
        if diagnostics.hasErrors { return Result(manifest: nil, diagnostics: diagnostics.all) }
        var root: [Entry] = []
        if let azure, !azure.entries.isEmpty { root.append(Entry(key: "azure", value: .map(azure.entries))) }
        root.append(Entry(key: "builds", value: .list(builds)))
        var header = [
            "Imported from \(template.file) by kiln import packer.",
            "The comments mark where Kiln's meaning differs from Packer's (docs/import.md; docs/manifest.md maps every option)."
        ]
        header += diagnostics.skipped.map { "Skipped (--skip-unsupported): \($0)" }
        let (text, origins) = ImportedYAML.render(root, header: header)
        checkAsManifest(text, origins: origins)
        checkNoSecrets(in: text)
        return Result(manifest: diagnostics.hasErrors ? nil : text, diagnostics: diagnostics.all)
    }

    /// A part Kiln cannot carry out: an error, or with `skipUnsupported` a warning, and a
    /// line in the manifest's header.
    func unsupported(_ what: String, at location: SourceLocation, _ why: String) {
        if options.skipUnsupported {
            diagnostics.warning(location, "skipped \(what): \(why)")
            diagnostics.skip("\(what) at \(location): \(why)")
        } else {
            diagnostics.error(
                location, "\(what) cannot be imported: \(why)",
                fix: "remove it, or pass --skip-unsupported to leave it out of the manifest")
        }
    }

    /// The steps of the provisioners that run for `source`, and a note for each one skipped.
    private func provision(_ provisioners: [PackerProvisioner], for source: PackerSource, context: PackerContext)
        -> (steps: [ImportedYAML.Item], notes: [String])
    {
        var steps: [ImportedYAML.Item] = []
        var names: Set<String> = []
        var notes: [String] = []
        for p in provisioners where p.applies(toType: source.type, name: source.name) {
            switch provisionerSteps(p, context: context, names: &names, index: steps.count + 1) {
            case .steps(let items): steps += items
            case .unsupported(let why):
                unsupported("provisioner \"\(p.type)\"", at: p.location, why)
                if options.skipUnsupported {
                    notes.append("skipped (--skip-unsupported): provisioner \"\(p.type)\" at \(p.location)")
                }
            }
        }
        return (steps, notes)
    }

    private func buildItem(
        name: String, _ r: PackerFieldReader, steps: [ImportedYAML.Item], notes: [String], at: SourceLocation
    ) -> ImportedYAML.Item? {
        var scratch = false
        guard let source = sourceEntry(r, scratch: &scratch) else { return nil }
        var gallerySource = false
        if case .map(let kinds) = source.value, kinds.first?.key == "galleryImageVersion" { gallerySource = true }
        var entries: [Entry] = [Entry(key: "name", value: .scalar(name), origin: at), source]
        entries.append(diskEntry(r, scratch: scratch, gallerySource: gallerySource))
        if let mount = mountEntry(r, scratch: scratch) { entries.append(mount) }
        entries.append(Entry(key: "provision", value: .list(steps), comments: notes))
        guard let outputs = outputsEntry(r) else { return nil }
        entries.append(outputs)
        if let temporary = temporaryEntry(r) { entries.append(temporary) }
        return ImportedYAML.Item(value: .map(entries), origin: at)
    }

    /// Runs the manifest through Kiln's own validation, pointing each finding at its template line.
    private func checkAsManifest(_ text: String, origins: [Int: SourceLocation]) {
        let result = ManifestLoader.parse(
            bytes: Array(text.utf8), file: "imported manifest", baseDirectory: options.outputDirectory)
        for d in result.diagnostics {
            let origin =
                origins.filter { $0.key <= d.location.line }.max { $0.key < $1.key }?.value
                ?? SourceLocation(file: template.file, line: 1, column: 1)
            diagnostics.add(
                Diagnostic(
                    d.severity, at: origin, "the imported manifest: \(d.message) (its line \(d.location.line))",
                    fix: d.fix))
        }
    }

    /// The last line of defence: no literal value of a secret option or variable appears in the text.
    private func checkNoSecrets(in text: String) {
        let secretOptions = Set(Self.secretOptions.map(\.packer))
        for s in template.sources {
            let context = PackerContext(sourceType: s.type, sourceName: s.name)
            for a in s.attributes where secretOptions.contains(a.name) {
                guard let v = try? a.field.evaluate(context), !v.deferred, let secret = v.text, secret.count >= 4 else {
                    continue
                }
                if text.contains(secret) {
                    diagnostics.error(
                        a.field.location, "the value of \(a.name) would appear in the manifest",
                        fix: "keep secrets out of provisioners and names; read them from the environment")
                }
            }
        }
    }

    /// A template path as the manifest writes it: relative to the output directory when the
    /// template gave a relative path (Packer's relative paths start where Packer runs).
    func hostPath(_ path: String, at location: SourceLocation) -> String? {
        guard !path.hasPrefix("/") else { return path }
        let target = URL(fileURLWithPath: absolute(path)).standardizedFileURL.pathComponents
        let base = options.outputDirectory.standardizedFileURL.pathComponents
        var common = 0
        while common < min(target.count, base.count) && target[common] == base[common] { common += 1 }
        let up = Array(repeating: "..", count: base.count - common)
        let relative = (up + target[common...]).joined(separator: "/")
        return path.hasSuffix("/") && !relative.hasSuffix("/") ? relative + "/" : relative
    }

    func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : options.workingDirectory.appendingPathComponent(path).standardizedFileURL.path
    }
}
