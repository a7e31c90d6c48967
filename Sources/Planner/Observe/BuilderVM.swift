import Foundation
import Model
import Providers

/// The Azure VM Kiln runs on, from its instance metadata: where temporary disks go, what
/// `{{vm "…"}}` renders to, and which VM disks are attached to.
public struct BuilderVM: Sendable, Hashable {
    public var id: ResourceID
    public var location: String
    public var zone: String?
    public var vmSize: String?

    public init(id: ResourceID, location: String, zone: String? = nil, vmSize: String? = nil) {
        self.id = id
        self.location = location
        self.zone = zone
        self.vmSize = vmSize
    }

    /// From IMDS's compute section; throws when it lacks what Kiln needs.
    public init(_ instance: IMDSInstance) throws(BuilderVMError) {
        let c = instance.compute
        guard let sub = c.subscriptionId, let rg = c.resourceGroupName, let name = c.name, let location = c.location
        else {
            throw BuilderVMError(
                message: "the instance metadata lacks the VM's subscription, resource group, name or location")
        }
        self.init(
            id: ResourceID(
                subscription: sub, resourceGroup: rg, provider: "Microsoft.Compute",
                segments: [("virtualMachines", name)]),
            location: RegionName.normalized(location),
            zone: c.zone.flatMap { $0.isEmpty ? nil : $0 }, vmSize: c.vmSize)
    }

    /// The values `{{vm "KEY"}}` renders to.
    public var templateValues: [String: String] {
        [
            "name": id.name, "subscription_id": id.subscription, "resource_group": id.resourceGroup,
            "location": location,
            "zone": zone ?? "", "resource_id": id.description, "vm_size": vmSize ?? ""
        ]
    }
}

public struct BuilderVMError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { "\(message) — Kiln needs an Azure VM (or --emulator)" }
}
