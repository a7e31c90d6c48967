import Foundation
import Model

/// The pure diff from desired to observed state: no I/O, no clock, no randomness. Given the
/// same inputs it returns the same plan, so tests assert on the DAG directly.
public enum Planner {
    /// Plans every build; builds are independent sub-DAGs that apply runs side by side.
    public static func plan(_ desired: [DesiredBuild], observed: [String: ObservedBuild]) -> Plan {
        var actions: [Action] = []
        var conflicts: [PlanConflict] = []
        for d in desired where d.runningElsewhere == nil {
            let b = BuildPlanner(desired: d, observed: observed[d.name] ?? ObservedBuild())
            let (a, c) = b.plan()
            actions += a
            conflicts += c
        }
        return Plan(
            builds: desired.map {
                .init(
                    name: $0.name, digest: $0.digest.value, runID: $0.runID, freshRunReason: $0.freshRunReason,
                    images: $0.imageTraits.map {
                        "\($0.securityType.rawValue) (\($0.securityReason)), \($0.architecture)\($0.emulated ? " (provisioned under qemu-user-static emulation)" : ""), generation \($0.hyperVGeneration.rawValue)"
                    },
                    autoVersion: $0.gallery.flatMap { g in g.choiceReason.map { "\(g.version) (\($0))" } },
                    source: $0.sourceNote, runningElsewhere: $0.runningElsewhere)
            },
            actions: actions, conflicts: conflicts)
    }
}

/// Plans one build. The DAG's shape is fixed by the build (its disks, steps and outputs);
/// each node's status follows from the evidence:
///
/// * local steps (pre-mount, copy-files, provision, pre-unmount, restore-files) are done when
///   the journal says so for this run and the disk they worked on still exists, or when
///   anything after them is observed;
/// * conditions (attach, device, mount, post-mount, chroot-mounts) are done when they hold
///   now, or when no local step after them is left to run — so a reboot re-mounts only if
///   provisioning still has work;
/// * disks are done when they exist, or when nothing still needs them (the outputs are made
///   straight from them);
/// * teardowns (unmount, detach) are done once the condition is gone after the work that
///   needed it;
/// * outputs are done when they exist with this build's digest; the gallery and image
///   definition are planned (and run) only while the gallery version is still to publish.
struct BuildPlanner {
    let d: DesiredBuild
    let o: ObservedBuild

    init(desired: DesiredBuild, observed: ObservedBuild) {
        d = desired
        o = observed
    }

    struct Node {
        var id: ActionID
        var change: Change
        var resource: String?
        var deps: [ActionID]
    }

    var b: String { d.name }

