import Foundation
import Logging
import Model
import Planner
import Providers

/// Reads a version's replication status (`$expand=ReplicationStatus`) and reports it as
/// the action's progress: the mean percentage, and each region's state.
struct ReplicationProgress: Sendable {
    let azure: any AzureCompute
    let versionID: ResourceID
    let context: ExecutionContext
    let interval: Duration

    /// Polls until cancelled (the wait it runs beside ends) or interrupted.
    func poll() async throws {
        var last = ""
        while true {
            try await context.sleep(for: interval)
            // A failed read only loses one progress line; the wait itself reports errors.
            guard let version = try? await azure.galleryImageVersion(versionID, replicationStatus: true),
                let status = version.replication
            else { continue }
            let (percent, detail) = Self.describe(status)
            if detail != last {
                context.reportProgress(percent: percent, detail: detail)
                last = detail
            }
        }
    }

    /// One last reading once the version is provisioned.
    func reportFinal() async {
        guard let version = try? await azure.galleryImageVersion(versionID, replicationStatus: true),
            let status = version.replication
        else { return }
        let (percent, detail) = Self.describe(status)
        context.reportProgress(percent: percent, detail: detail)
    }

    /// "eastus 100%, westus2 40% (Replicating)" and the mean percentage.
    static func describe(_ status: AzureGalleryImageVersion.Replication) -> (Double?, String) {
        let regions = status.regions ?? []
        guard !regions.isEmpty else { return (nil, "replication \(status.aggregatedState ?? "Unknown")") }
        let parts = regions.map { r -> String in
            let name = r.region.map(RegionName.normalized) ?? "?"
            let state = r.state ?? .unknown
            let pct = r.progress ?? (state == .completed ? 100 : 0)
            return state == .completed || state == .replicating ? "\(name) \(pct)%" : "\(name) \(pct)% (\(state))"
        }
        let total = regions.reduce(0) { $0 + ($1.progress ?? ($1.state == .completed ? 100 : 0)) }
        return (Double(total) / Double(regions.count), parts.joined(separator: ", "))
    }
}
