import Foundation
import TestSupport
import Testing

/// `kiln import packer` run as a user runs it, on the templates in manifests/packer (written
/// from Packer's azure-chroot documentation): each imports, `kiln validate` accepts the
/// manifest, and `kiln plan --emulator` plans it.
@Suite(.serialized, .endToEnd) struct ImportPackerTemplates {
    /// Each fixture with the `--var` values it needs (the emulator's subscription and group).
    static let fixtures: [(file: String, arguments: [String])] = [
        ("managed-identity.pkr.hcl", []),
        ("managed-identity.json", []),
        (
            "service-principal.pkr.hcl",
            [
                "-var", "subscription_id=11111111-1111-1111-1111-111111111111", "-var", "resource_group=kiln-rg",
                "-var", "client_id=00000000-0000-0000-0000-00000000c1d0"
            ]
        ),
        (
            "service-principal.json",
            ["-var", "subscription_id=11111111-1111-1111-1111-111111111111", "-var", "resource_group=kiln-rg"]
        ),
        ("ubuntu-chroot.pkr.hcl", []),
        ("ubuntu-chroot.json", []),
        ("full-options.pkr.hcl", []),
        ("skip-unsupported.pkr.hcl", ["--skip-unsupported"])
    ]

    /// What the environment-reading templates read (Packer's names for them).
    static let environment: [String: String] = {
        var e = ProcessInfo.processInfo.environment
        e["ARM_SUBSCRIPTION_ID"] = "11111111-1111-1111-1111-111111111111"
        e["ARM_IMAGE_RESOURCEGROUP_ID"] = "kiln-rg"
        e["ARM_GALLERY_NAME"] = "kiln_gallery"
        e["ARM_CLIENT_ID"] = "00000000-0000-0000-0000-00000000c1d0"
        e["ARM_CLIENT_SECRET"] = "kiln-emulator-secret"
        return e
    }()

    @Test func everyFixtureImportsValidatesAndPlansAgainstTheEmulator() async throws {
        let dir = try manifestScratch("kiln-import")
        let packer = dir.url.appendingPathComponent("manifests/packer")
        let templates = try FileManager.default.contentsOfDirectory(atPath: packer.path).filter {
            $0.hasSuffix(".hcl") || $0.hasSuffix(".json")
        }
        #expect(Set(templates) == Set(Self.fixtures.map(\.file)), "every template in manifests/packer is tested")
        for (file, arguments) in Self.fixtures {
            let out = "imported-\(file).yaml"
            let imported = try await KilnBinary.run(
                ["import", "packer", file, "--out", out] + arguments, in: packer, environment: Self.environment)
            #expect(imported.status == 0, "\(file): \(imported.stderr)")
            #expect(imported.stdout.isEmpty)
            let manifest = try #require(dir.read("manifests/packer/\(out)"), "\(file) wrote no manifest")
            #expect(manifest.hasPrefix("# Imported from \(file) by kiln import packer."))
            #expect(!manifest.contains("kiln-emulator-secret"))
            let validated = try await KilnBinary.run(["validate", out], in: packer, environment: Self.environment)
            #expect(validated.status == 0, "\(file): \(validated.stderr)\n\(manifest)")
            let planned = try await KilnBinary.run(
                ["plan", "--emulator", "--state-dir", dir.url.appendingPathComponent(".kiln").path, out], in: packer,
                environment: Self.environment)
            #expect(planned.status == 0, "\(file): \(planned.stdout)\n\(planned.stderr)\n\(manifest)")
            #expect(planned.stdout.contains("Plan: "), "\(file): \(planned.stdout)")
            #expect(planned.stdout.contains("create-disk[os]"), "\(file): \(planned.stdout)")
        }
    }

    @Test func stdoutCarriesTheManifestAndTheTwoBuildsOfOneTemplate() async throws {
        let dir = try manifestScratch("kiln-import")
        let packer = dir.url.appendingPathComponent("manifests/packer")
        let r = try await KilnBinary.run(["import", "packer", "full-options.pkr.hcl"], in: packer)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("  - name: web\n"))
        #expect(r.stdout.contains("  - name: worker\n"))
        #expect(r.stdout.contains("script: scripts/harden.sh"))
        #expect(r.stderr.isEmpty, "\(r.stderr)")
    }

    @Test func docsImportShowsWhatTheImportPrints() async throws {
        let dir = try manifestScratch("kiln-import")
        let packer = dir.url.appendingPathComponent("manifests/packer")
        let r = try await KilnBinary.run(["import", "packer", "managed-identity.pkr.hcl"], in: packer)
        #expect(r.status == 0, "\(r.stderr)")
        let docs = try String(
            contentsOf: Repository.root.appendingPathComponent("docs/import.md"), encoding: .utf8)
        #expect(docs.contains("```yaml\n" + r.stdout + "```\n"), "docs/import.md's example is stale:\n\(r.stdout)")
    }

    @Test func aRefusedTemplateWritesNothingAndExitsOne() async throws {
        let dir = try manifestScratch("kiln-import")
        let packer = dir.url.appendingPathComponent("manifests/packer")
        let r = try await KilnBinary.run(
            ["import", "packer", "skip-unsupported.pkr.hcl", "--out", "refused.yaml"], in: packer)
        #expect(r.status == 1)
        #expect(r.stdout.isEmpty)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        #expect(
            lines.contains {
                $0.hasPrefix("skip-unsupported.pkr.hcl:14:3: error: provisioner \"ansible\" cannot be imported")
            })
        #expect(
            lines.contains {
                $0.hasPrefix("skip-unsupported.pkr.hcl:18:3: error: post-processor \"manifest\" cannot be imported")
            })
        #expect(lines.last == "skip-unsupported.pkr.hcl: 2 errors, 0 warnings; nothing written")
        #expect(dir.read("manifests/packer/refused.yaml") == nil)
    }

    @Test func aMalformedTemplateGetsFileLineColumnErrors() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("bad.pkr.hcl", "source \"azure-chroot\" \"a\" {\n  source = \"unclosed\n}\n")
        let r = try await KilnBinary.run(["import", "packer", "bad.pkr.hcl"], in: dir.url)
        #expect(r.status == 1)
        #expect(r.stderr.hasPrefix("bad.pkr.hcl:2:12: error: the string is not closed — "), "\(r.stderr)")
    }

    @Test func theVarSpellingsOfPackerAndOfKilnAreBothAccepted() async throws {
        let dir = try manifestScratch("kiln-import")
        let packer = dir.url.appendingPathComponent("manifests/packer")
        try dir.write("manifests/packer/vars.pkrvars.hcl", "resource_group = \"kiln-rg\"\n")
        for arguments in [
            ["-var", "subscription_id=11111111-1111-1111-1111-111111111111", "-var-file", "vars.pkrvars.hcl"],
            ["--var", "subscription_id=11111111-1111-1111-1111-111111111111", "--var-file", "vars.pkrvars.hcl"],
            ["-var=subscription_id=11111111-1111-1111-1111-111111111111", "--var-file=vars.pkrvars.hcl"]
        ] {
            let r = try await KilnBinary.run(
                [
                    "import", "packer", "service-principal.pkr.hcl", "-var",
                    "client_id=00000000-0000-0000-0000-00000000c1d0"
                ]
                    + arguments, in: packer)
            #expect(r.status == 0, "\(arguments): \(r.stderr)")
            #expect(r.stdout.contains("resourceGroups/kiln-rg/providers"), "\(arguments)")
        }
    }
}