    /// The nodes in dependency order.
    func graph() -> [Node] {
        var nodes: [Node] = []
        func add(_ step: ActionStep, _ change: Change, _ resource: String?, _ deps: [ActionID]) -> ActionID {
            let id = ActionID(b, step)
            nodes.append(Node(id: id, change: change, resource: resource, deps: deps))
            return id
        }
        var resolve: [ActionID] = []
        if let source = sourceDescription { resolve = [add(.resolveSource, .wait, source, [])] }
        // The gallery and image definition need only the source (a new definition takes the
        // OS disk's generation, which follows the source), not the disk work: ensured from
        // the start, beside it, they keep two Azure operations off the chain that ends with
        // the version. Only while the version is still to publish: a published one with this
        // digest proves both exist, so a converged plan has no node (and no read) for them.
        var definition: [ActionID] = []
        if !d.build.outputs.skip, let g = d.gallery, !galleryCurrent || !definitionUpdates.isEmpty {
            let change: Change = o.definition == nil ? .create : (definitionUpdates.isEmpty ? .wait : .update)
            definition = [add(.galleryDefinition, change, g.definitionID.description, resolve)]
        }
        let releases = o.leftovers.map { add(.releaseLeftover(disk: $0.name), .delete, $0.id, []) }
        var devices: [ActionID] = []
        for role in d.roles {
            let create = add(.createDisk(role), .create, d.diskID(role).description, resolve)
            var taken: [ActionID] = []
            if d.takesOverDisks, let vm = o.disks[role]?.attachedElsewhere {
                taken = [
                    add(
                        .takeOver(role), .run,
                        "\(d.diskName(role)) from VM \(vm.split(separator: "/").last.map(String.init) ?? vm)", [create])
                ]
            }
            let attach = add(.attach(role), .run, d.diskName(role), [create] + releases + taken)
            devices.append(add(.device(role), .wait, o.devices[role], [attach]))
        }
        let mountPath = d.mountPath
        let preMount = add(.preMount, .run, nil, devices)
        let mount = add(.mount, .run, mountPath, [preMount])
        let postMount = add(.postMount, .run, nil, [mount])
        let chroot = add(.chrootMounts, .run, mountPath, [postMount])
        var last = add(.copyFiles, .run, nil, [chroot])
        for step in d.build.provision { last = add(.provision(step: step.name), .run, nil, [last]) }
        let preUnmount = add(.preUnmount, .run, nil, [last])
        let restore = add(.restoreFiles, .run, nil, [preUnmount])
        let unmount = add(.unmount, .run, mountPath, [restore])
        var detaches: [DiskRole: ActionID] = [:]
        for role in d.roles { detaches[role] = add(.detach(role), .run, d.diskName(role), [unmount]) }
        // The outputs are made straight from the disks, once they are unmounted and flushed,
        // while the detach runs beside them (Azure captures an attached disk as it is: see
        // design.md "Capturing from the disk"); no snapshot stands in between.
        var captures: [ActionID] = []
        var outputs: [ActionID] = []
        if !d.build.outputs.skip, let imageID = d.imageID {
            let image = add(.image, imageNeedsReplace ? .replace : .create, imageID.description, [unmount])
            captures.append(image)
            outputs.append(image)
        }
        if !d.build.outputs.skip, let g = d.gallery {
            let version = add(.galleryVersion, .create, g.id.description, [unmount] + definition)
            captures.append(version)
            outputs.append(version)
            var regionDeps = [version]
            if !galleryDrift.isEmpty {
                regionDeps.append(add(.updateGalleryVersion, .update, g.id.description, [version]))
            }
            for region in g.targetRegions {
                outputs.append(add(.replicate(region: region.name), .wait, "\(g.id) in \(region.name)", regionDeps))
            }
        }
        if !d.build.temporary.keep {
            for role in d.roles {
                // A snapshot an earlier Kiln took (it captured through snapshots) goes too.
                if o.snapshots[role] != nil {
                    _ = add(.deleteSnapshot(role), .delete, d.snapshotID(role).description, captures)
                }
                _ = add(.deleteDisk(role), .delete, d.diskID(role).description, [detaches[role]!] + captures)
            }
        }
        return nodes
    }

