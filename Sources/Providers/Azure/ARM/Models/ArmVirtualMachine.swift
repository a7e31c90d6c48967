import Foundation

/// `Microsoft.Compute/virtualMachines`, as far as Kiln reads it: size, storage profile and
/// ETag. Kiln never PUTs a whole VM (a PUT would drop the fields this model does not
/// know); attach and detach use `attachDetachDataDisks` or a PATCH of the data disks.
public struct ArmVirtualMachine: Codable, Sendable, Hashable {
    public var id: String?
    public var name: String?
    public var type: String?
    public var location: String?
    public var tags: [String: String]?
    /// Quoted, e.g. `"\"7\""`; may be absent (api-versions before 2023-09-01, and one report).
    public var etag: String?
    public var zones: [String]?
    public var properties: Properties?

    /// The `Properties` part of the wire shape; fields Azure may omit are optional.
    public struct Properties: Codable, Sendable, Hashable {
        public var vmId: String?
        public var hardwareProfile: HardwareProfile?
        public var storageProfile: StorageProfile?
        public var provisioningState: String?
        public var timeCreated: String?
    }

    /// The `HardwareProfile` part of the wire shape; fields Azure may omit are optional.
    public struct HardwareProfile: Codable, Sendable, Hashable {
        public var vmSize: String?
    }

    /// Also the body of `attachDetachDataDisks`' final result.
    public struct StorageProfile: Codable, Sendable, Hashable {
        public var imageReference: ImageReference?
        public var osDisk: OSDisk?
        public var dataDisks: [DataDisk]?
    }

    /// The `ImageReference` part of the wire shape; fields Azure may omit are optional.
    public struct ImageReference: Codable, Sendable, Hashable {
        public var id: String?
        public var publisher: String?
        public var offer: String?
        public var sku: String?
        public var version: String?
    }

    /// The `OSDisk` part of the wire shape; fields Azure may omit are optional.
    public struct OSDisk: Codable, Sendable, Hashable {
        public var osType: String?
        public var name: String?
        public var createOption: String?
        public var caching: String?
        public var managedDisk: ManagedDisk?
        public var diskSizeGB: Int?
    }

    /// `DataDisk`; the fields a PATCH must send back for disks that stay attached.
    public struct DataDisk: Codable, Sendable, Hashable {
        public var lun: Int
        public var name: String?
        public var createOption: String?
        public var caching: String?
        public var writeAcceleratorEnabled: Bool?
        public var diskSizeGB: Int?
        public var managedDisk: ManagedDisk?
        public var toBeDetached: Bool?
        public var detachOption: String?
        public var deleteOption: String?

        public init(
            lun: Int, createOption: String = "Attach", managedDiskID: String, caching: String? = nil,
            deleteOption: String? = "Detach"
        ) {
            self.lun = lun
            self.createOption = createOption
            self.managedDisk = ManagedDisk(id: managedDiskID)
            self.caching = caching
            self.deleteOption = deleteOption
        }
    }

    /// `ManagedDiskParameters`.
    public struct ManagedDisk: Codable, Sendable, Hashable {
        public var id: String?
        public var storageAccountType: String?
        public init(id: String?, storageAccountType: String? = nil) {
            self.id = id
            self.storageAccountType = storageAccountType
        }
    }
}

/// The PATCH body that replaces a VM's data disks (the whole list: it replaces wholesale).
struct ArmVirtualMachineDataDisksPatch: Encodable {
    struct StorageProfile: Encodable { var dataDisks: [ArmVirtualMachine.DataDisk] }
    struct Properties: Encodable { var storageProfile: StorageProfile }
    var properties: Properties

    init(dataDisks: [ArmVirtualMachine.DataDisk]) {
        properties = Properties(storageProfile: StorageProfile(dataDisks: dataDisks))
    }
}

/// `AttachDetachDataDisksRequest`. Arrays are omitted, not empty, when unused (`minItems: 1`).
struct ArmAttachDetachDataDisksRequest: Encodable, Sendable {
    struct Attach: Encodable, Sendable {
        var diskId: String
        var lun: Int?
        var caching: String?
        var deleteOption: String?
    }
    struct Detach: Encodable, Sendable {
        var diskId: String
        var detachOption: String?
    }
    var dataDisksToAttach: [Attach]?
    var dataDisksToDetach: [Detach]?
}
