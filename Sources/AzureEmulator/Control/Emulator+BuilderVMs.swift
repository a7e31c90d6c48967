import Foundation
import Logging

/// The builder VMs on the control surface: `GET /_emulator/builder-vms` lists them,
/// `POST /_emulator/builder-vms/<i>/crash` makes VM i's OS die.
extension Emulator {
    /// Whether builder VM `vm` crashed (and stays dead until a reset).
    func isCrashed(_ vm: Int) -> Bool { state.crashedBuilderVMs?.contains(vm) ?? false }

    /// Each builder VM: index, id, name, IMDS base URL, device root, identity, whether it
    /// crashed, and the data disks ARM lists for it.
    func builderVMsJSON() -> JSON {
        .array(
            builderVMKeys.indices.map { i in
                let vm = config.builderVM(at: i)
                let disks = state.resources[builderVMKeys[i]]?.body.at("properties", "storageProfile", "dataDisks")
                return [
                    "index": JSON(i), "id": .string(config.builderVMID(at: i)), "name": .string(vm.name),
                    "imds": .string(EmulatorEndpoints.builderVMIMDS(base: listenBase, vm: i)),
                    "deviceRoot": .string(deviceRoots[i]), "identityClientId": .string(vm.identityClientID),
                    "identityObjectId": .string(vm.identityObjectID), "crashed": .bool(isCrashed(i)),
                    "dataDisks": .array(
                        (disks?.arrayValue ?? []).map {
                            ["lun": $0["lun"] ?? .null, "id": $0.at("managedDisk", "id") ?? .null]
                        }),
                    "devices": JSON(state.attachments.filter { $0.vm == i }.count)
                ]
            })
    }

    func builderVMControl(_ request: EmulatorRequest, _ lower: [String]) async throws(ARMError) -> EmulatorResponse {
        switch (request.method, lower.count) {
        case ("GET", 2):
            return .json(200, builderVMsJSON())
        case ("POST", 4) where lower[3] == "crash":
            guard let vm = Int(lower[2]), builderVMKeys.indices.contains(vm) else {
                throw ARMError(
                    404, "NotFound",
                    "No builder VM '\(lower[2])': the emulator has \(builderVMKeys.count), numbered 0…\(builderVMKeys.count - 1)."
                )
            }
            return .json(200, await crash(vm: vm))
        default:
            throw ARMError(
                404, "NotFound",
                "Unknown control path \(request.method) \(request.path); known: GET builder-vms, POST builder-vms/<i>/crash."
            )
        }
    }

    /// Builder VM `vm`'s OS dies: the processes working in its mounts are killed, its mounts
    /// go (lazily, deepest first), its devices are
    /// released, and it is marked crashed, so nothing makes devices for it again (a restart
    /// included) until a reset. ARM still lists its disks as attached, as Azure does for a
    /// dead VM: another client detaches them by updating this VM's data disks.
    func crash(vm: Int) async -> JSON {
        var crashed = state.crashedBuilderVMs ?? []
        crashed.insert(vm)
        state.crashedBuilderVMs = crashed
        // Forgotten before the backend is awaited, so that a detach arriving meanwhile (the
        // actor is re-entered) finds no device to free rather than one half released.
        state.attachments.removeAll { $0.vm == vm }
        hiddenDeviceLUNs = hiddenDeviceLUNs.filter { $0.vm != vm }
        markDirty()
        let outcome = await backend.crash(vm: vm)
        for problem in outcome.problems {
            state.violations.append(Violation(time: Date(), message: "crash of builder VM \(vm): \(problem)"))
        }
        logger.warning("builder VM crashed", metadata: ["vm": "\(vm)", "released": "\(outcome.released.count)"])
        return [
            "index": JSON(vm), "id": .string(config.builderVMID(at: vm)),
            "unmounted": .array(outcome.unmounted.map { .string($0) }),
            "released": .array(outcome.released.map { .string($0) }),
            "killed": .array(outcome.killed.map { JSON(Int($0)) }),
            "problems": .array(outcome.problems.map { .string($0) })
        ]
    }
}