    func plan() -> ([Action], [PlanConflict]) {
        let nodes = graph()
        let dag = DAG(nodes.map { ($0.id, $0.deps) })
        let descendants = dag.descendants(of:)

        // Strong evidence: what is observed true now, or journaled for this run on a disk that still exists.
        var strong: Set<ActionID> = []
        for n in nodes where strongEvidence(n.id) { strong.insert(n.id) }

        var status: [ActionID: ActionStatus] = [:]
        var reasons: [ActionID: String] = [:]
        var operations: [ActionID: String] = [:]
        let isDone: (ActionID) -> Bool = { status[$0] == .done }

        // 1. Outputs: evidence only.
        for n in nodes
        where [.image, .galleryDefinition, .galleryVersion, .replicate, .resolveSource].contains(n.id.kind) {
            if n.id.kind == .resolveSource || strong.contains(n.id) {
                status[n.id] = .done
            } else {
                status[n.id] = inFlight(n.id, &operations) ? .inFlight : .todo
                reasons[n.id] = outputReason(n.id)
            }
        }
        // Later progress stands in for a step or teardown only where it carries the step's work
        // to what is still to be made: a published version does not hold the provisioned disk
        // a missing image (deleted since) must be made from. So every capture still to make
        // after `id` needs evidence between `id` and it.
        let pendingCaptures = nodes.filter { [.image, .galleryVersion].contains($0.id.kind) && !isDone($0.id) }
            .map(\.id)
        let reached: (ActionID) -> Bool = { id in
            let after = descendants(id)
            let evidence = after.filter { strong.contains($0) }
            guard !evidence.isEmpty else { return false }
            return pendingCaptures.allSatisfy { capture in
                !after.contains(capture) || evidence.contains { descendants($0).contains(capture) }
            }
        }

        // 3. Local steps: evidence or later progress.
        for n in nodes where n.id.kind.isLocalStep {
            if strong.contains(n.id) || reached(n.id) {
                status[n.id] = .done
            } else if journalDone(n.id) {
                status[n.id] = .stale
                reasons[n.id] = "done in the last run, but on a disk that no longer exists: runs again"
            } else {
                status[n.id] = .todo
                reasons[n.id] = localReason(n.id)
            }
        }
        // 4. Teardowns in dependency order: gone after the work that needed them.
        for n in nodes where n.id.kind.nature == .teardown {
            let prerequisiteDone = n.deps.allSatisfy(isDone)
            if reached(n.id) || (teardownHolds(n.id) && prerequisiteDone) {
                status[n.id] = .done
            } else {
                status[n.id] = inFlight(n.id, &operations) ? .inFlight : .todo
                reasons[n.id] =
                    n.id.kind == .unmount
                    ? "unmount after provisioning (verified, deepest first)"
                    : "detach \(d.diskName(role(n.id))) after unmount"
            }
        }
        // 5. Conditions and disks, last step first: needed while a local step after them is left.
        let localSteps = nodes.filter { $0.id.kind.isLocalStep }.map(\.id)
        for n in nodes.reversed() where n.id.kind.nature == .condition || n.id.kind == .createDisk {
            let after = Set(descendants(n.id))
            var needed = localSteps.contains { after.contains($0) && !isDone($0) }
            if case .createDisk(let role) = n.id.step {
                // The disk is what the outputs are made from, and what the detach takes off the VM.
                needed = needed || !pendingCaptures.isEmpty || !isDone(ActionID(b, .detach(role)))
            }
            if strong.contains(n.id) || !needed {
                status[n.id] = .done
            } else {
                status[n.id] = inFlight(n.id, &operations) ? .inFlight : .todo
                reasons[n.id] = conditionReason(n.id)
            }
        }
        // 6. Cleanup and repairs.
        for n in nodes where status[n.id] == nil {
            switch n.id.kind {
            case .deleteSnapshot, .deleteDisk:
                // Something to delete now, or something this apply will create.
                let r = role(n.id)
                let present = n.id.kind == .deleteDisk ? o.disks[r] != nil : o.snapshots[r] != nil
                let willExist = present || (n.id.kind == .deleteDisk && status[ActionID(b, .createDisk(r))] != .done)
                status[n.id] = willExist ? .todo : .done
                reasons[n.id] =
                    present
                    ? "temporary; no longer needed once the outputs are published"
                    : "temporary; deleted once the outputs are published"
            case .releaseLeftover:
                status[n.id] = .todo
                if let l = o.leftovers.first(where: { $0.name == n.id.target }) {
                    var steps: [String] = []
                    if let m = l.mountedAt { steps.append("unmount \(m)") }
                    if l.attached { steps.append("detach") }
                    steps.append("delete")
                    reasons[n.id] = "left over from run \(l.runID) of this build: \(steps.joined(separator: ", then "))"
                }
            case .updateGalleryVersion:
                status[n.id] = .todo
                reasons[n.id] = "published version drifted: " + galleryDrift.joined(separator: "; ")
            default:
                status[n.id] = .todo
            }
        }

        let conflicts = self.conflicts()
        let actions = nodes.map { n -> Action in
            var s = status[n.id] ?? .todo
            if !conflicts.isEmpty && s != .done { s = .blocked }
            var action = Action(
                id: n.id, change: n.change, status: s, resource: n.resource,
                reason: s == .done ? "" : (reasons[n.id] ?? ""), dependsOn: n.deps, operation: operations[n.id])
            action.absentWhenPlanned = s == .todo && observedAbsent(n.id)
            return action
        }
        return (actions, conflicts)
    }

    // MARK: Evidence

    /// The disk of an action about one disk; called only for those kinds (the OS disk otherwise).
    func role(_ id: ActionID) -> DiskRole { id.step.diskRole ?? .os }

    func journalDone(_ id: ActionID) -> Bool {
        guard o.journal.runID == d.runID, o.journal.completed.contains(id) else { return false }
        // A provisioning step counts only as the manifest now has it.
        if case .provision(let step) = id.step, let recorded = o.journal.stepDigests[id] {
            return recorded == d.stepDigest(step)
        }
        return true
    }

