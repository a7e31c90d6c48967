import Foundation
import TestSupport
import Testing

/// The secrets part of the robustness matrix: a build authenticated with a client secret, then
/// with a client certificate, against a served emulator that registers both apps. Neither the
/// secret, nor the private key, nor any token or client assertion may appear in Kiln's output
/// (text and JSON events), its saved plan, its artifact, or any file of its state directory
/// (journals, locks); those files are mode 0600.
@Suite(
    .serialized, .endToEnd,
    .enabled(if: Privileges.isRoot, "needs root: the emulator attaches loop devices, kiln mounts and chroots"))
struct Secrets {
    static let secretApp = "44444444-4444-4444-4444-444444444444"
    static let certificateApp = "55555555-5555-5555-5555-555555555555"

    @Test func neitherTheSecretNorThePrivateKeyNorATokenIsWrittenAnywhere() async throws {
        let dir = try manifestScratch("kiln-faultsecret")
        let name = "faultsecret"
        let manifest = "manifests/quickstart.yaml"
        try dir.edit(manifest, replacing: "  - name: quickstart\n", with: "  - name: \(name)\n")

        // A secret nobody else uses, and a certificate made now (never committed).
        let secret = "kiln-secret-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let keys = dir.url.appendingPathComponent("keys")
        try FileManager.default.createDirectory(at: keys, withIntermediateDirectories: true)
        let openssl = try await runProcess(
            URL(fileURLWithPath: "/usr/bin/openssl"),
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=kiln-secret-test", "-days", "1",
                "-keyout", keys.appendingPathComponent("app.key").path, "-out",
                keys.appendingPathComponent("app.crt").path
            ])
        try #require(openssl.status == 0, "openssl: \(openssl.stderr)")
        let key = try String(contentsOf: keys.appendingPathComponent("app.key"), encoding: .utf8)
        let certificate = try String(contentsOf: keys.appendingPathComponent("app.crt"), encoding: .utf8)
        try (certificate + key).write(to: keys.appendingPathComponent("app.pem"), atomically: true, encoding: .utf8)
        // What must never be found: the secret, every line of the key's body, PEM key markers,
        // and anything shaped like a JWT (access tokens, client assertions).
        let keyLines = key.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("-----") && $0.count >= 16 }
        try #require(keyLines.count > 10)

        let config = """
            {"tokenLifetimeSeconds": 10, "clients": [
              {"clientID": "00000000-0000-0000-0000-00000000c1d0", "secret": "kiln-emulator-secret"},
              {"clientID": "\(Self.secretApp)", "secret": "\(secret)"},
              {"clientID": "\(Self.certificateApp)", "secret": null, "certificates": ["\(keys.appendingPathComponent("app.crt").path)"]}
            ]}
            """
        let emulator = try await ServedEmulator(
            stateDirectory: dir.url.appendingPathComponent("emu"), configJSON: config)
        var environment = ProcessInfo.processInfo.environment
        environment["KILN_TEST_CLIENT_SECRET"] = secret
        var outputs: [(String, String)] = []
        func kiln(_ arguments: [String]) async throws -> ProcessResult {
            let r = try await KilnBinary.run(
                [arguments[0], "--emulator-endpoints", emulator.endpointsFile] + arguments.dropFirst(), in: dir.url,
                environment: environment)
            outputs.append(("kiln \(arguments.joined(separator: " ")) (stdout)", r.stdout))
            outputs.append(("kiln \(arguments.joined(separator: " ")) (stderr)", r.stderr))
            return r
        }

        for (credential, edit) in [
            (
                "client secret",
                "azure:\n  credential:\n    kind: clientSecret\n    clientId: \(Self.secretApp)\n    clientSecretEnv: KILN_TEST_CLIENT_SECRET\nbuilds:\n"
            ),
            (
                "certificate",
                "azure:\n  credential:\n    kind: clientCertificate\n    clientId: \(Self.certificateApp)\n    clientCertificatePath: keys/app.pem\nbuilds:\n"
            )
        ] {
            // Fresh manifest text per credential; the certificate run publishes a new version so it has work to do.
            let text = try #require(dir.read(manifest))
            let base = text.components(separatedBy: "builds:\n").dropFirst().joined(separator: "builds:\n")
            var manifestText =
                text.components(separatedBy: "azure:\n").first!.components(separatedBy: "builds:\n").first! + edit
                + base
            if credential == "certificate" {
                manifestText = manifestText.replacingOccurrences(of: "version: 1.0.0", with: "version: 1.0.1")
            }
            try manifestText.write(to: dir.url.appendingPathComponent(manifest), atomically: true, encoding: .utf8)

            if credential == "client secret" {
                // The manifest's app is the one used: a wrong secret is refused (and not printed).
                environment["KILN_TEST_CLIENT_SECRET"] = secret + "-wrong"
                let refused = try await kiln(["plan", manifest])
                environment["KILN_TEST_CLIENT_SECRET"] = secret
                #expect(
                    refused.status == 1 && (refused.stdout + refused.stderr).contains("AADSTS7000215"),
                    "a wrong secret: \(refused.stdout)\(refused.stderr)")
            }
            let plan = try await kiln(["plan", "--json", "--out", "plan-\(credential.prefix(4)).json", manifest])
            #expect(plan.status == 0 || plan.status == 2, "\(credential): plan: \(plan.stdout)\(plan.stderr)")
            let apply = try await kiln([
                "apply", "--auto-approve", "--json", "--artifact", "out-\(credential.prefix(4)).json",
                "plan-\(credential.prefix(4)).json"
            ])
            #expect(apply.status == 0, "\(credential): apply: \(apply.stdout)\(apply.stderr)")
            if credential == "certificate" {
                // The new version needs a new disk, provisioned again first, to be made from.
                #expect(
                    apply.stdout.contains("\"action\":\"\(name)/provision[setup]\""),
                    "\(credential): apply: \(apply.stdout)")
            }
            let drift = try await kiln(["drift", manifest])
            #expect(drift.status == 0, "\(credential): drift: \(drift.stdout)\(drift.stderr)")
        }
        // Each app really authenticated (else the test would prove nothing about it).
        let tokens = try await emulator.requests().filter {
            $0.path.lowercased().contains("/oauth2/") && $0.status == 200
        }
        #expect(tokens.count >= 2)

        // Everything Kiln wrote: outputs, saved plans, artifacts, the state directory.
        var files: [URL] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: dir.url.path) where name.hasSuffix(".json") {
            files.append(dir.url.appendingPathComponent(name))
        }
        let state = dir.url.appendingPathComponent(".kiln")
        var stateFiles: [URL] = []
        if let walker = FileManager.default.enumerator(at: state, includingPropertiesForKeys: [.isRegularFileKey]) {
            for case let url as URL in walker
            where (try? url.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true {
                stateFiles.append(url)
            }
        }
        #expect(stateFiles.contains { $0.lastPathComponent.hasSuffix(".journal.json") }, "no journal in \(stateFiles)")
        var haystacks = outputs
        for file in files + stateFiles {
            haystacks.append((file.path, String(decoding: (try? Data(contentsOf: file)) ?? Data(), as: UTF8.self)))
        }
        var hits: [String] = []
        var lines = 0
        for (source, text) in haystacks {
            lines += text.split(separator: "\n").count
            if text.contains(secret) { hits.append("\(source): the client secret") }
            if text.contains(secret + "-wrong") { hits.append("\(source): the wrong client secret") }
            if keyLines.contains(where: { text.contains($0) }) { hits.append("\(source): private key material") }
            if text.contains("PRIVATE KEY") { hits.append("\(source): a PEM private key marker") }
            if text.range(of: #"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}"#, options: .regularExpression) != nil {
                hits.append("\(source): a JWT (token or client assertion)")
            }
        }
        #expect(hits.isEmpty, "secrets written: \(hits)")
        var modes: [String] = []
        for file in stateFiles {
            let mode = ((try? FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions]) as? Int) ?? -1
            if mode != 0o600 { modes.append("\(file.lastPathComponent): \(String(mode, radix: 8))") }
        }
        #expect(modes.isEmpty, "state files not 0600: \(modes)")
        let planModes = files.map {
            "\($0.lastPathComponent) \(String(((try? FileManager.default.attributesOfItem(atPath: $0.path)[.posixPermissions]) as? Int) ?? -1, radix: 8))"
        }
        print(
            "secrets: \(haystacks.count) outputs and files searched (\(lines) lines, \(stateFiles.count) state files), \(hits.count) hits, \(modes.count) state files not 0600; \(tokens.count) tokens issued; saved plans and artifacts: \(planModes.joined(separator: ", "))"
        )

        #expect(await Leaks.mounts(under: dir.hostPaths.mountPath(name)).isEmpty)
        await emulator.stop()
        #expect(await Leaks.loopDevices(backedUnder: dir.url).isEmpty)
    }
}
