import Foundation

/// The variable values given to `kiln import packer` on its command line.
public struct PackerInputs: Sendable {
    /// `--var NAME=VALUE`, in the order given.
    public struct Assignment: Sendable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }

        /// Parses `NAME=VALUE`; nil when there is no `=` or no name.
        public init?(parsing text: String) {
            guard let eq = text.firstIndex(of: "="), eq != text.startIndex else { return nil }
            self.init(name: String(text[..<eq]), value: String(text[text.index(after: eq)...]))
        }
    }

    /// A `--var-file` and its text.
    public struct VariableFile: Sendable {
        public var path: String
        public var text: String
        public init(path: String, text: String) {
            self.path = path
            self.text = text
        }
    }

    public var variables: [Assignment]
    public var variableFiles: [VariableFile]

    public init(variables: [Assignment] = [], variableFiles: [VariableFile] = []) {
        self.variables = variables
        self.variableFiles = variableFiles
    }

    /// The given values of an HCL2 template's variables: the files first, then `--var`
    /// (later wins, as with Packer). A `--var` the template does not declare is an error;
    /// a file's value for one is a warning.
    func values(for scope: HCLScope, file: String, template: inout PackerTemplate) throws(PackerImportError)
        -> [String: PackerValue]
    {
        var out: [String: PackerValue] = [:]
        for varFile in variableFiles {
            var given: [(String, SourceLocation, PackerValue)] = []
            if varFile.path.hasSuffix(".json") {
                let node = try JSONTemplateReader.parse(varFile.text, file: varFile.path)
                guard let members = node.members else {
                    throw PackerImportError(
                        at: node.location, "a variable file holds one JSON object", fix: "write {\"name\": \"value\"}")
                }
                for m in members { given.append((m.key, m.keyLocation, m.value.literal)) }
            } else {
                let body = try HCLParser.parse(varFile.text, file: varFile.path)
                if let block = body.blocks.first {
                    throw PackerImportError(
                        at: block.location, "a variable file holds only NAME = value lines",
                        fix: "move the block to the template")
                }
                for a in body.attributes {
                    given.append((a.name, a.location, try HCLScope().evaluate(a.value, PackerContext())))
                }
            }
            for (name, location, value) in given {
                guard scope.variables[name] != nil else {
                    template.warnings.append(
                        Diagnostic(
                            .warning, at: location, "the template declares no variable \(name)",
                            fix: "the value is not used"))
                    continue
                }
                out[name] = value
            }
        }
        let commandLine = SourceLocation(file: file, line: 1, column: 1)
        for assignment in variables {
            guard let variable = scope.variables[assignment.name] else {
                let hint = Suggestions.closest(to: assignment.name, in: Array(scope.variables.keys)).map {
                    "did you mean \($0)? "
                }
                throw PackerImportError(
                    at: commandLine, "--var \(assignment.name): the template declares no variable \(assignment.name)",
                    fix: (hint ?? "") + "declare it with a variable block, or check the name")
            }
            if variable.isString {
                out[assignment.name] = PackerValue(.string(assignment.value), at: variable.location)
            } else {
                let at = SourceLocation(file: "--var \(assignment.name)", line: 1, column: 1)
                out[assignment.name] = try HCLScope().evaluate(
                    try HCLParser.parseExpression(assignment.value, at: at), PackerContext())
            }
        }
        return out
    }
}

extension JSONNode {
    /// The node as a value, strings taken as they are (no template functions).
    var literal: PackerValue {
        switch kind {
        case .string(let s): PackerValue(.string(s), at: location)
        case .number(let n): PackerValue(.number(n), at: location)
        case .bool(let b): PackerValue(.bool(b), at: location)
        case .null: PackerValue(.null, at: location)
        case .array(let items): PackerValue(.list(items.map(\.literal)), at: location)
        case .object(let members): PackerValue(.object(members.map { .init($0.key, $0.value.literal) }), at: location)
        }
    }
}
