import Foundation

/// The api-versions accepted per resource-provider family. Real clients send many different
/// ones (packer 2019-era, the newest SDKs 2026-era), so each family lists the published
/// versions; anything else gets ARM's `NoRegisteredProviderFound`.
enum APIVersionFamily: String, Sendable {
    case disks, compute, galleries, resources, imds

    var versions: [String] {
        switch self {
        case .disks:
            [
                "2016-04-30-preview", "2017-03-30", "2018-04-01", "2018-06-01", "2018-09-30", "2019-03-01",
                "2019-07-01",
                "2019-11-01", "2020-05-01", "2020-06-30", "2020-09-30", "2020-12-01", "2021-04-01", "2021-08-01",
                "2021-12-01", "2022-03-02", "2022-07-02", "2023-01-02", "2023-04-02", "2023-10-02", "2024-03-02",
                "2025-01-02", "2026-03-02"
            ]
        case .compute:
            [
                "2016-04-30-preview", "2017-03-30", "2017-12-01", "2018-04-01", "2018-06-01", "2018-10-01",
                "2019-03-01",
                "2019-07-01", "2019-12-01", "2020-06-01", "2020-12-01", "2021-03-01", "2021-04-01", "2021-07-01",
                "2021-11-01", "2022-03-01", "2022-08-01", "2022-11-01", "2023-03-01", "2023-07-01", "2023-09-01",
                "2024-03-01", "2024-07-01", "2024-11-01", "2025-04-01", "2025-11-01", "2026-04-01"
            ]
        case .galleries:
            [
                "2018-06-01", "2019-03-01", "2019-07-01", "2019-12-01", "2020-09-30", "2021-03-01", "2021-07-01",
                "2021-10-01", "2022-01-03", "2022-03-03", "2022-08-03", "2023-07-03", "2024-03-03", "2025-03-03",
                "2026-03-03"
            ]
        case .resources:
            [
                "2014-04-01", "2015-01-01", "2016-02-01", "2016-06-01", "2016-09-01", "2017-05-10", "2018-02-01",
                "2018-05-01", "2019-05-01", "2019-05-10", "2019-06-01", "2019-07-01", "2019-08-01", "2019-10-01",
                "2019-11-01", "2020-01-01", "2020-06-01", "2020-10-01", "2021-01-01", "2021-04-01", "2022-01-01",
                "2022-09-01", "2022-12-01", "2023-07-01", "2024-03-01", "2024-07-01", "2024-11-01", "2025-03-01",
                "2025-04-01"
            ]
        case .imds:
            [
                "2017-03-01", "2017-04-02", "2017-08-01", "2017-10-01", "2017-12-01", "2018-02-01", "2018-04-02",
                "2018-10-01", "2019-02-01", "2019-03-11", "2019-04-30", "2019-06-01", "2019-06-04", "2019-08-01",
                "2019-08-15", "2019-11-01", "2020-06-01", "2020-07-15", "2020-09-01", "2020-10-01", "2020-12-01",
                "2021-01-01", "2021-02-01", "2021-03-01", "2021-05-01", "2021-08-01", "2021-10-01", "2021-11-01",
                "2021-11-15", "2021-12-13", "2022-02-01", "2022-03-01", "2022-07-01", "2022-08-01", "2023-07-01",
                "2023-11-15", "2024-03-15", "2024-07-17", "2025-04-07"
            ]
        }
    }
}

struct APIVersionPolicy: Sendable {
    /// Built once: this check runs on every request.
    let sets: [APIVersionFamily: Set<String>]

    init(extra: [String: [String]]) {
        var sets: [APIVersionFamily: Set<String>] = [:]
        for f in [APIVersionFamily.disks, .compute, .galleries, .resources, .imds] {
            sets[f] = Set(f.versions + (extra[f.rawValue] ?? []))
        }
        self.sets = sets
    }

    func accepted(_ family: APIVersionFamily) -> Set<String> { sets[family] ?? [] }

    /// Throws ARM's error when the request has no api-version or one the family does not know.
    func check(_ request: EmulatorRequest, family: APIVersionFamily, typeName: String, location: String)
        throws(ARMError)
    {
        guard let v = request.apiVersion, !v.isEmpty else {
            throw ARMError(
                400, "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.")
        }
        let ok = accepted(family)
        if ok.contains(v) || ok.contains(v.lowercased()) { return }
        let list = family.versions.reversed().joined(separator: ", ")
        throw ARMError(
            400, "NoRegisteredProviderFound",
            "No registered resource provider found for location '\(location)' and API version '\(v)' for type '\(typeName)'. The supported api-versions are '\(list)'. The supported locations are '\(location)'."
        )
    }
}
