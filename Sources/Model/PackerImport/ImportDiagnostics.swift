/// Collects the diagnostics of one import, so that every problem is reported at once.
final class ImportDiagnostics {
    private(set) var all: [Diagnostic] = []
    /// What `--skip-unsupported` left out, each once: `what at FILE:LINE:COL: why`.
    private(set) var skipped: [String] = []

    func skip(_ note: String) { if !skipped.contains(note) { skipped.append(note) } }

    var hasErrors: Bool { all.contains { $0.severity == .error } }

    /// Records `d` once (a source two builds use is read twice).
    func add(_ d: Diagnostic) { if !all.contains(d) { all.append(d) } }
    func add(_ e: PackerImportError) { e.diagnostics.forEach(add) }
    func error(_ at: SourceLocation, _ message: String, fix: String = "") {
        add(Diagnostic(.error, at: at, message, fix: fix))
    }
    func warning(_ at: SourceLocation, _ message: String, fix: String = "") {
        add(Diagnostic(.warning, at: at, message, fix: fix))
    }

    /// Runs `body`, recording its error; nil when it failed.
    func attempt<T>(_ body: () throws(PackerImportError) -> T) -> T? {
        do {
            return try body()
        } catch {
            add(error)
            return nil
        }
    }
}
