import Foundation

/// Azure region names as ARM compares them: `West US 2`, `westus2` and `WestUS2` are one region.
public enum RegionName {
    /// Lower case, spaces removed.
    public static func normalized(_ name: String) -> String {
        name.lowercased().replacingOccurrences(of: " ", with: "")
    }
}
