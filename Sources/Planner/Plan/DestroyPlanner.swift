import Model

/// A plan that removes what Kiln created for some builds, and what it found and keeps.
public struct DestroyPlan: Sendable, Hashable, Codable {
    /// The actions, in dependency order, all to do: unmount, detach, delete.
    public var plan: Plan
    /// What was found and is left alone, with why (an output without `--outputs`, a
    /// resource not made by Kiln, a disk attached to another VM).
    public var kept: [String]

    public init(plan: Plan, kept: [String]) {
        self.plan = plan
        self.kept = kept
    }

    public var isEmpty: Bool { plan.actions.isEmpty }
}

/// The pure planner of `kiln destroy` and of `kiln apply --on-error cleanup`: from the
/// observed state of each build to the actions that remove Kiln's temporary resources
/// (this run's disks and snapshots by deterministic name, other runs' by Kiln's tags), and
/// the outputs when asked. It reuses apply's action kinds so that apply's executors
/// (unmount, detach, delete-disk, delete-snapshot, release-leftover) do the work:
///
/// * `restore-files` first when asked and the root is mounted (cleanup after a failure);
/// * `unmount` when this run's root or a leftover disk is mounted at the mount path;
/// * `detach[role]` for each of this run's disks attached to the builder VM, after unmount;
/// * `delete-disk[role]` after its detach; `delete-snapshot[role]`;
/// * `release-leftover[name]` for every other run's disk or snapshot (it detaches first);
/// * with outputs: `delete-gallery-version` and `delete-image`, only for outputs that carry
///   Kiln's `kiln:digest` tag (the executors check it again before deleting).
///
/// Never anything that Kiln did not create: a disk attached to another VM and an output
/// without Kiln's tag are listed in `kept`, not planned.
public enum DestroyPlanner {
    public struct Options: Sendable, Hashable {
        /// Remove the published image and gallery version too.
        public var outputs: Bool
        /// Put back the image's own copies of `mount.copyFiles` before unmounting.
        public var restoreFiles: Bool
        /// Why the plan exists, for the reasons (`destroy` or `cleanup after the failure`).
        public var purpose: String

        public init(outputs: Bool = false, restoreFiles: Bool = false, purpose: String = "kiln destroy") {
            self.outputs = outputs
            self.restoreFiles = restoreFiles
            self.purpose = purpose
        }
    }

    public static func plan(_ desired: [DesiredBuild], observed: [String: ObservedBuild], options: Options = Options())
        -> DestroyPlan
    {
        var actions: [Action] = []
        var kept: [String] = []
        for d in desired {
            let (a, k) = build(d, observed[d.name] ?? ObservedBuild(), options)
            actions += a
            kept += k
        }
        let plan = Plan(
            builds: desired.map { .init(name: $0.name, digest: $0.digest.value, runID: $0.runID) }, actions: actions,
            conflicts: [])
        return DestroyPlan(plan: plan, kept: kept)
    }

    private static func build(_ d: DesiredBuild, _ o: ObservedBuild, _ options: Options) -> ([Action], [String]) {
        var actions: [Action] = []
        var kept: [String] = []
        func add(_ step: ActionStep, _ change: Change, _ resource: String?, _ reason: String, _ deps: [ActionID])
            -> ActionID
        {
            let id = ActionID(d.name, step)
            actions.append(
                Action(id: id, change: change, status: .todo, resource: resource, reason: reason, dependsOn: deps))
            return id
        }
        let mountPath = d.mountPath
        let mountedLeftovers = o.leftovers.filter { $0.mountedAt != nil }
        var beforeUnmount: [ActionID] = []
        if options.restoreFiles, o.rootMounted, !d.build.mount.copyFiles.isEmpty {
            beforeUnmount.append(
                add(
                    .restoreFiles, .run, nil,
                    "put back the image's own \(d.build.mount.copyFiles.joined(separator: ", "))", []))
        }
        var unmount: [ActionID] = []
        if o.rootMounted || !mountedLeftovers.isEmpty {
            let what =
                o.rootMounted ? "this run's root filesystem" : "a leftover disk of run \(mountedLeftovers[0].runID)"
            unmount = [
                add(
                    .unmount, .run, mountPath,
                    "\(what) is mounted at \(mountPath): unmount everything under it (verified, deepest first)",
                    beforeUnmount)
            ]
        }
        for role in d.roles {
            guard let disk = o.disks[role] else { continue }
            let name = d.diskName(role)
            if let vm = disk.attachedElsewhere {
                kept.append(
                    "\(d.name): disk \(name) is attached to another VM (\(vm)); Kiln leaves it: detach it there, then run kiln destroy again"
                )
                continue
            }
            var deps: [ActionID] = []
            if let lun = disk.builderLUN {
                let device = o.devices[role].map { " as \($0)" } ?? ""
                deps = [
                    add(.detach(role), .run, name, "attached to the builder VM at LUN \(lun)\(device): detach", unmount)
                ]
            }
            _ = add(
                .deleteDisk(role), .delete, disk.resource.id, "temporary disk of run \(d.runID) (\(options.purpose))",
                deps)
        }
        for role in d.roles {
            guard let snapshot = o.snapshots[role] else { continue }
            _ = add(
                .deleteSnapshot(role), .delete, snapshot.id,
                "temporary snapshot of run \(d.runID) (\(options.purpose))", [])
        }
        for leftover in o.leftovers {
            var steps: [String] = []
            if let m = leftover.mountedAt { steps.append("unmounted at \(m) first") }
            if leftover.attached { steps.append("detach") }
            steps.append("delete")
            _ = add(
                .releaseLeftover(disk: leftover.name), .delete, leftover.id,
                "temporary \(leftover.kind.rawValue) of run \(leftover.runID) (found by Kiln's tags): "
                    + steps.joined(separator: ", then "),
                leftover.mountedAt != nil || leftover.attached ? unmount : [])
        }
        if let v = o.galleryVersion, let g = d.gallery {
            if !options.outputs {
                kept.append(
                    "\(d.name): gallery version \(g.version) (\(v.resource.id)) is an output; --outputs removes it")
            } else if v.digest == nil {
                kept.append(
                    "\(d.name): gallery version \(g.version) (\(v.resource.id)) has no kiln:digest tag, so Kiln did not make it; left alone"
                )
            } else {
                _ = add(
                    .deleteGalleryVersion, .delete, v.resource.id,
                    "gallery version \(g.version) published by Kiln (--outputs)", [])
            }
        }
        if let i = o.image {
            let name = i.resource.id.split(separator: "/").last.map(String.init) ?? i.resource.id
            if !options.outputs {
                kept.append("\(d.name): image \(name) (\(i.resource.id)) is an output; --outputs removes it")
            } else if i.digest == nil {
                kept.append(
                    "\(d.name): image \(name) (\(i.resource.id)) has no kiln:digest tag, so Kiln did not make it; left alone"
                )
            } else {
                _ = add(.deleteImage, .delete, i.resource.id, "managed image published by Kiln (--outputs)", [])
            }
        }
        return (actions, kept)
    }

    /// The text a person reads before confirming: the plan's actions (as `kiln plan`
    /// prints them), what is kept, and a summary; or that there is nothing to remove.
    public static func text(_ destroy: DestroyPlan) -> String {
        var out = ""
        if destroy.isEmpty {
            out += "Nothing to destroy: Kiln found no resources of these builds that it may remove.\n"
        } else {
            out += PlanRenderer.text(destroy.plan)
        }
        if !destroy.kept.isEmpty {
            out += "\nKept:\n" + destroy.kept.map { "  \($0)\n" }.joined()
        }
        return out
    }
}
