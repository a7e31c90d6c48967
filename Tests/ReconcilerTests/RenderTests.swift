import Foundation
import Model
import Planner
import Providers
import TestSupport
import Testing

@testable import Reconciler

@Suite struct RenderTests {
    static let setup = id("web/provision[setup]")

    @Test func plainLinesShowOneLinePerStartAndEnd() {
        let out = CapturedOutput()
        let r = PlainLineRenderer(output: out)
        r.receive(.started(Self.setup, change: .run, resource: nil, rejoining: false))
        r.receive(.done(Self.setup, elapsed: .milliseconds(3400)))
        r.receive(.started(id("web/create-disk[os]"), change: .create, resource: "d", rejoining: false))
        r.receive(.started(id("web/gallery-version"), change: .create, resource: "v", rejoining: true))
        r.receive(
            .failed(
                ActionFailure(
                    action: id("web/provision[motd]"), message: "command `sh -c x` exited with status 2",
                    command: "sh -c x",
                    outputTail: ["x: not found"]), elapsed: .seconds(65)))
        r.receive(.skipped(id("web/pre-unmount"), upstream: id("web/provision[motd]")))
        r.receive(.interrupted(id("web/detach[os]"), elapsed: .seconds(1)))
        #expect(
            out.lines == [
                "* web/provision[setup]: running…",
                "✓ web/provision[setup]: done after 3s",
                "+ web/create-disk[os]: creating…",
                "+ web/gallery-version: re-joining the operation started by the last run…",
                "✗ web/provision[motd]: failed after 1m5s: command `sh -c x` exited with status 2",
                "    command: sh -c x",
                "    last output:",
                "    | x: not found",
                "· web/pre-unmount: not run, because web/provision[motd] failed",
                "! web/detach[os]: interrupted after 1s; the next kiln apply resumes it"
            ])
    }

    @Test func plainLinesPrintProgressOncePerTenthAndTheSummaryWithOutputs() {
        let out = CapturedOutput()
        let r = PlainLineRenderer(output: out)
        let rep = id("web/replicate[westus2]")
        for p in [10.0, 12, 15, 20, 100] { r.receive(.progress(rep, percent: p, detail: "replicating to westus2")) }
        r.receive(
            .summary(
                ApplySummary(
                    outcome: .complete, done: 4, alreadyDone: 2, failures: [], skipped: 0, blocked: 0, interrupted: 0,
                    notStarted: 0,
                    outputs: [PublishedOutputs(build: "web", imageID: "/i", galleryImageVersionID: "/v")])))
        #expect(
            out.lines == [
                "  web/replicate[westus2]: 10% replicating to westus2",
                "  web/replicate[westus2]: 20% replicating to westus2",
                "  web/replicate[westus2]: 100% replicating to westus2",
                "Apply complete: 4 actions done, 2 already done.",
                "Outputs:",
                "  web image: /i",
                "  web gallery version: /v"
            ])
    }

    @Test func jsonLinesParseOneByOneWithTheVersionFirstAndTheSummaryLast() async throws {
        let out = CapturedOutput()
        let executor = FakeExecutor([
            "web/replicate[eastus]": { _, context in
                context.reportProgress(percent: 40, detail: "eastus 40%")
                return .none
            },
            "web/provision[bad]": { _, _ in
                throw CommandRunnerError.failed(command: "sh -c false", termination: .exited(1), tail: ["oops"])
            }
        ])
        let p = plan([
            act("web", .replicate, "eastus", change: .wait),
            act("web", .provision, "bad"),
            act("web", .preUnmount, after: [id("web/provision[bad]")])
        ])
        _ = await scheduler(executor, store: InMemoryJournalStore(), events: JSONLinesRenderer(output: out)).run(p)

        let objects = try out.lines.map { line in
            try #require(
                try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
        }
        let types = objects.map { $0["type"] as? String ?? "?" }
        #expect(types.first == "version")
        #expect(objects.first?["ui_version"] as? String == "1.0")
        #expect(types.last == "summary")
        #expect(Set(types) == ["version", "start", "progress", "done", "failed", "skipped", "summary"])

        let progress = try #require(objects.first { $0["type"] as? String == "progress" })
        #expect(progress["progress"] as? Double == 40)
        #expect(progress["action"] as? String == "web/replicate[eastus]")
        #expect(progress["build"] as? String == "web")
        let done = try #require(objects.first { $0["type"] as? String == "done" })
        #expect(done["elapsed_seconds"] is Double)
        let failed = try #require(objects.first { $0["type"] as? String == "failed" })
        #expect(failed["command"] as? String == "sh -c false")
        #expect(failed["output"] as? [String] == ["oops"])
        #expect((failed["message"] as? String)?.contains("web/provision[bad]") == true)
        let skipped = try #require(objects.first { $0["type"] as? String == "skipped" })
        #expect(skipped["upstream"] as? String == "web/provision[bad]")
        let summary = try #require(objects.last?["summary"] as? [String: Any])
        #expect(summary["outcome"] as? String == "failed")
        #expect(summary["done"] as? Int == 1)
        #expect(summary["skipped"] as? Int == 1)
        #expect((summary["failures"] as? [[String: Any]])?.first?["action"] as? String == "web/provision[bad]")
    }

    @Test func theLiveViewRedrawsRunningActionsAndFallsBackToPlainLinesOffATerminal() {
        #expect(ApplyRenderer.make(.text, output: CapturedOutput(isTerminal: false)) is PlainLineRenderer)
        #expect(
            ApplyRenderer.make(.text, output: CapturedOutput(isTerminal: true), environment: ["TERM": "dumb"])
                is PlainLineRenderer)
        #expect(ApplyRenderer.make(.jsonLines, output: CapturedOutput(isTerminal: true)) is JSONLinesRenderer)

        let out = CapturedOutput(isTerminal: true, columns: 40)
        let r = ApplyRenderer.make(.text, output: out, environment: ["TERM": "xterm"])
        #expect(r is LiveTerminalRenderer)
        let rep = id("web/replicate[westus2]")
        r.receive(.started(rep, change: .wait, resource: nil, rejoining: false))
        r.receive(.progress(rep, percent: 40, detail: "eastus 100%, westus2 40%, and a long detail that must be cut"))
        r.receive(.done(rep, elapsed: .seconds(90)))
        let text = out.text
        #expect(text.contains("<= web/replicate[westus2]: waiting…\n"))
        #expect(text.contains("\u{1B}[1A\u{1B}[2K"))
        #expect(text.contains("40% eastus"))
        #expect(text.contains("done after 1m30s"))
        // No drawn line is wider than the terminal.
        for line in text.split(separator: "\n") where line.contains("⋯") {
            let visible = line.replacingOccurrences(of: "\u{1B}[2m", with: "").replacingOccurrences(
                of: "\u{1B}[0m", with: ""
            )
            .replacingOccurrences(of: "\u{1B}[1A\u{1B}[2K", with: "").replacingOccurrences(of: "\r", with: "")
            #expect(visible.count <= 39, "\(visible)")
        }
    }
}

