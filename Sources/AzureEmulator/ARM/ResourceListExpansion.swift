import Foundation

/// `$expand` on ARM's resource lists (Resources - List, List By Resource Group, 2021-04-01):
/// `createdTime`, `changedTime` and `provisioningState`, each added to an item only when
/// asked for, as ARM does. Anything else is ARM's 400.
struct ResourceListExpansion {
    enum Field: String, CaseIterable {
        case createdTime, changedTime, provisioningState
    }

    let fields: Set<Field>

    init(_ text: String?) throws(ARMError) {
        var fields = Set<Field>()
        for word in (text ?? "").split(separator: ",") {
            let name = word.trimmingCharacters(in: .whitespaces)
            guard let field = Field.allCases.first(where: { $0.rawValue.lowercased() == name.lowercased() }) else {
                throw ARMError(
                    400, "InvalidExpandQueryString",
                    "The $expand '\(text ?? "")' is not valid: '\(name)' is not one of createdTime, changedTime, provisioningState."
                )
            }
            fields.insert(field)
        }
        self.fields = fields
    }

    func add(_ resource: StoredResource, to item: inout JSON) {
        if fields.contains(.createdTime), let created = resource.created {
            item["createdTime"] = .string(Timestamp.string(created))
        }
        if fields.contains(.changedTime), let changed = resource.changed {
            item["changedTime"] = .string(Timestamp.string(changed))
        }
        if fields.contains(.provisioningState) {
            item["provisioningState"] = .string(resource.provisioningState ?? "Succeeded")
        }
    }
}
