import Foundation
import TestSupport
import Testing

/// The real `kiln` binary, run as a user runs it.
@Suite struct ValidateCommand {
    @Test func validManifestsExitZero() async throws {
        let r = try await KilnBinary.run(["validate", "manifests/quickstart.yaml", "manifests/two-builds.yaml"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("manifests/quickstart.yaml: valid, 1 build (quickstart)"))
        #expect(r.stdout.contains("manifests/two-builds.yaml: valid, 2 builds (web, worker)"))
    }

    @Test func invalidManifestExitsOneWithLocatedErrorsOnStderr() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("bad.yaml", "builds:\n  - name: x\n    sorce: {}\n")
        let r = try await KilnBinary.run(["validate", "bad.yaml"], in: dir.url)
        #expect(r.status == 1)
        #expect(r.stdout.isEmpty)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        #expect(lines.contains("bad.yaml:3:5: error: unknown key 'sorce' in builds[0] — did you mean 'source'?"))
        #expect(lines.contains { $0.hasPrefix("bad.yaml:2:5: error: builds[0].source is required") })
        #expect(lines.last == "bad.yaml: 3 errors, 0 warnings")
    }

    @Test func oneBadFileAmongGoodOnesFailsTheRun() async throws {
        let r = try await KilnBinary.run(["validate", "manifests/quickstart.yaml", "does-not-exist.yaml"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("does-not-exist.yaml:1:1: error: no such file"))
        #expect(r.stdout.contains("quickstart.yaml: valid"))
    }

    @Test func printShowsTheDefaultedManifestAndDigest() async throws {
        let r = try await KilnBinary.run(["validate", "--print", "manifests/quickstart.yaml"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("# build quickstart digest sha256:"))
        #expect(r.stdout.contains("storageAccountType: Standard_LRS"))
        #expect(r.stdout.contains("replicas: 1"))
        #expect(r.stdout.contains("target: /proc/sys/fs/binfmt_misc"))
    }

    @Test func jsonReportIsMachineReadable() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write(
            "w.yaml",
            "builds:\n  - name: x\n    source: {platformImage: 'a:b:c:1.0'}\n    outputs:\n      gallery: {resourceGroup: rg, gallery: g, imageDefinition: d, version: 1.0.0}\n"
        )
        let r = try await KilnBinary.run(["validate", "--json", "w.yaml"], in: dir.url)
        #expect(r.status == 0)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(report["valid"] as? Bool == true)
        let diagnostics = try #require(report["diagnostics"] as? [[String: Any]])
        #expect(diagnostics.first?["severity"] as? String == "warning")
        let builds = try #require(report["builds"] as? [[String: Any]])
        #expect((builds.first?["digest"] as? String)?.hasPrefix("sha256:") == true)
    }

    @Test func hostileFilesGetOneClearErrorEach() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("empty.yaml", "")
        try Data([0x7F, 0x45, 0x4C, 0x46, 0x00, 0x01, 0xFF, 0xFE]).write(
            to: dir.url.appendingPathComponent("binary.yaml"))
        var bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...8 {
            bomb += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ",") + "]\n"
        }
        try dir.write("bomb.yaml", bomb + "builds: *a8\n")
        try dir.write("deep.yaml", "builds: " + String(repeating: "{a: ", count: 50_000))
        for file in ["empty.yaml", "binary.yaml", "bomb.yaml", "deep.yaml"] {
            let r = try await KilnBinary.run(["validate", file], in: dir.url)
            #expect(r.status == 1, "\(file)")
            let first = r.stderr.split(separator: "\n").first.map(String.init) ?? ""
            #expect(
                first.range(of: #"^\#(file):\d+:\d+: error: .+ — .+"#, options: .regularExpression) != nil,
                "\(file): \(first)")
        }
    }
}

@Suite struct CommandLine {
    @Test func versionAndHelpListTheSubcommands() async throws {
        let v = try await KilnBinary.run(["--version"])
        #expect(
            v.status == 0
                && v.stdout.trimmingCharacters(in: .whitespacesAndNewlines).range(
                    of: #"^\d+\.\d+\.\d+"#, options: .regularExpression) != nil
        )
        let help = try await KilnBinary.run(["--help"])
        for sub in ["validate", "plan", "apply", "drift", "graph", "emulator"] {
            #expect(help.stdout.contains(sub), "\(sub)")
        }
    }

    @Test func completionScriptsComeFromTheArgumentParser() async throws {
        for shell in ["bash", "zsh", "fish"] {
            let r = try await KilnBinary.run(["--generate-completion-script", shell])
            #expect(r.status == 0 && r.stdout.contains("validate"), "\(shell)")
        }
    }

    @Test func aBadManifestStopsPlanBeforeAnyAzureCall() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("bad.yaml", "builds: []\n")
        let r = try await KilnBinary.run(["plan", "--emulator-endpoints", "/nonexistent.json", "bad.yaml"], in: dir.url)
        #expect(r.status == 1)
        #expect(r.stderr.contains("bad.yaml:1:9: error: builds is empty"))
    }
}
