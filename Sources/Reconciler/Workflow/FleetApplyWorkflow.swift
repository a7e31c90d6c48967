import Foundation
import Model
import Planner
import Providers

/// `kiln apply` with remote state (`state: {azureBlob: …}`): one member of a fleet of builder
/// VMs that apply the same manifest. Nothing coordinates them but the builds' leases:
///
/// * each VM takes every build whose lease it can acquire and that is not finished, up to
///   `buildsAtOnce` at a time, and runs it as `kiln apply` runs one build (its own plan, its
///   own attach slots, the journal in the blob);
/// * a build whose lease another VM holds is waited for: when that VM finishes it, its
///   outcome is in the journal; when that VM dies, its lease expires and a waiting VM takes
///   the build over (the planner adopts the disks the dead VM left attached);
/// * a VM that loses a build's lease starts nothing more for it (its journal writes are
///   refused) and may take it again only by acquiring the lease anew;
/// * the VM ends when every build has an outcome recorded since it started, by whichever VM.
///
/// A build whose last outcome was recorded before this VM started is applied again (its plan
/// is empty when nothing changed), as a re-run of `kiln apply` on one VM would.
public struct FleetApplyWorkflow: Sendable {
    public struct Options: Sendable {
        public var apply: ApplyWorkflow.Options
        /// How many builds this VM runs at once.
        public var buildsAtOnce: Int
        /// How often builds held elsewhere are looked at again.
        public var poll: Duration

        public init(apply: ApplyWorkflow.Options, buildsAtOnce: Int = 2, poll: Duration = .seconds(5)) {
            self.apply = apply
            self.buildsAtOnce = max(1, buildsAtOnce)
            self.poll = poll
        }
    }

    public var manifest: Manifest
    public var options: Options
    public var site: any WorkflowSite
    public var prompt: any WorkflowPrompt
    public var events: any ApplyEventSink
    public var interrupts: InterruptController

    public init(
        manifest: Manifest, options: Options, site: any WorkflowSite, prompt: any WorkflowPrompt,
        events: any ApplyEventSink, interrupts: InterruptController = InterruptController()
    ) {
        self.manifest = manifest
        self.options = options
        self.site = site
        self.prompt = prompt
        self.events = events
        self.interrupts = interrupts
    }

    public func run() async throws -> FleetReport {
        try await withSignals(driving: interrupts, if: options.apply.handlesSignals) {
            try await site.withWorld { world in try await share(in: world) }
        }
    }

    /// Takes, runs and waits for builds until every one is finished (or an interrupt).
    func share(in world: any WorkflowWorld) async throws -> FleetReport {
        let started = Date()
        var finished: [String: FleetReport.Build] = [:]
        var running: Set<String> = []
        var waitingFor: [String: String] = [:]
        let names = manifest.builds.map(\.name)
        return try await withThrowingTaskGroup(of: FleetReport.Build?.self) { group in
            var sleeping = false
            while true {
                if interrupts.level == .none {
                    for build in manifest.builds
                    where finished[build.name] == nil && !running.contains(build.name)
                        && running.count < options.buildsAtOnce
                    {
                        switch try await take(build, in: world, since: started) {
                        case .finished(let report):
                            finished[build.name] = report
                        case .heldBy(let holder):
                            if waitingFor[build.name] != holder {
                                waitingFor[build.name] = holder
                                prompt.warn("build \(build.name) is running on \(holder); waiting for it")
                            }
                        case .taken(let locks):
                            running.insert(build.name)
                            group.addTask { await runBuild(build, locks: locks, in: world) }
                        }
                    }
                }
                let done = running.isEmpty && (finished.count == names.count || interrupts.level != .none)
                if done { break }
                if !sleeping {
                    let poll = options.poll
                    group.addTask {
                        try? await Task.sleep(for: poll)
                        return nil
                    }
                    sleeping = true
                }
                guard let next = try await group.next() else { break }
                guard let report = next else {
                    sleeping = false
                    continue
                }
                running.remove(report.name)
                // A lost lease leaves the build to whoever takes it next (this VM included).
                if report.result != .leaseLost { finished[report.name] = report }
            }
            group.cancelAll()
            return FleetReport(
                builds: names.map {
                    finished[$0] ?? FleetReport.Build(name: $0, result: .interrupted, vm: nil, message: nil)
                },
                vm: nil)
        }
    }

    private enum Taking {
        case finished(FleetReport.Build)
        case heldBy(String)
        case taken([any JournalLockHandle])
    }

