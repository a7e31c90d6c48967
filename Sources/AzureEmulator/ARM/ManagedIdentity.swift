import Foundation

/// A resource's managed identity (`identity` on galleries and VMs) as ARM answers it: the
/// type the client sent, and for a system-assigned identity its principal and tenant, for
/// each user-assigned one its principal and client ids. The ids are derived from the
/// resource id and the identity's id, so every answer for one resource agrees.
enum ManagedIdentity {
    static func answer(_ sent: JSON?, resourceID: String, tenant: String) throws(ARMError) -> JSON? {
        guard let sent, sent != .null else { return nil }
        guard let type = sent["type"]?.stringValue else { throw ARMError.missing("identity.type") }
        let kinds = Set(type.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
        guard !kinds.isEmpty, kinds.isSubset(of: ["systemassigned", "userassigned", "none"]),
            !(kinds.contains("none") && kinds.count > 1)
        else {
            throw ARMError(
                400, "InvalidIdentityType",
                "The identity type '\(type)' is not valid: use SystemAssigned, UserAssigned, 'SystemAssigned, UserAssigned' or None.",
                target: "identity.type")
        }
        var answer: JSON = ["type": .string(type)]
        if kinds.contains("systemassigned") {
            answer["principalId"] = .string(Emulator.stableUUID("principal:" + resourceID.lowercased()))
            answer["tenantId"] = .string(tenant)
        }
        let userAssigned = sent["userAssignedIdentities"]?.objectValue ?? [:]
        if kinds.contains("userassigned") {
            guard !userAssigned.isEmpty else {
                throw ARMError(
                    400, "InvalidIdentityValues",
                    "The identity type '\(type)' needs at least one entry in identity.userAssignedIdentities.",
                    target: "identity.userAssignedIdentities")
            }
            var entries: JSON = [:]
            for id in userAssigned.keys.sorted() {
                entries[id] = [
                    "principalId": .string(Emulator.stableUUID("principal:" + id.lowercased())),
                    "clientId": .string(Emulator.stableUUID("client:" + id.lowercased()))
                ]
            }
            answer["userAssignedIdentities"] = entries
        } else if !userAssigned.isEmpty {
            throw ARMError(
                400, "InvalidIdentityValues",
                "identity.userAssignedIdentities is given, but the identity type '\(type)' has no UserAssigned.",
                target: "identity.userAssignedIdentities")
        }
        return answer
    }
}
