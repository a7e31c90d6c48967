import Foundation

/// How a requested `dataDisks` list becomes the VM's new list: LUN choice, attaches and
/// detaches, and the validation errors ARM answers.
extension Emulator {
    /// Turns the requested `dataDisks` array into the new list plus the disks to attach and
    /// detach, with ARM's validation errors.
    func planDataDisks(vmKey: String, vm: StoredResource, current: [JSON], requested: [JSON]) throws(ARMError)
        -> DataDiskPlan
    {
        let pending = pendingDiskOperations()
        func diskKeyOf(_ entry: JSON) -> String? { entry.at("managedDisk", "id")?.stringValue.map(Self.normalizeID) }
        var currentByDisk: [String: JSON] = [:]
        for c in current { if let k = diskKeyOf(c) { currentByDisk[k] = c } }

        struct Parsed {
            var entry: JSON
            var lun: Int
            var diskID: String?
            var key: String?
            var toBeDetached: Bool
        }
        var parsed: [Parsed] = []
        for e in requested {
            let r = BodyReader(json: e)
            guard e.objectValue != nil else {
                throw ARMError.invalidContent(
                    "Each element of 'properties.storageProfile.dataDisks' must be an object.")
            }
            guard let lun = try r.int("lun") else { throw ARMError.missing("dataDisk.lun") }
            guard (0...63).contains(lun) else {
                throw ARMError(
                    400, "InvalidParameter",
                    "The value \(lun) of parameter 'dataDisk.lun' is out of range. Value '\(lun)' must be between '0' and '63' inclusive.",
                    target: "dataDisk.lun")
            }
            let diskID = try r.string("managedDisk", "id")
            let tbd = try r.bool("toBeDetached") ?? false
            parsed.append(
                Parsed(entry: e, lun: lun, diskID: diskID, key: diskID.map(Self.normalizeID), toBeDetached: tbd))
        }
        // Disks already attached claim their LUNs first, so a newcomer on a taken LUN gets
        // "A disk at LUN N already exists."
        var lunOwner: [Int: String] = [:]
        var list: [JSON] = []
        var attach: [DiskSlot] = []
        var detach: [DiskSlot] = []
        var mentioned = Set<String>()
        for p in parsed {
            guard let key = p.key, let cur = currentByDisk[key] else { continue }
            mentioned.insert(key)
            let curLun = cur["lun"]?.intValue ?? p.lun
            if p.toBeDetached {
                var kept = cur
                kept["toBeDetached"] = true
                if let opt = p.entry["detachOption"] { kept["detachOption"] = opt }
                list.append(kept)
                if !pending.detaching.contains(key) {
                    detach.append(
                        DiskSlot(diskKey: key, diskID: cur.at("managedDisk", "id")?.stringValue ?? key, lun: curLun))
                }
                continue
            }
            if curLun != p.lun {
                throw ARMError(
                    400, "InvalidParameter",
                    "Changing the LUN of attached disk '\(cur["name"]?.stringValue ?? key)' from \(curLun) to \(p.lun) is not allowed; detach it first.",
                    target: "dataDisks")
            }
            if let other = lunOwner[p.lun] {
                throw ARMError(
                    400, "InvalidParameter", "A disk named '\(other)' already uses the same LUN: \(p.lun).",
                    target: "dataDisks")
            }
            lunOwner[p.lun] = cur["name"]?.stringValue ?? key
            var kept = cur
            for k in ["caching", "writeAcceleratorEnabled", "deleteOption"] { if let v = p.entry[k] { kept[k] = v } }
            list.append(kept)
        }
        for p in parsed where p.key == nil || currentByDisk[p.key!] == nil {
            if p.toBeDetached { continue }
            let createOption = p.entry["createOption"]?.stringValue ?? "Attach"
            guard let diskID = p.diskID, let key = p.key, createOption.lowercased() == "attach" else {
                throw ARMError(
                    400, "InvalidParameter",
                    "The emulator attaches existing managed disks only: use createOption 'Attach' with managedDisk.id (got '\(createOption)').",
                    target: "dataDisks")
            }
            let idParts = diskID.split(separator: "/").map(String.init)
            if idParts.count > 1, idParts[0].lowercased() == "subscriptions",
                idParts[1].lowercased() != config.subscription.lowercased()
            {
                throw ARMError(
                    400, "InvalidParameter",
                    "Subscription \(config.subscription) of the request must match the subscription \(idParts[1]) contained in the managed disk id.",
                    target: "dataDisks")
            }
            guard let (_, disk) = resolve(diskID, kinds: [.disk]) else {
                throw ARMError(404, "NotFound", "Disk \(idParts.last ?? diskID) is not found.", target: "dataDisks")
            }
            if let owner = disk.body["managedBy"]?.stringValue, Self.normalizeID(owner) != vmKey {
                throw ARMError(
                    409, "ConflictingUserInput",
                    "Disk '\(diskID)' cannot be attached as the disk is already owned by VM '\(owner)'.",
                    target: "dataDisks")
            }
            if let owner = pending.attaching[key] {
                throw ARMError(
                    409, "ConflictingUserInput",
                    "Disk '\(diskID)' cannot be attached as the disk is already owned by VM '\(owner)'.",
                    target: "dataDisks")
            }
            if pending.detaching.contains(key) {
                throw ARMError(
                    409, "AttachDiskWhileBeingDetached",
                    "Cannot attach data disk '\(disk.name)' to VM '\(vm.name)' because the disk is currently being detached. Please wait until the disk is completely detached and then try again.",
                    target: "dataDisks")
            }
            if let other = lunOwner[p.lun] {
                let existing = current.contains { $0["lun"]?.intValue == p.lun && $0["name"]?.stringValue == other }
                if existing {
                    throw ARMError(
                        400, "InvalidParameter", "A disk at LUN \(p.lun) already exists.", target: "dataDisks")
                }
                throw ARMError(
                    400, "InvalidParameter", "A disk named '\(disk.name)' already uses the same LUN: \(p.lun).",
                    target: "dataDisks")
            }
            lunOwner[p.lun] = disk.name
            mentioned.insert(key)
            let entry: JSON = [
                "lun": JSON(p.lun), "name": .string(disk.name), "createOption": "Attach",
                "caching": p.entry["caching"] ?? "None",
                "writeAcceleratorEnabled": p.entry["writeAcceleratorEnabled"] ?? false,
                "managedDisk": [
                    "id": .string(diskID), "storageAccountType": disk.body.at("sku", "name") ?? "Standard_LRS"
                ],
                "diskSizeGB": disk.body.at("properties", "diskSizeGB") ?? 0, "toBeDetached": false,
                "deleteOption": p.entry["deleteOption"] ?? "Detach"
            ]
            list.append(entry)
            attach.append(DiskSlot(diskKey: key, diskID: diskID, lun: p.lun))
        }
        for (key, cur) in currentByDisk where !mentioned.contains(key) {
            if cur["toBeDetached"]?.boolValue == true && pending.detaching.contains(key) {
                list.append(cur)  // its detach is already under way
                continue
            }
            if !pending.detaching.contains(key) {
                detach.append(
                    DiskSlot(
                        diskKey: key, diskID: cur.at("managedDisk", "id")?.stringValue ?? key,
                        lun: cur["lun"]?.intValue ?? -1))
            }
        }
        let max = builderVMIndex(ofKey: vmKey).map { config.builderVM(at: $0).maxDataDisks } ?? 64
        let active = list.filter { $0["toBeDetached"]?.boolValue != true }.count
        if active > max {
            throw ARMError(
                409, "OperationNotAllowed",
                "The maximum number of data disks allowed to be attached to a VM of this size is \(max).",
                target: "dataDisks")
        }
        list.sort { ($0["lun"]?.intValue ?? 0) < ($1["lun"]?.intValue ?? 0) }
        return DataDiskPlan(list: list, attach: attach, detach: detach)
    }

}
