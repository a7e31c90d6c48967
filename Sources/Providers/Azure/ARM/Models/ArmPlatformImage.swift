import Foundation

/// One entry of a platform image version list (`VirtualMachineImageResource`). The list is
/// a bare JSON array, not `{"value":[...]}`.
public struct ArmPlatformImageVersionEntry: Codable, Sendable, Hashable {
    public var name: String
    public var location: String?
    public var id: String?
}

/// One platform image version with its properties (`VirtualMachineImage`).
public struct ArmPlatformImageVersion: Codable, Sendable, Hashable {
    public var id: String?
    public var name: String?
    public var location: String?
    public var properties: Properties?

    /// The `Properties` part of the wire shape; fields Azure may omit are optional.
    public struct Properties: Codable, Sendable, Hashable {
        public var hyperVGeneration: String?
        public var architecture: String?
        public var osDiskImage: OSDiskImage?
        public var dataDiskImages: [DataDiskImage]?
        public var features: [ArmGalleryImage.Feature]?
        public var plan: Plan?
        public var imageDeprecationStatus: DeprecationStatus?
    }

    /// The `OSDiskImage` part of the wire shape; fields Azure may omit are optional.
    public struct OSDiskImage: Codable, Sendable, Hashable {
        public var operatingSystem: String?
        /// Outside the swagger, lower-case b, seen in real answers.
        public var sizeInGb: Int?
    }

    /// The `DataDiskImage` part of the wire shape; fields Azure may omit are optional.
    public struct DataDiskImage: Codable, Sendable, Hashable {
        public var lun: Int?
    }

    /// The `Plan` part of the wire shape; fields Azure may omit are optional.
    public struct Plan: Codable, Sendable, Hashable {
        public var publisher: String?
        public var name: String?
        public var product: String?
    }

    /// The `DeprecationStatus` part of the wire shape; fields Azure may omit are optional.
    public struct DeprecationStatus: Codable, Sendable, Hashable {
        public var imageState: String?
        public var scheduledDeprecationTime: String?
    }
}
