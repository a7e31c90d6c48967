import Foundation
import Logging

extension LoopDiskBackend {
    /// Builder VM `vm` dies: every process working in its disks' mounts (root or working
    /// directory beneath one: a step in a chroot) is killed; every mount of its loop devices
    /// or their partitions, and every mount beneath those, is unmounted lazily (deepest
    /// first), in the emulator's mount namespace; then each device is released as a detach would (links, partitions, loop
    /// device) and its record dropped. A device some process still holds open is freed by
    /// the kernel at its last close (`losetup -d` sets autoclear); the outcome says so.
    public func crash(vm: Int) async -> CrashOutcome {
        var outcome = CrashOutcome()
        let records = attachments.filter { $0.key.vm == vm && lunsInProgress[$0.key] == nil }.sorted { $0.key < $1.key }
        var numbers = Set<String>()
        for (_, record) in records where LoopDeviceState.isBacked(record.loopDevice, by: record.file) {
            numbers.formUnion(MountTable.deviceNumbers(of: record.loopDevice))
        }
        // Its processes die with it (a step running in a chroot on one of its disks).
        let mounted = MountTable.current().mounts(holding: numbers).map(\.mountPoint)
        outcome.killed = await MountTable.killProcesses(under: mounted)
        let unmount = MountTable.lazilyUnmount(holding: numbers)
        outcome.unmounted = unmount.unmounted
        outcome.problems = unmount.problems
        for (slot, record) in records {
            do {
                if let still = try await release(record) { outcome.problems.append(still) }
                outcome.released.append(record.loopDevice)
            } catch {
                outcome.problems.append("releasing \(record.loopDevice) of \(slot) failed: \(error)")
            }
            attachments[slot] = nil
        }
        do { try store.save(attachments) } catch {
            outcome.problems.append("saving the attachment records failed: \(error)")
        }
        logger.warning(
            "builder VM crashed",
            metadata: ["vm": "\(vm)", "unmounted": "\(outcome.unmounted)", "released": "\(outcome.released)"])
        return outcome
    }
}
