import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

extension LoopDiskBackend {
    /// Attaches blob `id` at `lun`: `losetup -P -f --show` (the kernel picks the device),
    /// `partx -a` (the kernels here parse no partition tables themselves), then the
    /// `lun<N>-part<K>` links and last the `lun<N>` link, so that a client that sees
    /// `lun<N>` can use its partitions at once. On any failure everything done is undone.
    public func attach(id: String, lun: Int, vm: Int) async throws -> AttachedDevice {
        guard (0...63).contains(lun) else { throw DiskBackendError.invalidLun(lun: lun) }
        let slot = BuilderLUN(vm: vm, lun: lun)
        let links = links(vm: vm)
        // The same disk at the same LUN (an emulator restarting after a crash re-attaches what
        // its state says is attached): adopt the attachment that survived.
        if let existing = attachments[slot], existing.id == id, lunsInProgress[slot] == nil,
            LoopDeviceState.isBacked(existing.loopDevice, by: existing.file)
        {
            return AttachedDevice(
                loopDevice: existing.loopDevice, lunLink: links.lunLink(lun),
                partitions: existing.partitions.sorted { $0.key < $1.key }.map(\.value))
        }
        if let other = attachments[slot]?.id ?? lunsInProgress[slot] {
            throw DiskBackendError.lunInUse(lun: lun, by: other)
        }
        try refuseIfAttached(id)
        let file = blobPath(id: id)
        guard FileManager.default.fileExists(atPath: file) else { throw DiskBackendError.blobNotFound(id: id) }
        lunsInProgress[slot] = id
        defer { lunsInProgress[slot] = nil }

        let setup = try await DiskCommand.check("losetup", ["-P", "-f", "--show", file])
        let loop = setup.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard loop.hasPrefix("/dev/loop"), LoopDeviceState.isBacked(loop, by: file) else {
            throw DiskBackendError.commandFailed(
                command: "losetup -P -f --show \(file)", status: 0, stderr: "unexpected output '\(loop)'")
        }
        // Recorded at once, so that a crash from here on leaves a record to detach by.
        var record = LoopAttachmentRecord(
            id: id, vm: vm, lun: lun, file: file, loopDevice: loop, partitions: [:], attachedAt: Date())
        attachments[slot] = record
        do {
            try store.save(attachments)
            record.partitions = try await addPartitions(loop)
            attachments[slot] = record
            try store.save(attachments)
            try placeLinks(record)
        } catch {
            logger.warning(
                "attach failed, undoing", metadata: ["id": "\(id)", "slot": "\(slot)", "error": "\(error)"])
            _ = try? await release(record)
            attachments[slot] = nil
            try? store.save(attachments)
            throw error
        }
        logger.info("attached disk", metadata: ["id": "\(id)", "slot": "\(slot)", "device": "\(loop)"])
        return AttachedDevice(
            loopDevice: loop, lunLink: links.lunLink(lun),
            partitions: record.partitions.sorted { $0.key < $1.key }.map(\.value))
    }

    /// Detaches the disk at `lun`. When its loop device (or one of its partitions) is still
    /// mounted anywhere, the detach still happens (the kernel frees the device at the last
    /// unmount) and the outcome carries a violation text for the inventory.
    public func detach(lun: Int, vm: Int) async throws -> DetachOutcome {
        let slot = BuilderLUN(vm: vm, lun: lun)
        guard let record = attachments[slot] else { throw DiskBackendError.nothingAttached(lun: lun) }
        if lunsInProgress[slot] != nil { throw DiskBackendError.lunInUse(lun: lun, by: record.id) }
        lunsInProgress[slot] = record.id
        defer { lunsInProgress[slot] = nil }
        let violation = try await release(record)
        attachments[slot] = nil
        try store.save(attachments)
        if let violation {
            logger.warning("detach violation", metadata: ["slot": "\(slot)", "violation": "\(violation)"])
        }
        return DetachOutcome(violation: violation)
    }

    /// Why the blob `id` is in use: attached, with its loop device or a partition held
    /// exclusively (mounted) — an O_EXCL open fails with EBUSY.
    public func inUse(id: String) async -> String? {
        guard let record = attachments.values.first(where: { $0.id == id }),
            LoopDeviceState.isBacked(record.loopDevice, by: record.file)
        else { return nil }
        let devices = [record.loopDevice] + LoopDeviceState.partitions(of: record.loopDevice).map(\.device)
        let busy = LoopDeviceState.busyDevices(devices)
        guard !busy.isEmpty else { return nil }
        return "an O_EXCL open of \(busy.joined(separator: ", ")) failed with EBUSY (still mounted?)"
    }

