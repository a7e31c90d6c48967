import Foundation
import Model
import Planner
import TestSupport
import Testing

@Suite struct Rendering {
    @Test func textShowsSymbolsReasonsAndASummary() throws {
        let d = try desiredBuild()
        let text = PlanRenderer.text(Planner.plan([d], observed: [:]))
        #expect(
            text.hasPrefix(
                "Kiln will perform the following actions:\n\n  # qs (digest \(d.digest.short), run \(d.runID))\n"))
        #expect(text.contains("  +   create-disk[os]"))
        #expect(text.contains("  *   provision[setup]"))
        #expect(text.contains("  <=  replicate[westus2]"))
        #expect(text.contains("  -   delete-disk[os]"))
        #expect(text.contains("  +   gallery-definition"))
        #expect(
            text.contains("        image definition def missing (created, with gallery g if that is missing too)\n"))
        #expect(text.hasSuffix("Plan: 4 to add, 0 to change, 1 to destroy, 12 to run, 3 to wait for.\n"))
    }

    @Test func jsonCarriesEveryActionWithItsStatus() throws {
        let d = try desiredBuild()
        let json = try PlanRenderer.json(Planner.plan([d], observed: ["qs": converged(d)]))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["empty"] as? Bool == true)
        let plan = try #require(object["plan"] as? [String: Any])
        let actions = try #require(plan["actions"] as? [[String: Any]])
        #expect(actions.count == 20)
        #expect(actions.allSatisfy { $0["status"] as? String == "done" })
        let decoded = try JSONDecoder().decode(PlanEnvelope.self, from: Data(json.utf8))
        #expect(decoded.plan == Planner.plan([d], observed: ["qs": converged(d)]))
    }

    @Test func dotHasAClusterPerBuildAndAnEdgePerDependency() throws {
        let a = try desiredBuild(name: "web")
        let b = try desiredBuild(name: "worker")
        let plan = Planner.plan([a, b], observed: [:])
        let dot = PlanRenderer.dot(plan)
        #expect(dot.hasPrefix("digraph kiln {"))
        #expect(dot.contains("subgraph \"cluster_1\" {\n    label = \"worker\";"))
        #expect(dot.contains("\"web/create-disk[os]\" -> \"web/attach[os]\";"))
        let edges = dot.split(separator: "\n").filter { $0.contains(" -> ") }.count
        #expect(edges == plan.actions.reduce(0) { $0 + $1.dependsOn.count })
    }
}

struct PlanEnvelope: Decodable { var plan: Plan }

@Suite struct DriftDetection {
    @Test func noDriftWhenConverged() throws {
        let d = try desiredBuild()
        #expect(DriftDetector.drift([d], observed: ["qs": converged(d)]).isEmpty)
    }

    /// The default outputs with an end of life.
    static let withEndOfLife = defaultOutputs(galleryExtra: "endOfLifeDate: 2030-01-01")

    @Test func eachFieldIsReported() throws {
        let d = try desiredBuild(
            outputs: Self.withEndOfLife)
        var o = converged(d)
        o.image = nil
        o.galleryVersion?.regions = [
            .init(name: "eastus", replicas: 3, storageAccountType: "Premium_LRS"),
            .init(name: "centralus", replicas: 1, storageAccountType: "Standard_LRS")
        ]
        o.galleryVersion?.excludeFromLatest = true
        let items = DriftDetector.drift([d], observed: ["qs": o])
        #expect(
            items.map(\.field) == [
                "image", "gallery.targetRegions[eastus].replicas", "gallery.targetRegions[eastus].storageAccountType",
                "gallery.targetRegions[westus2]", "gallery.targetRegions[centralus]", "gallery.excludeFromLatest",
                "gallery.endOfLifeDate"
            ])
        #expect(items.filter(\.repairableInPlace).count == 6)
        var deleted = converged(d)
        deleted.galleryVersion = nil
        #expect(
            DriftDetector.drift([d], observed: ["qs": deleted]).map(\.description) == [
                "qs: gallery.version: expected 1.0.0, found deleted or never published"
            ])
    }

    /// Azure answers a date-time in its own spelling (`2030-01-01T00:00:00+00:00` for the
    /// manifest's `2030-01-01`): the same instant is no drift; another instant is.
    @Test func anEndOfLifeDateIsComparedAsAnInstant() throws {
        let d = try desiredBuild(
            outputs: Self.withEndOfLife)
        var o = converged(d)
        o.galleryVersion?.endOfLifeDate = AzureDateTime(parsing: "2030-01-01T00:00:00+00:00")
        #expect(DriftDetector.drift([d], observed: ["qs": o]).isEmpty)
        o.galleryVersion?.endOfLifeDate = AzureDateTime(parsing: "2030-01-01T01:00:00+01:00")
        #expect(DriftDetector.drift([d], observed: ["qs": o]).isEmpty)
        o.galleryVersion?.endOfLifeDate = AzureDateTime(parsing: "2030-01-02T00:00:00Z")
        #expect(
            DriftDetector.drift([d], observed: ["qs": o]).map(\.description) == [
                "qs: gallery.endOfLifeDate: expected 2030-01-01T00:00:00Z, found 2030-01-02T00:00:00Z"
            ])
    }
}
