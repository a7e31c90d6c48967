import Foundation
import Model
import Planner
import Providers

/// What every executor works with: the desired builds (rendered for this VM), the builder
/// VM, Azure (`AzureCompute`) and the VM's local providers. Built once per apply by the command.
public struct ExecutorEnvironment: Sendable {
    public var desired: [String: DesiredBuild]
    public var vm: BuilderVM
    public var azure: any AzureCompute
    public var disks: BuilderDisks
    public var local: LocalProviders
    /// The process environment, for `{{env "…"}}` in commands.
    public var processEnvironment: [String: String]
    /// Work that several builds of this apply need done once (a shared gallery's creation).
    public let once = OncePerApply()

    public init(
        desired: [DesiredBuild], vm: BuilderVM, azure: any AzureCompute, disks: BuilderDisks,
        local: LocalProviders, processEnvironment: [String: String]
    ) {
        self.desired = Dictionary(uniqueKeysWithValues: desired.map { ($0.name, $0) })
        self.vm = vm
        self.azure = azure
        self.disks = disks
        self.local = local
        self.processEnvironment = processEnvironment
    }

    /// The desired build an action belongs to (a missing one is a bug: the plan came from these builds).
    public func build(of action: Action) throws -> DesiredBuild {
        guard let d = desired[action.id.build] else {
            throw ExecutorError(
                action: action.id, message: "no desired build named \(action.id.build); this is a bug in kiln")
        }
        return d
    }

    /// The build's mount path on this VM (`mount.path` rendered; stable across runs).
    public func mountPath(_ d: DesiredBuild) -> String { d.mountPath }

    /// Renders a host or chroot command of the manifest: every substituted value shell-quoted.
    public func renderCommand(_ text: String, _ d: DesiredBuild, device: String?, mountPath: String?) throws -> String {
        var variables = ["BuildName": d.name]
        if let device { variables["Device"] = device }
        if let mountPath { variables["MountPath"] = mountPath }
        let values = TemplateValues(variables: variables, vm: vm.templateValues, environment: processEnvironment)
        return try Template(parsing: text, allowed: Set(variables.keys)).render(values, mode: .shell)
    }
}

/// Runs a piece of work once for all the actions of an apply that ask for it at the same
/// time: the first caller does it, the others wait for its result. Eight builds publishing
/// into one new gallery make one PUT, instead of one PUT and seven pollers of a resource
/// that is still `Creating` (a resource carries no `Retry-After`, so they would poll it
/// every 10 s). Nothing is kept once the work ends: a later caller does it again, which for
/// Kiln's idempotent executors costs a read.
///
/// When the first caller fails, each waiting caller does the work itself, so every action
/// reports (and journals) its own outcome.
public struct OncePerApply: Sendable {
    private let calls = SingleFlight<String, String>(policy: .valueWhileRunning)

    public init() {}

    /// The result of `body` for `key`, from this caller's run or from the run under way.
    public func run(_ key: String, _ body: @Sendable () async throws -> String) async throws -> String {
        try await calls.run(key, body)
    }
}

/// An executor's own failure, naming the action.
public struct ExecutorError: Error, Sendable, CustomStringConvertible {
    public var action: ActionID
    public var message: String
    public init(action: ActionID, message: String) {
        self.action = action
        self.message = message
    }
    public var description: String { "\(action): \(message)" }
}