    /// The build's outcome when one was recorded since `started`; else its locks when this
    /// VM can take them; else who holds it.
    private func take(_ build: Build, in world: any WorkflowWorld, since started: Date) async throws -> Taking {
        if let outcome = try await world.journals.load(build: build.name).header.outcome, outcome.at >= started {
            return .finished(FleetReport.Build(name: build.name, outcome: outcome))
        }
        do {
            let locks = try await ApplyRun.lock(
                manifest.only(build), journals: world.journals, purpose: "kiln apply",
                mountLocks: site.mountLockDirectory)
            // Finished by another VM between the look and the lease: nothing to take.
            if let outcome = try await world.journals.load(build: build.name).header.outcome, outcome.at >= started {
                for lock in locks { await lock.releaseNow() }
                return .finished(FleetReport.Build(name: build.name, outcome: outcome))
            }
            return .taken(locks)
        } catch JournalError.leaseHeld(_, _, let holder) {
            return .heldBy(holder.map { $0.vm.map { "VM \($0)" } ?? "\($0)" } ?? "another VM")
        }
    }

    /// Runs one build as `kiln apply` would, then releases its locks. Its outcome is in its
    /// journal (recorded here when the run itself could not record it).
    private func runBuild(_ build: Build, locks: [any JournalLockHandle], in world: any WorkflowWorld) async
        -> FleetReport.Build
    {
        let single = ApplyWorkflow(
            manifest: manifest.only(build), options: options.apply, site: site, prompt: prompt, events: events,
            interrupts: interrupts)
        var report: FleetReport.Build
        do {
            switch try await single.apply(in: world) {
            case .ran(let result, _):
                let failure = result.failures.first.map { "\($0.action): \($0.message)" }
                report = FleetReport.Build(
                    name: build.name,
                    result: result.succeeded ? .succeeded : result.interrupted ? .interrupted : .failed,
                    vm: nil, message: failure)
            case .conflicts:
                report = FleetReport.Build(
                    name: build.name, result: .failed, vm: nil, message: "the plan has conflicts (shown above)")
                await recordFailure(report, in: world)
            case .notApproved:
                report = FleetReport.Build(name: build.name, result: .failed, vm: nil, message: "not approved")
            case .stalePlan(let why):
                report = FleetReport.Build(name: build.name, result: .failed, vm: nil, message: why)
            }
        } catch let error as JournalError {
            if case .leaseLost = error {
                report = FleetReport.Build(name: build.name, result: .leaseLost, vm: nil, message: error.description)
            } else {
                report = FleetReport.Build(name: build.name, result: .failed, vm: nil, message: error.description)
            }
        } catch {
            report = FleetReport.Build(name: build.name, result: .failed, vm: nil, message: "\(error)")
            await recordFailure(report, in: world)
        }
        for lock in locks { await lock.releaseNow() }
        return report
    }

    /// Records a failure that ended the build before its run recorded anything, so the other
    /// VMs see it finished instead of taking it again.
    private func recordFailure(_ report: FleetReport.Build, in world: any WorkflowWorld) async {
        guard var journal = try? await world.journals.load(build: report.name) else { return }
        journal.header.outcome = BuildOutcome(
            result: .failed, digest: journal.header.digest ?? "", vm: nil, message: report.message)
        try? await world.journals.replace(journal)
    }
}

/// How a fleet member's `kiln apply` ended: every build's result, by whichever VM.
public struct FleetReport: Sendable, Equatable {
    public struct Build: Sendable, Equatable {
        public enum Result: String, Sendable {
            case succeeded, failed, interrupted
            /// This VM lost the build's lease; another VM (or this one, later) finishes it.
            case leaseLost = "lease-lost"
        }
        public var name: String
        public var result: Result
        /// The VM that ran it, when another VM did.
        public var vm: String?
        public var message: String?

        public init(name: String, result: Result, vm: String?, message: String?) {
            self.name = name
            self.result = result
            self.vm = vm
            self.message = message
        }

        init(name: String, outcome: BuildOutcome) {
            self.init(
                name: name, result: outcome.result == .succeeded ? .succeeded : .failed, vm: outcome.vm,
                message: outcome.message)
        }
    }

    public var builds: [Build]
    public var vm: String?

    public var succeeded: Bool { builds.allSatisfy { $0.result == .succeeded } }

    /// The per-build report a person reads at the end.
    public var text: String {
        let width = builds.map(\.name.count).max() ?? 0
        var lines = [
            "Fleet: \(builds.filter { $0.result == .succeeded }.count) of \(builds.count) builds succeeded"
        ]
        for b in builds {
            var line = "  " + b.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + b.result.rawValue
            line += b.vm.map { " (by VM \($0))" } ?? " (here)"
            if let message = b.message, b.result != .succeeded { line += ": " + message }
            lines.append(line)
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension Manifest {
    /// The manifest with only `build`.
    func only(_ build: Build) -> Manifest {
        Manifest(file: file, azure: azure, state: state, builds: [build])
    }
}