    public func attachedBlobs() async -> [BuilderLUN: String] {
        attachments.filter { lunsInProgress[$0.key] == nil }.mapValues(\.id)
    }

    /// Frees loop devices backed by this backend's blob files that no record names, and
    /// removes links of LUNs without a record.
    public func freeUnrecorded() async {
        let recorded = Set(attachments.values.map(\.loopDevice))
        for (device, file) in LoopDeviceState.devices(backedUnder: blobDirectory) where !recorded.contains(device) {
            logger.warning("freeing unrecorded loop device", metadata: ["device": "\(device)", "file": "\(file)"])
            _ = try? await freeLoop(device, file: file)
        }
        Self.removeStrayLinks(deviceRoot: deviceRoot, keeping: Set(attachments.keys).union(lunsInProgress.keys))
    }

    /// Detaches everything; violations and errors are logged (see `detachAllOutcomes`).
    public func detachAll() async {
        _ = await detachAllOutcomes()
    }

    /// Detaches every recorded disk, then frees any loop device still backed by one of this
    /// backend's blob files (left by a crash between `losetup` and the record), and removes
    /// every LUN link not in use. Returns the outcome per LUN; a failed detach is reported
    /// as a violation text.
    public func detachAllOutcomes() async -> [BuilderLUN: DetachOutcome] {
        var outcomes: [BuilderLUN: DetachOutcome] = [:]
        for slot in attachments.keys.sorted() where lunsInProgress[slot] == nil {
            do {
                outcomes[slot] = try await detach(lun: slot.lun, vm: slot.vm)
            } catch {
                outcomes[slot] = DetachOutcome(violation: "detach of \(slot) failed: \(error)")
            }
        }
        await freeUnrecorded()
        return outcomes
    }

    /// Re-checks the records against the kernel (as the initializer does): drops records
    /// whose loop device no longer backs their file, restores missing links of the others,
    /// removes stray links.
    public func reconcile() throws {
        let kept = Self.reconciled(
            attachments.filter { lunsInProgress[$0.key] == nil }, deviceRoot: deviceRoot, logger: logger)
        let inProgress = attachments.filter { lunsInProgress[$0.key] != nil }
        attachments = kept.merging(inProgress) { current, _ in current }
        try store.save(attachments)
    }

    // MARK: - Steps

    /// `partx -a`, then the partitions the kernel has, with their device nodes present.
    private func addPartitions(_ loop: String) async throws -> [Int: String] {
        let output = try await DiskCommand.run("partx", ["-a", loop])
        var found = LoopDeviceState.partitions(of: loop)
        if output.status != 0, found.isEmpty, !output.stderr.contains("failed to read partition table") {
            throw DiskBackendError.commandFailed(
                command: "partx -a \(loop)", status: output.status, stderr: output.stderr)
        }
        // devtmpfs makes the nodes as the kernel adds the partitions; allow it a moment.
        var attempts = 0
        while found.contains(where: { access($0.device, F_OK) != 0 }), attempts < 100 {
            try await clock.sleep(for: .milliseconds(20))
            attempts += 1
            found = LoopDeviceState.partitions(of: loop)
        }
        if let missing = found.first(where: { access($0.device, F_OK) != 0 }) {
            throw DiskBackendError.systemCall(call: "partition device node", path: missing.device, errno: ENOENT)
        }
        return Dictionary(found.map { ($0.number, $0.device) }, uniquingKeysWith: { first, _ in first })
    }

    /// Partition links first, then the LUN link.
    private func placeLinks(_ record: LoopAttachmentRecord) throws {
        let links = links(vm: record.vm)
        for (number, device) in record.partitions.sorted(by: { $0.key < $1.key }) {
            try links.place(link: links.partitionLink(record.lun, number), target: device)
        }
        try links.place(link: links.lunLink(record.lun), target: record.loopDevice)
    }

    /// Removes the links of `record` and frees its loop device if it still backs the
    /// record's file. Returns the violation text when the device was in use.
    func release(_ record: LoopAttachmentRecord) async throws -> String? {
        let links = links(vm: record.vm)
        var violation: String?
        let ours = LoopDeviceState.isBacked(record.loopDevice, by: record.file)
        if ours {
            let devices = [record.loopDevice] + LoopDeviceState.partitions(of: record.loopDevice).map(\.device)
            let busy = LoopDeviceState.busyDevices(devices)
            if !busy.isEmpty {
                violation =
                    "disk '\(record.id)' at \(record.slot) (\(record.loopDevice)) was detached while still in use: "
                    + "an O_EXCL open of \(busy.joined(separator: ", ")) failed with EBUSY (still mounted?)"
            }
        }
        // The LUN link goes first: a client that still sees it may rely on its partitions.
        links.remove(link: links.lunLink(record.lun))
        for link in links.existingLinks(lun: record.lun) { links.remove(link: link) }
        if ours { try await freeLoop(record.loopDevice, file: record.file) }
        return violation
    }

