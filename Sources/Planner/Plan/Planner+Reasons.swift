import Foundation
import Model

/// Why each action is in the plan, in a user's words, and the conflicts the user must resolve.
extension BuildPlanner {
    // MARK: Reasons

    var sourceDescription: String? {
        switch d.build.source {
        case .platformImage(let urn): urn.description
        case .disk(let id), .galleryImageVersion(let id): id
        case .scratch: nil
        }
    }

    func localReason(_ id: ActionID) -> String {
        if o.journal.runID == d.runID {
            if let message = o.journal.failed[id] { return "failed in the last run (\(message)): runs again" }
            if o.journal.inFlight[id] != nil { return "interrupted in the last run: runs again" }
        }
        switch id.kind {
        case .preMount:
            return d.build.mount.preMountCommands.isEmpty
                ? "no pre-mount commands" : "\(d.build.mount.preMountCommands.count) pre-mount command(s) on the host"
        case .copyFiles:
            return d.build.mount.copyFiles.isEmpty
                ? "no host files to copy"
                : "copy \(d.build.mount.copyFiles.joined(separator: ", ")) in, saving the image's own"
        case .provision:
            guard let step = d.build.provision.first(where: { $0.name == id.target }) else {
                return "provisioning step"
            }
            switch step.action {
            case .shell(let lines): return "\(lines.count) command(s) in the chroot"
            case .script(let path, _): return "run \(path) in the chroot"
            case .upload(let s, let dst, _): return "upload \(s) to \(dst)"
            }
        case .preUnmount:
            return d.build.mount.preUnmountCommands.isEmpty
                ? "no pre-unmount commands"
                : "\(d.build.mount.preUnmountCommands.count) pre-unmount command(s) on the host"
        case .restoreFiles: return "restore the image's own copies of the copied files"
        default: return ""
        }
    }

    func conditionReason(_ id: ActionID) -> String {
        let rebootHint = o.journal.runID == d.runID && !o.journal.completed.isEmpty
        switch id.kind {
        case .createDisk:
            return "disk \(d.diskName(role(id))) missing"
        case .attach:
            return "attach \(d.diskName(role(id))) to the builder VM"
        case .device:
            return "wait for the device of \(role(id))"
        case .mount:
            return rebootHint && !o.rootMounted
                ? "not mounted (the VM restarted?): mount again" : "mount the root filesystem"
        case .postMount:
            return d.build.mount.postMountCommands.isEmpty
                ? "no post-mount commands"
                : "\(d.build.mount.postMountCommands.count) post-mount command(s); they run after every mount, so keep them idempotent"
        case .chrootMounts:
            return "mount \(d.build.mount.chrootMounts.map(\.target).joined(separator: ", ")) inside the root"
        default:
            return ""
        }
    }

    func outputReason(_ id: ActionID) -> String {
        switch id.kind {
        case .image:
            guard let image = o.image else { return "image \(lastSegment(d.imageID)) missing" }
            return "image \(lastSegment(d.imageID)) " + digestChange(image.digest)
        case .galleryDefinition:
            guard let g = d.gallery else { return "" }
            let parts = g.definitionID.segments
            guard parts.count >= 2 else { return "" }
            if o.definition != nil, !definitionUpdates.isEmpty {
                return "image definition \(parts[parts.count - 1].name): "
                    + definitionUpdates.map(\.description).joined(separator: "; ")
            }
            return o.definition == nil
                ? "image definition \(parts[parts.count - 1].name) missing (created, with gallery \(parts[parts.count - 2].name) if that is missing too)"
                : "image definition \(parts[parts.count - 1].name) is \(o.definition?.provisioningState ?? "unknown")"
        case .galleryVersion:
            guard let g = d.gallery else { return "" }
            return o.galleryVersion == nil
                ? "gallery version \(g.version) missing"
                : "gallery version \(g.version) not provisioned (\(o.galleryVersion!.resource.provisioningState))"
        case .replicate:
            guard let g = d.gallery else { return "" }
            let region = id.target ?? ""
            if let r = observedRegion(region), galleryCurrent {
                if r.state.lowercased() == "replicating" {
                    return "replicating to \(region)" + (r.progress.map { " (\($0)%)" } ?? "")
                }
                return "replication to \(region) is \(r.state)"
            }
            return "gallery version \(g.version) missing in \(region)"
        default:
            return ""
        }
    }

