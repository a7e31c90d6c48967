import Foundation
import Model
import TestSupport
import Testing

@Suite struct ContentDigest {
    static let manifest = """
        builds:
          - name: web
            source:
              platformImage: Canonical:ubuntu-24_04-lts:server:latest
            disk:
              sizeGB: 40
              zone: "1"
            mount:
              options: [noatime]
            provision:
              - name: first
                shell: [echo one, 'echo {{env "KILN_TEST_VALUE"}}']
                env: {A: b}
              - name: script
                script: scripts/s.sh
                args: [--x]
              - name: files
                upload: {source: files, destination: /opt/files, mode: "0644"}
            outputs:
              image:
                id: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/images/web
            tags: {team: a}
            timeouts: {azureOperation: 10m}
        """

    /// Writes the fixture (manifest with `edit` applied, script and files) and returns its digest.
    func digest(
        _ edit: (String) -> String = { $0 }, files: [String: String] = [:], resolved: String? = nil,
        environment: [String: String] = ["KILN_TEST_VALUE": "v1"]
    ) throws -> BuildDigest {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var contents = ["scripts/s.sh": "echo script\n", "files/a.txt": "alpha\n", "files/sub/b.txt": "beta\n"]
        for (k, v) in files { contents[k] = v }
        for (path, text) in contents { try dir.write(path, text, mode: 0o644) }
        // Directory modes are part of an upload's digest; fix them so the umask cannot matter.
        for d in ["files", "files/sub"] {
            try FileManager.default.setAttributes(
                [.posixPermissions: 0o755], ofItemAtPath: dir.url.appendingPathComponent(d).path)
        }
        let r = try loadManifest(edit(Self.manifest), in: dir)
        let build = try #require(r.manifest?.builds.first, "\(r.errors)")
        return try BuildDigest.compute(
            for: build, baseDirectory: dir.url, resolvedPlatformVersion: resolved,
            values: TemplateValues(environment: environment))
    }

    @Test func sameInputsGiveTheSameDigestEverywhere() throws {
        let a = try digest()
        let b = try digest()
        #expect(a == b)
        // Pinned: a change here means every published image would look out of date.
        #expect(a.value == "sha256:8f4677dc2f83d90d2fc858ea42cef55aad301ae8c4bf94ea989f8bf4bfcc4b2e")
        #expect(
            a.components.map(\.name) == [
                "source", "disk", "mount", "provision[first]", "provision[script]", "provision[files]"
            ])
    }

    @Test func meaningfulChangesChangeTheDigestAndSayWhere() throws {
        let base = try digest()
        let changes: [(String, BuildDigest, String)] = [
            ("resolved version", try digest(resolved: "24.04.202501010"), "source"),
            ("disk size", try digest { $0.replacingOccurrences(of: "sizeGB: 40", with: "sizeGB: 41") }, "disk"),
            ("mount option", try digest { $0.replacingOccurrences(of: "noatime", with: "relatime") }, "mount"),
            ("command", try digest { $0.replacingOccurrences(of: "echo one", with: "echo two") }, "provision[first]"),
            ("step env", try digest { $0.replacingOccurrences(of: "A: b", with: "A: c") }, "provision[first]"),
            ("rendered env", try digest(environment: ["KILN_TEST_VALUE": "v2"]), "provision[first]"),
            ("script bytes", try digest(files: ["scripts/s.sh": "echo script!\n"]), "provision[script]"),
            ("script args", try digest { $0.replacingOccurrences(of: "[--x]", with: "[--y]") }, "provision[script]"),
            ("uploaded file", try digest(files: ["files/sub/b.txt": "gamma\n"]), "provision[files]"),
            ("added file", try digest(files: ["files/c.txt": "new\n"]), "provision[files]"),
            (
                "upload mode", try digest { $0.replacingOccurrences(of: "\"0644\"", with: "\"0600\"") },
                "provision[files]"
            )
        ]
        for (label, changed, component) in changes {
            #expect(changed.value != base.value, "\(label)")
            #expect(changed.changedComponents(since: base).map(\.name) == [component], "\(label)")
        }
    }

    @Test func placementAndPublishingDoNotChangeTheDigest() throws {
        let base = try digest()
        let same = [
            try digest { $0.replacingOccurrences(of: "zone: \"1\"", with: "zone: \"2\"") },
            try digest { $0.replacingOccurrences(of: "team: a", with: "team: b") },
            try digest { $0.replacingOccurrences(of: "10m", with: "20m") },
            try digest { $0.replacingOccurrences(of: "images/web", with: "images/other") }
        ]
        for d in same { #expect(d.value == base.value) }
    }

    @Test func aVanishedScriptIsAClearError() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("s.sh", "echo\n")
        let text = validBuild.replacingOccurrences(of: "      - shell: [echo hi]", with: "      - script: s.sh")
        let build = try #require(try loadManifest(text, in: dir).manifest?.builds.first)
        try FileManager.default.removeItem(at: dir.url.appendingPathComponent("s.sh"))
        #expect(throws: DigestError.self) { try BuildDigest.compute(for: build, baseDirectory: dir.url) }
    }
}
