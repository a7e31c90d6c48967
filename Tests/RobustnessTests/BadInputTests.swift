import Foundation
import TestSupport
import Testing

/// The bad-input part of the robustness matrix: a seeded corpus of broken manifests
/// (mutations of every example) fed to the real `kiln validate`, many files per process.
/// No case may crash it, hang it, or get an error without `FILE:LINE:COL`.
@Suite(.endToEnd) struct BadInput {
    /// Cases per example file: a few hundred in all for `make test`, thousands for `make robustness`.
    static var casesPerExample: Int { Matrix.full ? 800 : 51 }
    static var seed: UInt64 {
        ProcessInfo.processInfo.environment["KILN_ROBUSTNESS_SEED"].flatMap { UInt64($0) } ?? 0x6B69_6C6E
    }

    @Test func brokenManifestsGetLocatedErrorsAndNeverCrashOrHang() async throws {
        let dir = try manifestScratch("kiln-badinput")
        let examples = try FileManager.default.contentsOfDirectory(atPath: Repository.manifests.path)
            .filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(examples.count >= 6)

        // The corpus: every case a file of its own beside the examples (so relative script
        // and upload paths resolve as in the original), named so each diagnostic line says
        // which case it belongs to.
        var mutator = ManifestMutator(seed: Self.seed)
        var files: [(name: String, label: String)] = []
        for example in examples {
            let source = try [UInt8](Data(contentsOf: Repository.manifests.appendingPathComponent(example)))
            for c in mutator.cases(
                from: source, name: example.replacingOccurrences(of: ".yaml", with: ""), count: Self.casesPerExample)
            {
                let name = String(format: "case%05d.yaml", files.count)
                try Data(c.bytes).write(to: dir.url.appendingPathComponent("manifests/\(name)"))
                files.append((name, c.label))
            }
        }

        var tally = CorpusTally()
        let batchSize = 60
        for start in stride(from: 0, to: files.count, by: batchSize) {
            let batch = Array(files[start..<min(start + batchSize, files.count)])
            let run = try await ValidateRun(
                batch.map(\.name), in: dir.url.appendingPathComponent("manifests"), timeout: .seconds(300))
            if run.isCleanExit, let verdicts = run.verdicts(for: batch.map(\.name)) {
                for (file, verdict) in zip(batch, verdicts) { tally.add(verdict, label: file.label, name: file.name) }
                continue
            }
            // A crash or a hang somewhere in the batch: find the culprit, one file at a time.
            for file in batch {
                let single = try await ValidateRun(
                    [file.name], in: dir.url.appendingPathComponent("manifests"), timeout: .seconds(120))
                if single.timedOut {
                    tally.add(.hang, label: file.label, name: file.name)
                } else if !single.isCleanExit {
                    tally.add(.crash("exit \(single.statusDescription)"), label: file.label, name: file.name)
                } else {
                    tally.add(
                        single.verdicts(for: [file.name])?.first ?? .unattributed, label: file.label, name: file.name)
                }
            }
        }

        // scripts/schema-check.sh checks `kiln schema` against the same corpus.
        if let export = ProcessInfo.processInfo.environment["KILN_BAD_INPUT_CORPUS"], !export.isEmpty {
            try? FileManager.default.removeItem(atPath: export)
            try FileManager.default.copyItem(
                at: dir.url.appendingPathComponent("manifests"), to: URL(fileURLWithPath: export))
        }
        print("bad input: seed \(Self.seed), \(tally.summary)")
        for (kind, counts) in tally.byKind.sorted(by: { $0.key < $1.key }) {
            print("bad input: \(kind): \(counts.cases) cases, \(counts.valid) valid, \(counts.invalid) invalid")
        }
        #expect(tally.cases == files.count)
        #expect(tally.crashes.isEmpty, "crashes: \(tally.crashes.prefix(10))")
        #expect(tally.hangs.isEmpty, "hangs: \(tally.hangs.prefix(10))")
        #expect(tally.unlocated.isEmpty, "errors without FILE:LINE:COL: \(tally.unlocated.prefix(10))")
        #expect(tally.unattributed.isEmpty, "cases without a verdict: \(tally.unattributed.prefix(10))")
        // The corpus is mostly broken input: if most cases were valid, the mutator would be broken.
        #expect(tally.invalid > tally.cases / 2)
    }
}

/// What `kiln validate` said about one case.
enum CaseVerdict {
    case valid
    case invalid(errors: Int)
    /// An error line without `FILE:LINE:COL` (the line is kept for the report).
    case unlocated(String)
    case crash(String)
    case hang
    /// No "valid" line and no summary line for the file.
    case unattributed
}