    /// An Azure operation an earlier run started and did not see finish.
    func inFlight(_ id: ActionID, _ operations: inout [ActionID: String]) -> Bool {
        guard o.journal.runID == d.runID, let entry = o.journal.inFlight[id] else {
            if case .replicate(let region) = id.step, let r = observedRegion(region),
                r.state.lowercased() == "replicating"
            {
                return true
            }
            return false
        }
        if let url = entry { operations[id] = url }
        return !id.kind.isLocalStep
    }

    func strongEvidence(_ id: ActionID) -> Bool {
        switch id.kind {
        case .createDisk: return o.disks[role(id)]?.resource.succeeded == true
        case .takeOver: return o.disks[role(id)]?.attachedElsewhere == nil
        case .attach:
            // Azure lists a disk on the VM as soon as its attach is accepted: one this run's
            // journal has in flight holds only once its operation is re-joined and succeeds.
            let underWay = o.journal.runID == d.runID && o.journal.inFlight[id] != nil
            return o.disks[role(id)]?.builderLUN != nil && !underWay
        case .device: return o.devices[role(id)] != nil
        case .mount: return o.rootMounted
        case .postMount: return o.rootMounted && journalDone(id)
        case .chrootMounts: return o.rootMounted && o.chrootMountsPresent
        case .preMount, .copyFiles, .provision, .preUnmount, .restoreFiles:
            return journalDone(id) && o.disks[.os] != nil
        case .image: return imageCurrent
        case .galleryVersion: return galleryCurrent
        // Observed as the manifest wants it (or changing only what Azure lets change, which
        // the action does): nothing to create.
        case .galleryDefinition:
            return o.definition?.provisioningState.map { $0.lowercased() == "succeeded" } == true
                && d.imageTraits != nil && definitionUpdates.isEmpty
        case .replicate:
            guard galleryCurrent, case .replicate(let region) = id.step, let r = observedRegion(region) else {
                return false
            }
            return r.state.lowercased() == "completed"
        default: return false
        }
    }

    /// Whether the resource the action creates was looked for and not found.
    func observedAbsent(_ id: ActionID) -> Bool {
        switch id.kind {
        case .createDisk: o.disks[role(id)] == nil
        case .image: o.image == nil
        case .galleryVersion: o.galleryVersion == nil
        default: false
        }
    }

    func teardownHolds(_ id: ActionID) -> Bool {
        switch id.kind {
        case .unmount: return !o.rootMounted
        // A detach still under way (its run killed) has not torn down yet: it runs, and waits.
        case .detach: return o.disks[role(id)]?.builderLUN == nil && o.disks[role(id)]?.changingOnBuilder != true
        default: return false
        }
    }

    var imageCurrent: Bool { Observer.isCurrent(o.image, d) }

    var imageNeedsReplace: Bool {
        guard let i = o.image, let digest = i.digest else { return false }
        return digest != d.digest.value || !i.resource.succeeded
    }

    /// Where the existing image definition differs from the manifest in what Azure changes in place.
    var definitionUpdates: [DesiredDefinition.Difference] {
        guard let existing = o.definition, let want = d.desiredDefinition else { return [] }
        return want.differences(from: existing).filter(\.mutable)
    }

    var galleryCurrent: Bool { Observer.isCurrent(o.galleryVersion, d) }

    func observedRegion(_ name: String) -> ObservedGalleryVersion.Region? {
        o.galleryVersion?.regions.first { normalized($0.name) == normalized(name) }
    }

    func normalized(_ region: String) -> String { RegionName.normalized(region) }

    /// Differences between the published version and the manifest (only when the version
    /// has this build's digest: otherwise it is a conflict, not drift).
    var versionDrift: [DriftItem] {
        guard let v = o.galleryVersion, v.digest == d.digest.value, v.resource.succeeded else { return [] }
        return DriftDetector.versionDrift(d, v)
    }

    /// The differences `update-gallery-version` repairs in place, as the plan words them.
    var galleryDrift: [String] {
        versionDrift.filter(\.repairableInPlace).map { item in
            let field = item.field.replacingOccurrences(of: "gallery.", with: "")
            switch (item.expected, item.actual) {
            case ("present", "missing"): return "\(field) missing"
            case ("absent", "present"): return "\(field) not in the manifest"
            default: return "\(field) \(item.actual) → \(item.expected)"
            }
        }
    }
}
