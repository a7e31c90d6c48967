/// The tags Kiln puts on the Azure resources it creates, by which it finds them again and
/// tells its own from anyone else's.
public enum KilnTag: String, Sendable, CaseIterable {
    /// The build that made the resource (disks, snapshots, outputs, galleries).
    case build = "kiln:build"
    /// The run of the build that made a temporary resource.
    case run = "kiln:run"
    /// The build's digest: on outputs, what they were built from.
    case digest = "kiln:digest"
    /// The disk role (`os`, `lunN`) of a temporary disk or snapshot.
    case role = "kiln:role"

    /// The prefix of every Kiln tag; a manifest's own tags may not use it.
    public static let prefix = "kiln:"

    /// The tag's name on Azure.
    public var name: String { rawValue }
}

extension Dictionary where Key == String, Value == String {
    /// The value of one of Kiln's tags.
    public subscript(tag: KilnTag) -> String? {
        get { self[tag.rawValue] }
        set { self[tag.rawValue] = newValue }
    }
}