/// Counts of a corpus run, with the labels of the bad cases.
struct CorpusTally {
    var cases = 0, valid = 0, invalid = 0
    var crashes: [String] = [], hangs: [String] = [], unlocated: [String] = [], unattributed: [String] = []
    var byKind: [String: (cases: Int, valid: Int, invalid: Int)] = [:]

    mutating func add(_ verdict: CaseVerdict, label: String, name: String) {
        cases += 1
        let kind = String(label.split(separator: "-").first ?? "")
        var k = byKind[kind] ?? (0, 0, 0)
        k.cases += 1
        switch verdict {
        case .valid:
            valid += 1
            k.valid += 1
        case .invalid:
            invalid += 1
            k.invalid += 1
        case .unlocated(let line): unlocated.append("\(name) (\(label)): \(line.prefix(300))")
        case .crash(let why): crashes.append("\(name) (\(label)): \(why)")
        case .hang: hangs.append("\(name) (\(label))")
        case .unattributed: unattributed.append("\(name) (\(label))")
        }
        byKind[kind] = k
    }

    var summary: String {
        "\(cases) cases: \(valid) valid, \(invalid) invalid with located errors, \(crashes.count) crashes, \(hangs.count) hangs, "
            + "\(unlocated.count) errors without a location, \(unattributed.count) without a verdict"
    }
}

/// One `kiln validate FILE…` process, its output captured to files, killed at `timeout`.
struct ValidateRun {
    var stdout: String
    var stderr: String
    var timedOut: Bool
    var status: Int32
    var bySignal: Bool

    init(_ names: [String], in directory: URL, timeout: Duration) async throws {
        let out = directory.appendingPathComponent(".validate.out")
        let err = directory.appendingPathComponent(".validate.err")
        try? FileManager.default.removeItem(at: out)
        try? FileManager.default.removeItem(at: err)
        let process = try ChildProcess.spawn(
            KilnBinary.url, ["validate"] + names, in: directory, output: .file(out), error: .file(err))
        // A hang is what this detects, so the bound is generous (the machine is shared).
        let exit = await process.exit(within: timeout)
        timedOut = exit == nil
        if timedOut { await process.killSession() }
        bySignal = process.wasSignaled
        let code = await process.exit()
        // The signal number, as Process reported it, when killed.
        status = bySignal ? code - 128 : code
        stdout = String(decoding: (try? Data(contentsOf: out)) ?? Data(), as: UTF8.self)
        stderr = String(decoding: (try? Data(contentsOf: err)) ?? Data(), as: UTF8.self)
    }

    /// Exit 0 or 1, neither by a signal nor by the timeout.
    var isCleanExit: Bool { !timedOut && !bySignal && (status == 0 || status == 1) }
    var statusDescription: String { bySignal ? "signal \(status)" : "status \(status)" }

    /// One verdict per file, or nil when the output does not account for every file
    /// (then the caller re-runs them one by one).
    func verdicts(for names: [String]) -> [CaseVerdict]? {
        let known = Set(names)
        var valid = Set<String>()
        for line in stdout.split(separator: "\n", omittingEmptySubsequences: false) {
            if let r = line.range(of: ": valid, "), known.contains(String(line[..<r.lowerBound])) {
                valid.insert(String(line[..<r.lowerBound]))
            }
        }
        var located: [String: Int] = [:]
        var summaries: [String: Int] = [:]
        var unlocated: [String: String] = [:]
        var current: String?
        for raw in stderr.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(raw)
            if line.isEmpty { continue }
            let file = line.firstIndex(of: ":").map { String(line[..<$0]) }
            guard let file, known.contains(file) else {
                // A line that names no case: a diagnostic split over lines, or output that
                // cannot be attributed. Charged to the case printed before it.
                if let current { unlocated[current] = unlocated[current] ?? line } else { return nil }
                continue
            }
            current = file
            let rest = line.dropFirst(file.count)
            if rest.range(of: #"^:\d+:\d+: (error|warning): "#, options: .regularExpression) != nil {
                if rest.contains(": error: ") { located[file, default: 0] += 1 }
            } else if let m = rest.range(of: #"^: \d+ errors?, \d+ warnings?$"#, options: .regularExpression) {
                summaries[file] = Int(rest[m].dropFirst(2).prefix { $0.isNumber }) ?? 0
            } else {
                unlocated[file] = unlocated[file] ?? line
            }
        }
        var result: [CaseVerdict] = []
        for name in names {
            if let line = unlocated[name] {
                result.append(.unlocated(line))
            } else if valid.contains(name), summaries[name] == nil {
                result.append(.valid)
            } else if let errors = summaries[name] {
                // Every error the summary counts must have been printed with its place.
                result.append(
                    errors > 0 && located[name] ?? 0 >= errors
                        ? .invalid(errors: errors)
                        : .unlocated("summary counts \(errors) errors, \(located[name] ?? 0) printed with a location"))
            } else {
                return nil
            }
        }
        return result
    }
}