    /// `partx -d` then `losetup -d`, after checking once more that `device` is backed by
    /// `file` (a loop device freed by someone else may have been reused for another file).
    /// A mounted partition makes `partx -d` fail; `losetup -d` then only marks the device
    /// for freeing at the last close, which is what we want.
    private func freeLoop(_ device: String, file: String) async throws {
        guard LoopDeviceState.isBacked(device, by: file) else { return }
        if !LoopDeviceState.partitions(of: device).isEmpty {
            let output = try await DiskCommand.run("partx", ["-d", device])
            if output.status != 0 {
                logger.debug("partx -d failed", metadata: ["device": "\(device)", "stderr": "\(output.stderr)"])
            }
        }
        guard LoopDeviceState.isBacked(device, by: file) else { return }
        try await DiskCommand.check("losetup", ["-d", device])
    }

    /// Removes every `lun<N>` / `lun<N>-part<K>` link, under the device root of every builder
    /// VM that has one (`DEVROOT`, `DEVROOT-vm<i>`), whose VM and LUN are not in `slots`.
    static func removeStrayLinks(deviceRoot: String, keeping slots: Set<BuilderLUN>) {
        for vm in vmsWithDeviceRoots(deviceRoot: deviceRoot).union(slots.map(\.vm)) {
            let links = DeviceLinks(deviceRoot: BuilderVM.deviceRoot(ofVM: vm, base: deviceRoot))
            let names = (try? FileManager.default.contentsOfDirectory(atPath: links.directory)) ?? []
            for name in names where name.hasPrefix("lun") {
                let digits = name.dropFirst(3).prefix { $0.isNumber }
                if let lun = Int(digits), !slots.contains(BuilderLUN(vm: vm, lun: lun)) {
                    links.remove(link: "\(links.directory)/\(name)")
                }
            }
        }
    }

    /// VM 0 and every VM i whose device root `DEVROOT-vm<i>` exists next to `deviceRoot`.
    static func vmsWithDeviceRoots(deviceRoot: String) -> Set<Int> {
        let parent = (deviceRoot as NSString).deletingLastPathComponent
        let prefix = (deviceRoot as NSString).lastPathComponent + "-vm"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
        return Set(names.compactMap { $0.hasPrefix(prefix) ? Int($0.dropFirst(prefix.count)) : nil }).union([0])
    }

    /// The records whose loop device still backs their file, with their links restored;
    /// the links of dropped records and stray links are removed. Reads sysfs only.
    static func reconciled(
        _ records: [BuilderLUN: LoopAttachmentRecord], deviceRoot: String, logger: Logger
    ) -> [BuilderLUN: LoopAttachmentRecord] {
        var kept: [BuilderLUN: LoopAttachmentRecord] = [:]
        for (slot, record) in records {
            guard LoopDeviceState.isBacked(record.loopDevice, by: record.file) else {
                logger.info(
                    "dropping stale attachment record",
                    metadata: [
                        "slot": "\(slot)", "id": "\(record.id)", "device": "\(record.loopDevice)"
                    ])
                continue
            }
            var current = record
            current.partitions = Dictionary(
                LoopDeviceState.partitions(of: record.loopDevice).map { ($0.number, $0.device) },
                uniquingKeysWith: { first, _ in first })
            kept[slot] = current
        }
        removeStrayLinks(deviceRoot: deviceRoot, keeping: Set(kept.keys))
        for record in kept.values {
            let links = DeviceLinks(deviceRoot: BuilderVM.deviceRoot(ofVM: record.vm, base: deviceRoot))
            // Replacing by rename keeps each wanted link present throughout.
            let wanted = Set(
                record.partitions.keys.map { links.partitionLink(record.lun, $0) } + [links.lunLink(record.lun)])
            for link in links.existingLinks(lun: record.lun) where !wanted.contains(link) { links.remove(link: link) }
            for (number, device) in record.partitions.sorted(by: { $0.key < $1.key }) {
                try? links.place(link: links.partitionLink(record.lun, number), target: device)
            }
            try? links.place(link: links.lunLink(record.lun), target: record.loopDevice)
        }
        return kept
    }
}
