import Foundation
import Logging
import Model
import Planner
import Providers

/// How a gallery version's replication is reported: from the percentage its operation's
/// polls carry (`percentComplete`; Azure's status resource may carry one, the emulator's
/// does), and in words from a version's `$expand=ReplicationStatus` (`replicate`).
enum ReplicationProgress {
    /// Reports an operation's percentage as the action's progress, naming the regions.
    static func reporter(_ g: DesiredGalleryVersion, context: ExecutionContext) -> @Sendable (Double) -> Void {
        let regions = g.targetRegions.map { RegionName.normalized($0.name) }.joined(separator: ", ")
        return { percent in
            context.reportProgress(percent: percent, detail: "replicating to \(regions): \(Int(percent))%")
        }
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
