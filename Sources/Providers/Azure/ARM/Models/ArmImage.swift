import Foundation

/// `Microsoft.Compute/images` (managed image).
public struct ArmImage: Codable, Sendable, Hashable {
    public var id: String?
    public var name: String?
    public var type: String?
    public var location: String?
    public var tags: [String: String]?
    public var properties: Properties?

    public init(location: String, tags: [String: String]? = nil, properties: Properties) {
        self.location = location
        self.tags = tags
        self.properties = properties
    }

    /// The `Properties` part of the wire shape; fields Azure may omit are optional.
    public struct Properties: Codable, Sendable, Hashable {
        public var storageProfile: StorageProfile?
        public var sourceVirtualMachine: ArmSubResource?
        /// `V1` or `V2`; always send it (Azure cannot always deduce it from a snapshot).
        public var hyperVGeneration: String?
        public var provisioningState: String?

        public init(storageProfile: StorageProfile, hyperVGeneration: String?) {
            self.storageProfile = storageProfile
            self.hyperVGeneration = hyperVGeneration
        }
    }

    /// The `StorageProfile` part of the wire shape; fields Azure may omit are optional.
    public struct StorageProfile: Codable, Sendable, Hashable {
        public var osDisk: OSDisk?
        public var dataDisks: [DataDisk]?
        public var zoneResilient: Bool?

        public init(osDisk: OSDisk, dataDisks: [DataDisk]? = nil, zoneResilient: Bool? = nil) {
            self.osDisk = osDisk
            self.dataDisks = dataDisks
            self.zoneResilient = zoneResilient
        }
    }

    /// `ImageOSDisk`: `osType` and `osState` are required on PUT.
    public struct OSDisk: Codable, Sendable, Hashable {
        public var osType: String?
        public var osState: String?
        public var snapshot: ArmSubResource?
        public var managedDisk: ArmSubResource?
        public var blobUri: String?
        public var caching: String?
        public var diskSizeGB: Int?
        public var storageAccountType: String?
        public var diskEncryptionSet: ArmSubResource?

        public init(
            osType: String, osState: String, snapshot: ArmSubResource? = nil, managedDisk: ArmSubResource? = nil,
            caching: String? = nil, diskSizeGB: Int? = nil, storageAccountType: String? = nil
        ) {
            self.osType = osType
            self.osState = osState
            self.snapshot = snapshot
            self.managedDisk = managedDisk
            self.caching = caching
            self.diskSizeGB = diskSizeGB
            self.storageAccountType = storageAccountType
        }
    }

    /// `ImageDataDisk`.
    public struct DataDisk: Codable, Sendable, Hashable {
        public var lun: Int?
        public var snapshot: ArmSubResource?
        public var managedDisk: ArmSubResource?
        public var caching: String?
        public var diskSizeGB: Int?
        public var storageAccountType: String?
        public var diskEncryptionSet: ArmSubResource?

        public init(
            lun: Int, snapshot: ArmSubResource? = nil, managedDisk: ArmSubResource? = nil, caching: String? = nil,
            storageAccountType: String? = nil
        ) {
            self.lun = lun
            self.snapshot = snapshot
            self.managedDisk = managedDisk
            self.caching = caching
            self.storageAccountType = storageAccountType
        }
    }
}