@Suite struct ArtifactTests {
    @Test func theArtifactListsThePublishedIdsAndIsWrittenWithMode0644() async throws {
        let imageID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/images/web"
        let versionID =
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/def/versions/1.0.0"
        let executor = FakeExecutor([
            "web/image": { _, _ in ActionOutcome(imageID: try ResourceID(parsing: imageID)) }
        ])
        let p = plan([
            act("web", .image, change: .create, resource: imageID),
            // Done in an earlier run, its journal entry lost: the plan's resource stands in.
            act("web", .galleryVersion, status: .done, change: .create, resource: versionID),
            act("api", .image, status: .done, change: .create, resource: "/api-image")
        ])
        let result = await scheduler(executor, store: InMemoryJournalStore()).run(p)
        #expect(
            result.outputs == [
                PublishedOutputs(build: "web", imageID: imageID, galleryImageVersionID: versionID),
                PublishedOutputs(build: "api", imageID: "/api-image")
            ])

        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.url.appendingPathComponent("artifact.json").path
        try result.writeArtifact(to: path)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o644)
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        #expect(document["format_version"] as? String == "1")
        #expect(document["outcome"] as? String == "complete")
        let builds = try #require(document["builds"] as? [[String: Any]])
        #expect(builds.first?["build"] as? String == "web")
        #expect(builds.first?["image_id"] as? String == imageID)
        #expect(builds.first?["gallery_image_version_id"] as? String == versionID)
        #expect(builds.last?["gallery_image_version_id"] == nil)
    }

    static let journaledImage = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/images/from-journal"

    @Test func doneResultsFromTheJournalProvideOutputs() async throws {
        let store = InMemoryJournalStore(journals: [
            BuildJournal(
                build: "web",
                entries: [
                    JournalEntry(actionID: "web/image", phase: .done(result: ["imageId": Self.journaledImage]))
                ])
        ])
        let result = await scheduler(FakeExecutor(), store: store).run(
            plan([act("web", .image, status: .done, change: .create, resource: "/from-plan")]))
        #expect(result.outputs == [PublishedOutputs(build: "web", imageID: Self.journaledImage)])
        #expect(result.succeeded)
        #expect(result.summary.message == "Apply complete: 0 actions done, 1 already done.")
    }
}

@Suite struct EventGateTests {
    @Test func nothingFollowsAnActionsFinalEventOrTheSummary() {
        let sink = CollectingEventSink()
        let gate = EventGate(sink: sink)
        let a = id("web/provision[a]")
        gate.emit(.started(a, change: .run, resource: nil, rejoining: false))
        gate.emit(.interrupted(a, elapsed: .seconds(1)))
        // A cancelled executor reporting late:
        gate.emit(.progress(a, percent: 10, detail: "late"))
        gate.emit(.done(a, elapsed: .seconds(2)))
        let summary = ApplySummary(
            outcome: .interrupted, done: 0, alreadyDone: 0, failures: [], skipped: 0, blocked: 0, interrupted: 1,
            notStarted: 0, outputs: [])
        gate.emit(.summary(summary))
        gate.emit(.started(id("web/mount"), change: .run, resource: nil, rejoining: false))
        #expect(
            sink.events == [
                .started(a, change: .run, resource: nil, rejoining: false), .interrupted(a, elapsed: .seconds(1)),
                .summary(summary)
            ])
    }
}
