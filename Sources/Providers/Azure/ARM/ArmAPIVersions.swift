import Model

/// The api-version Kiln sends per resource family (shared/reference/azure-rest-api.md §0:
/// the "safe default" column, not the newest, because the newest are not deployed in
/// every region yet).
public struct ArmAPIVersions: Sendable, Hashable, Codable {
    /// `Microsoft.Compute/disks` and `snapshots` (DiskRP).
    public var disks: String
    /// `virtualMachines`, `images`, platform images (ComputeRP). 2024-07-01 has VM ETags
    /// (from 2023-09-01) and `attachDetachDataDisks` (from 2024-03-01).
    public var compute: String
    /// `galleries`, image definitions and versions (GalleryRP).
    public var galleries: String
    /// `Microsoft.Resources` (listing resources by tag).
    public var resources: String

    public init(
        disks: String = "2024-03-02", compute: String = "2024-07-01", galleries: String = "2024-03-03",
        resources: String = "2021-04-01"
    ) {
        self.disks = disks
        self.compute = compute
        self.galleries = galleries
        self.resources = resources
    }

    public static let pinned = ArmAPIVersions()

    /// The version for a resource id, by its type.
    public func version(for id: ResourceID) -> String {
        guard id.provider.lowercased() == "microsoft.compute", let first = id.segments.first?.type.lowercased() else {
            return resources
        }
        switch first {
        case "disks", "snapshots": return disks
        case "galleries": return galleries
        default: return compute
        }
    }

    /// True when the compute api-version has `POST .../attachDetachDataDisks` (2024-03-01 on).
    public var computeHasAttachDetachDataDisks: Bool { compute >= "2024-03-01" }
    /// True when the compute api-version returns VM ETags and honours `If-Match` (2023-09-01 on).
    public var computeHasETags: Bool { compute >= "2023-09-01" }
}
