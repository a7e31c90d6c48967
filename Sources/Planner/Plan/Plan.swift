import Model

/// What an action does to the world, in the symbols Terraform users read.
public enum Change: String, Sendable, Hashable, Codable {
    /// `+` an Azure resource is created.
    case create
    /// `~` an Azure resource is updated in place.
    case update
    /// `-` an Azure resource is deleted.
    case delete
    /// `-/+` an Azure resource is deleted and created again.
    case replace
    /// `*` something runs on the builder VM (attach, mount, a provisioning step).
    case run
    /// `<=` Kiln reads or waits (resolve a source, wait for a device or for replication).
    case wait

    public var symbol: String {
        switch self {
        case .create: "+"
        case .update: "~"
        case .delete: "-"
        case .replace: "-/+"
        case .run: "*"
        case .wait: "<="
        }
    }
}

public enum ActionStatus: String, Sendable, Hashable, Codable {
    /// Already true; apply skips it.
    case done
    /// Will run.
    case todo
    /// An Azure operation started by an earlier run and not finished: apply waits for it.
    case inFlight = "in-flight"
    /// Recorded as done, but what it worked on is gone: runs again.
    case stale
    /// Cannot run until a conflict is resolved.
    case blocked
}

/// One node of the plan's DAG.
public struct Action: Sendable, Hashable, Codable, Identifiable {
    public var id: ActionID
    public var change: Change
    public var status: ActionStatus
    /// The Azure resource or local path it acts on, when there is one.
    public var resource: String?
    /// Why it is in the plan, in a user's words.
    public var reason: String
    public var dependsOn: [ActionID]
    /// The operation URL to re-join, for in-flight actions.
    public var operation: String?
    /// The resource this action creates was observed missing by this plan (and no earlier
    /// run's operation for it is in flight): its executor sends the create without reading
    /// it first. Plans are made afresh under the build's lock right before apply runs them,
    /// so nothing else made it in between. Not part of the plan's JSON.
    public var absentWhenPlanned = false

    enum CodingKeys: String, CodingKey {
        case id, change, status, resource, reason, dependsOn, operation
    }

    public init(
        id: ActionID, change: Change, status: ActionStatus, resource: String?, reason: String, dependsOn: [ActionID],
        operation: String? = nil
    ) {
        self.id = id
        self.change = change
        self.status = status
        self.resource = resource
        self.reason = reason
        self.dependsOn = dependsOn
        self.operation = operation
    }

    public var isPending: Bool { status != .done }
}

/// Something the plan will not do on its own: the fix is the user's.
public struct PlanConflict: Sendable, Hashable, Codable, CustomStringConvertible {
    public var build: String
    public var resource: String
    public var message: String
    public var fix: String
    public var description: String { "\(build): \(message) — \(fix)" }
}

/// The DAG of actions for every build of a manifest, in dependency order.
public struct Plan: Sendable, Hashable, Codable {
    public struct BuildSummary: Sendable, Hashable, Codable {
        public var name: String
        public var digest: String
        public var runID: String
        /// Why this run starts on a fresh disk instead of continuing the journal's (see `RunContinuity`).
        public var freshRunReason: String?
        /// The images' security type, architecture and generation, and why (nil when the
        /// plan did not need them: nothing is made).
        public var images: String?
        /// The version `version: auto` chose, and why.
        public var autoVersion: String?
        /// What a `latest` source resolved to.
        public var source: String?
        /// With remote state: who runs the build now (another kiln holds its lease); the
        /// plan has no action for it.
        public var runningElsewhere: String?
    }
    public var builds: [BuildSummary]
    public var actions: [Action]
    public var conflicts: [PlanConflict]

    public init(builds: [BuildSummary], actions: [Action], conflicts: [PlanConflict]) {
        self.builds = builds
        self.actions = actions
        self.conflicts = conflicts
    }

    public var pending: [Action] { actions.filter(\.isPending) }
    /// Nothing to do and nothing in the way.
    public var isEmpty: Bool { pending.isEmpty && conflicts.isEmpty }

    public func action(_ id: ActionID) -> Action? { actions.first { $0.id == id } }

    /// Counts of pending actions by change.
    public var counts: [Change: Int] {
        var out: [Change: Int] = [:]
        for a in pending where a.status != .blocked { out[a.change, default: 0] += 1 }
        return out
    }
}
