import Foundation
import Planner
import Reconciler
import Testing

@Suite struct SavedPlans {
    func plan(_ status: ActionStatus) -> Plan {
        let id = ActionID("web", .createDisk(.os))
        return Plan(
            builds: [],
            actions: [Action(id: id, change: .create, status: status, resource: "d", reason: "r", dependsOn: [])],
            conflicts: [])
    }

    @Test func aSavedPlanRoundTripsAndMatchesTheSamePlan() throws {
        let saved = SavedPlan(manifest: "m.yaml", plan: plan(.todo))
        let back = try JSONDecoder().decode(SavedPlan.self, from: saved.encoded())
        #expect(back == saved)
        #expect(back.staleness(against: plan(.todo)) == nil)
    }

    @Test func aPlanTheWorldMovedPastIsStaleAndSaysWhy() {
        let saved = SavedPlan(manifest: "m.yaml", plan: plan(.todo))
        #expect(saved.staleness(against: plan(.done)) == "web/create-disk[os] was todo, is done")
    }

    @Test func aManifestIsNotASavedPlan() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("not-a-plan-\(UUID().uuidString).yaml")
        try Data("builds: []\n".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(SavedPlan.read(file.path) == nil)
    }
}
