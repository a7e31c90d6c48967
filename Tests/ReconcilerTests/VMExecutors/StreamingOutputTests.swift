import Foundation
import Logging
import Model
import Planner
import Providers
import Synchronization
import Testing

@testable import Reconciler

/// Collects the `.output` lines of events, in order.
private final class OutputLines: Sendable {
    private let storage = Mutex<[String]>([])
    func append(_ event: ApplyEvent) { if case .output(_, let line) = event { storage.withLock { $0.append(line) } } }
    var lines: [String] { storage.withLock { $0 } }
}

@Suite struct StreamingOutput {
    let id = ActionID("web", .provision(step: "setup"))

    @Test func linesAreMaskedCleanedAndCut() {
        let out = OutputLines()
        let stream = CommandOutputStream(
            action: id, mask: SecretMask(values: ["s3cr3t-token", "on"]), emit: { out.append($0) })
        stream.line("token is s3cr3t-token, twice: s3cr3t-token")
        stream.line("\u{1B}[32mgreen\u{1B}[0m\tand\rtabs")
        stream.line(String(repeating: "x", count: 1000))
        stream.line("short values like on stay")
        #expect(out.lines[0] == "token is ***, twice: ***")
        #expect(out.lines[1] == "green andtabs")
        #expect(out.lines[2].count == CommandOutputStream.maxLineLength && out.lines[2].hasSuffix("…"))
        #expect(out.lines[3] == "short values like on stay")
    }

    @Test func aChattyCommandIsRateLimitedAndSaysHowManyLinesItLeftOut() {
        let out = OutputLines()
        let stream = CommandOutputStream(action: id, mask: .none, emit: { out.append($0) })
        // Far more lines than the burst, at once: the refill over the loop is a few lines at most.
        for n in 0..<5000 { stream.line("line \(n)") }
        stream.finish()
        let shown = out.lines.filter { $0.hasPrefix("line ") }
        #expect(shown.count >= Int(CommandOutputStream.burst))
        #expect(shown.count < 1000)
        #expect(shown.prefix(3) == ["line 0", "line 1", "line 2"])
        let notes = out.lines.filter { $0.hasPrefix("… ") }
        let left = notes.compactMap { Int($0.dropFirst(2).prefix { $0.isNumber }) }.reduce(0, +)
        #expect(shown.count + left == 5000)
    }

    @Test func theMaskTakesTheValuesOfEnvReferencesOnly() {
        let mask = SecretMask(
            templates: ["{{env \"TOKEN\"}}", "plain text with TOKEN", "{{quote (env \"OTHER\")}}", "{{.BuildName}}"],
            environment: ["TOKEN": "abcd1234", "OTHER": "zzzz9999", "UNUSED": "never-masked"])
        #expect(Set(mask.values) == ["abcd1234"] || Set(mask.values) == ["abcd1234", "zzzz9999"])
        #expect(mask.apply("abcd1234 never-masked") == "*** never-masked")
    }

    @Test func aProvisioningStepStreamsItsOutputWithSecretsMasked() async throws {
        let f = try await VMExecutorFixture(
            build: """
                    provision:
                      - name: talk
                        shell: ['echo "$TOKEN" && echo done']
                        env: {TOKEN: '{{env "API_TOKEN"}}'}
                """, processEnvironment: ["API_TOKEN": "tok-123456"])
        try await f.mountRoot()
        await f.chroot.on("echo", respond: .exit(0, stdout: ["using tok-123456", "done"]))
        let sink = CollectingEventSink()
        let action = Action(
            id: ActionID(f.d.name, .provision(step: "talk")), change: .run, status: .todo, resource: nil, reason: "",
            dependsOn: [])
        let context = ExecutionContext(
            action: action, journal: JournalHandle(build: f.d.name, store: f.env.local.journal),
            clock: ContinuousClock(),
            dependencyResults: [:], buildResults: f.attached, logger: Logger(label: "test"),
            interrupts: InterruptController(), emit: { sink.receive($0) })
        _ = try await ProvisionExecutor(env: f.env, manifestDirectory: f.manifestDirectory, step: "talk").execute(
            action, context: context)
        let lines = sink.events.compactMap { event -> String? in
            if case .output(_, let line) = event { line } else { nil }
        }
        #expect(lines == ["using ***", "done"])
    }

    @Test func aFailingStepsTailAndCommandAreMaskedToo() async throws {
        let f = try await VMExecutorFixture(
            build: """
                    provision:
                      - name: talk
                        shell: ['echo {{env "API_TOKEN"}}; exit 3']
                """, processEnvironment: ["API_TOKEN": "tok-123456"])
        try await f.mountRoot()
        await f.chroot.on("exit 3", respond: .exit(3, stdout: ["tok-123456"]))
        let error = await #expect(throws: (any Error).self) { try await f.run(.provision, "talk") }
        let failure = ActionFailure(action: ActionID(f.d.name, .provision(step: "talk")), error: try #require(error))
        #expect(failure.outputTail == ["***"])
        #expect(!(failure.command ?? "").contains("tok-123456"))
        #expect(!failure.message.contains("tok-123456"))
        #expect(f.progress.details.allSatisfy { !$0.contains("tok-123456") })
    }

    @Test func renderersShowOutputLinesUnderTheirAction() throws {
        let plain = CapturedOutput()
        PlainLineRenderer(output: plain).receive(.output(id, line: "hello"))
        #expect(plain.lines == ["  web/provision[setup]: | hello"])

        let json = CapturedOutput()
        JSONLinesRenderer(output: json).receive(.output(id, line: "hello"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.lines[1].utf8)) as? [String: Any])
        #expect(object["type"] as? String == "output")
        #expect(object["action"] as? String == "web/provision[setup]")
        #expect(object["line"] as? String == "hello")

        let live = CapturedOutput(isTerminal: true, columns: 80)
        let renderer = LiveTerminalRenderer(output: live)
        renderer.receive(.started(id, change: .run, resource: nil, rejoining: false))
        renderer.receive(.output(id, line: "first"))
        renderer.receive(.output(id, line: "second"))
        #expect(live.text.hasSuffix("⋯ web/provision[setup]: | second\u{1B}[0m\n"))
    }
}