    func digestChange(_ published: String?) -> String {
        guard let published else { return "exists without Kiln's digest tag" }
        guard published != d.digest.value else { return "not provisioned" }
        let shortOld = String(published.dropFirst("sha256:".count).prefix(12))
        if let previous = o.journal.published, previous.value == published {
            let parts = d.digest.changedComponents(since: previous).map { c -> String in
                if !c.files.isEmpty { return c.files.map { "\($0) edited" }.joined(separator: ", ") }
                return "\(c.name) changed"
            }
            if !parts.isEmpty { return "digest changed: " + parts.joined(separator: ", ") }
        }
        return "digest changed (published \(shortOld), manifest \(d.digest.short))"
    }

    func lastSegment(_ id: ResourceID?) -> String { id?.name ?? "" }

    // MARK: Conflicts

    func conflicts() -> [PlanConflict] {
        var out: [PlanConflict] = []
        // Azure refuses a disk smaller than what it is made from (409 OperationNotAllowed):
        // said here, before any disk is made, while one still has to be.
        if let wanted = d.build.disk.sizeGB, let source = o.source, let size = source.sizeGB, wanted < size,
            o.disks[.os] == nil
        {
            out.append(
                PlanConflict(
                    build: b, resource: "disk.sizeGB",
                    message:
                        "disk.sizeGB is \(wanted), smaller than \(source.what) (\(size) GB); Azure never shrinks a disk",
                    fix: "give at least \(size), or leave disk.sizeGB out to keep the source's size"))
        }
        if case .failure(let c) = d.traits {
            out.append(PlanConflict(build: b, resource: c.property, message: c.message, fix: c.fix))
        }
        if let g = d.gallery, let existing = o.definition, let want = d.desiredDefinition {
            let fixed = want.differences(from: existing).filter { !$0.mutable }
            if !fixed.isEmpty {
                out.append(
                    PlanConflict(
                        build: b, resource: g.definitionID.description,
                        message: "image definition \(g.definitionID.name) differs where Azure cannot change it: "
                            + fixed.map(\.description).joined(separator: "; "),
                        fix:
                            "publish into a new image definition (outputs.gallery.imageDefinition; Kiln creates it), or match the manifest to the definition"
                    ))
            }
        }
        // The source only matters while a disk still has to be made from it.
        if o.sourceMissing, let source = d.sourceID, !imageCurrent || (d.gallery != nil && !galleryCurrent),
            o.disks[.os] == nil
        {
            out.append(
                PlanConflict(
                    build: b, resource: source.description,
                    message: "the source \(d.build.source.kindName) \(lastSegment(source)) does not exist",
                    fix: "create it, or point source.\(d.build.source.kindName) at one that exists"))
        }
        if let g = d.gallery, let v = o.galleryVersion, v.digest != d.digest.value {
            let fix =
                "bump outputs.gallery.version (e.g. \(nextPatch(g.version))): published gallery versions are immutable"
            if let digest = v.digest {
                out.append(
                    PlanConflict(
                        build: b, resource: g.id.description,
                        message:
                            "gallery version \(g.version) exists with digest \(digest.dropFirst(7).prefix(12)), but the manifest now builds \(d.digest.short) (\(digestChange(digest).replacingOccurrences(of: "digest changed: ", with: "")))",
                        fix: fix))
            } else {
                out.append(
                    PlanConflict(
                        build: b, resource: g.id.description,
                        message: "gallery version \(g.version) exists and was not made by Kiln", fix: fix))
            }
        }
        for item in versionDrift where !item.repairableInPlace {
            out.append(
                PlanConflict(
                    build: b, resource: item.resource,
                    message:
                        "gallery version \(d.gallery?.version ?? "") has \(item.field.replacingOccurrences(of: "gallery.", with: "")) \(item.actual), the manifest \(item.expected), which Azure does not change on a published version",
                    fix: "publish a new version (bump outputs.gallery.version, or use version: auto)"))
        }
        if let imageID = d.imageID, let i = o.image, i.digest == nil {
            out.append(
                PlanConflict(
                    build: b, resource: imageID.description,
                    message: "image \(lastSegment(imageID)) exists and was not made by Kiln (no kiln:digest tag)",
                    fix: "Kiln never replaces what it did not create: delete it, or choose another outputs.image.id"))
        }
        for (role, disk) in o.disks.sorted(by: { $0.key < $1.key }) where !d.takesOverDisks {
            if let vm = disk.attachedElsewhere {
                out.append(
                    PlanConflict(
                        build: b, resource: disk.resource.id,
                        message: "disk \(d.diskName(role)) is attached to another VM (\(vm))",
                        fix: "detach it there, or delete it so Kiln creates a new one"))
            }
        }
        return out
    }

    func nextPatch(_ version: String) -> String {
        let parts = version.split(separator: ".").compactMap { Int($0) }
        guard parts.count == 3 else { return version }
        return "\(parts[0]).\(parts[1]).\(parts[2] + 1)"
    }
}
