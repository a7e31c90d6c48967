/// A directed graph of nodes and their dependencies, as the planner builds it and the
/// scheduler walks it: each node lists the nodes it depends on; the graph answers who
/// depends on a node (its dependents), everything after a node (its descendants) and
/// everything before it (its ancestors), and whether the graph has a cycle.
///
/// A dependency need not be a node of the graph (a plan may name an action it does not
/// contain): it counts among the ancestors of the nodes that name it, and has no
/// dependencies of its own. The walks stop at a cycle instead of looping; `cycle()` finds it.
public struct DAG<Node: Hashable & Sendable>: Sendable {
    /// The nodes, in the order given.
    public let nodes: [Node]
    private let dependencies: [Node: [Node]]
    private let dependents: [Node: [Node]]
    private let position: [Node: Int]

    /// `nodes` with the dependencies of each, in the order given. A node given twice keeps
    /// its first dependencies.
    public init(_ nodes: [(node: Node, dependsOn: [Node])]) {
        var order: [Node] = []
        var dependencies: [Node: [Node]] = [:]
        var dependents: [Node: [Node]] = [:]
        var position: [Node: Int] = [:]
        for (node, deps) in nodes where dependencies[node] == nil {
            position[node] = order.count
            order.append(node)
            dependencies[node] = deps
            for dep in deps { dependents[dep, default: []].append(node) }
        }
        self.nodes = order
        self.dependencies = dependencies
        self.dependents = dependents
        self.position = position
    }

    public func contains(_ node: Node) -> Bool { position[node] != nil }

    /// The nodes `node` depends on directly.
    public func dependencies(of node: Node) -> [Node] { dependencies[node] ?? [] }

    /// The nodes that depend on `node` directly, in graph order.
    public func dependents(of node: Node) -> [Node] { dependents[node] ?? [] }

    /// Every node that depends on `node`, directly or through others, in graph order.
    public func descendants(of node: Node) -> [Node] {
        inGraphOrder(reach(from: node, along: dependents))
    }

    /// Every node `node` depends on, directly or through others (dependencies outside the
    /// graph included).
    public func ancestors(of node: Node) -> Set<Node> {
        reach(from: node, along: dependencies)
    }

    /// The ancestors of every node, computed once for all of them.
    public func allAncestors() -> [Node: Set<Node>] {
        var memo: [Node: Set<Node>] = [:]
        var visiting: Set<Node> = []
        func visit(_ node: Node) -> Set<Node> {
            if let known = memo[node] { return known }
            guard visiting.insert(node).inserted else { return [] }  // a cycle: `cycle()` reports it
            var all: Set<Node> = []
            for dep in dependencies[node] ?? [] {
                all.insert(dep)
                all.formUnion(visit(dep))
            }
            visiting.remove(node)
            memo[node] = all
            return all
        }
        for node in nodes { _ = visit(node) }
        return memo
    }

    /// For every node, `value(node)` plus the largest such sum along the chains of nodes that
    /// depend on it (the longest path to the end of the graph, weighted by `value`).
    public func longestChainAfter(_ value: (Node) -> Double) -> [Node: Double] {
        var memo: [Node: Double] = [:]
        var visiting: Set<Node> = []
        func visit(_ node: Node) -> Double {
            if let known = memo[node] { return known }
            guard visiting.insert(node).inserted else { return 0 }  // a cycle: `cycle()` reports it
            let after = (dependents[node] ?? []).map(visit).max() ?? 0
            visiting.remove(node)
            let total = value(node) + after
            memo[node] = total
            return total
        }
        for node in nodes { _ = visit(node) }
        return memo
    }

    /// A cycle of the graph, as the nodes along it (each depends on the next, and the last
    /// on the first); nil when the graph is acyclic.
    public func cycle() -> [Node]? {
        var finished: Set<Node> = []
        // The nodes being visited, from the first to the current one.
        var path: [Node] = []
        func visit(_ node: Node) -> [Node]? {
            if finished.contains(node) { return nil }
            if let start = path.firstIndex(of: node) { return Array(path[start...]) }
            path.append(node)
            for dep in dependencies[node] ?? [] {
                if let found = visit(dep) { return found }
            }
            path.removeLast()
            finished.insert(node)
            return nil
        }
        for node in nodes {
            if let found = visit(node) { return found }
        }
        return nil
    }

    private func reach(from node: Node, along edges: [Node: [Node]]) -> Set<Node> {
        var seen: Set<Node> = []
        var stack = edges[node] ?? []
        while let next = stack.popLast() {
            guard seen.insert(next).inserted else { continue }
            stack += edges[next] ?? []
        }
        return seen
    }

    private func inGraphOrder(_ set: Set<Node>) -> [Node] {
        set.sorted { (position[$0] ?? Int.max) < (position[$1] ?? Int.max) }
    }
}

extension Plan {
    /// The plan's actions and their dependencies as a graph, in plan order.
    public var dag: DAG<ActionID> {
        DAG(actions.map { ($0.id, $0.dependsOn) })
    }
}
