import Foundation

/// The emulator's resources by normalised id. Every write goes through the subscript, which
/// stamps when a resource was created and last changed, as ARM keeps them for
/// `$expand=createdTime,changedTime` on resource lists. It is stored as a plain object in
/// the state file, so state written before the stamps existed still loads.
struct ResourceTable: Codable, Sendable, Sequence {
    private var items: [String: StoredResource] = [:]

    init() {}

    init(from decoder: any Decoder) throws {
        items = try decoder.singleValueContainer().decode([String: StoredResource].self)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(items)
    }

    subscript(key: String) -> StoredResource? {
        get { items[key] }
        set {
            guard var resource = newValue else {
                items[key] = nil
                return
            }
            let old = items[key]
            let now = Date()
            resource.created = old?.created ?? resource.created ?? now
            if old?.body != resource.body || resource.changed == nil { resource.changed = now }
            items[key] = resource
        }
    }

    var keys: Dictionary<String, StoredResource>.Keys { items.keys }
    var values: Dictionary<String, StoredResource>.Values { items.values }
    func makeIterator() -> Dictionary<String, StoredResource>.Iterator { items.makeIterator() }
}
