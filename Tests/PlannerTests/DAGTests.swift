import Model
import Planner
import Testing

/// The graph planner and scheduler share: dependents, descendants, ancestors, the longest
/// chain and the cycle check.
@Suite struct DAGTests {
    /// a → b → d, a → c → d, e alone (arrows point from a dependency to its dependent).
    let diamond = DAG<String>([("a", []), ("b", ["a"]), ("c", ["a"]), ("d", ["b", "c"]), ("e", [])])

    @Test func dependentsAndDescendantsFollowTheGraphInItsOrder() {
        #expect(diamond.dependents(of: "a") == ["b", "c"])
        #expect(diamond.descendants(of: "a") == ["b", "c", "d"])
        #expect(diamond.descendants(of: "d").isEmpty)
        #expect(diamond.dependencies(of: "d") == ["b", "c"])
        #expect(diamond.nodes == ["a", "b", "c", "d", "e"])
    }

    @Test func ancestorsIncludeDependenciesTheGraphDoesNotContain() {
        #expect(diamond.ancestors(of: "d") == ["a", "b", "c"])
        #expect(diamond.allAncestors()["d"] == ["a", "b", "c"])
        #expect(diamond.allAncestors()["e"] == [])
        let dangling = DAG<String>([("x", ["missing"]), ("y", ["x"])])
        #expect(dangling.allAncestors()["y"] == ["x", "missing"])
        #expect(!dangling.contains("missing"))
        #expect(dangling.cycle() == nil)
    }

    @Test func theLongestChainAfterANodeCountsItsHeaviestPath() {
        let weight: [String: Double] = ["a": 1, "b": 5, "c": 2, "d": 10, "e": 3]
        let chain = diamond.longestChainAfter { weight[$0]! }
        #expect(chain["a"] == 16)
        #expect(chain["c"] == 12)
        #expect(chain["e"] == 3)
    }

    @Test func anAcyclicGraphHasNoCycleAndACycleIsNamed() {
        #expect(diamond.cycle() == nil)
        let looped = DAG<String>([("a", ["c"]), ("b", ["a"]), ("c", ["b"]), ("d", ["a"])])
        let cycle = looped.cycle()
        #expect(cycle.map(Set.init) == ["a", "b", "c"])
        // Each node of the cycle depends on the next, and the last on the first.
        if let cycle {
            for (i, node) in cycle.enumerated() {
                #expect(looped.dependencies(of: node).contains(cycle[(i + 1) % cycle.count]))
            }
        }
        #expect(DAG<String>([("self", ["self"])]).cycle() == ["self"])
        // The walks stop at a cycle instead of looping.
        #expect(Set(looped.descendants(of: "a")) == ["a", "b", "c", "d"])
    }

    @Test func everyPlanThePlannerMakesIsAcyclic() throws {
        let d = try desiredBuild()
        let plan = Planner.plan([d], observed: [:])
        #expect(!plan.actions.isEmpty)
        #expect(plan.dag.cycle() == nil)
        let destroy = DestroyPlanner.plan([d], observed: [d.name: converged(d)], options: .init(outputs: true))
        #expect(destroy.plan.dag.cycle() == nil)
    }
}
