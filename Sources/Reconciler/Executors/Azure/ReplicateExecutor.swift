import Foundation
import Logging
import Model
import Planner
import Providers

/// `replicate[region]`: waits until the gallery version's replication to one region is
/// Completed, reporting Azure's percentage; fails on `Failed` with Azure's details, and
/// gives up after `timeouts.replication` (replication goes on in Azure; a re-run waits again).
///
/// When the version's own operation was seen to succeed in this run with the region among
/// its targets, the region has replicated (Azure ends a version's PUT or PATCH only then:
/// azure-rest-api.md §4, and the gallery team in hashicorp/packer#7920): no read is needed.
struct ReplicateExecutor: ActionExecutor {
    let env: ExecutorEnvironment
    /// The target region, as the manifest names it.
    let region: String
    var pollInterval: Duration = .seconds(10)

    func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        let d = try env.build(of: action)
        let g = try desiredGalleryVersion(d, action: action)
        let versionID = g.id
        let timeout = d.build.timeouts.replication.duration
        let elapsed = azureStopwatch(on: context.clock)
        let wanted = RegionName.normalized(region)
        if action.dependsOn.contains(where: {
            context.dependencyResults[$0]?.replicatedRegions?.contains(wanted) == true
        }) {
            context.reportProgress(percent: 100, detail: "\(wanted) Completed")
            return ActionOutcome(resourceID: versionID, region: wanted)
        }
        var lastDetail = ""
        while true {
            try context.checkInterruption()
            guard let version = try await env.azure.galleryImageVersion(versionID, replicationStatus: true) else {
                throw ExecutorError(
                    action: action.id,
                    message:
                        "gallery version \(g.version) (\(g.id)) does not exist, so it cannot replicate to \(region); run kiln apply again to publish it"
                )
            }
            let targets = (version.publishingProfile?.targetRegions ?? []).map { RegionName.normalized($0.name) }
            if !targets.isEmpty && !targets.contains(wanted) {
                throw ExecutorError(
                    action: action.id,
                    message:
                        "gallery version \(g.version) does not list \(region) among its target regions (\(targets.joined(separator: ", "))); kiln apply repairs that with update-gallery-version"
                )
            }
            let regions = version.replication?.regions ?? []
            if let status = regions.first(where: { $0.region.map(RegionName.normalized) == wanted }) {
                let state = status.state ?? .unknown
                switch state {
                case .completed:
                    context.reportProgress(percent: 100, detail: "\(wanted) Completed")
                    return ActionOutcome(resourceID: versionID, region: wanted)
                case .failed:
                    let details = status.details.flatMap { $0.isEmpty ? nil : $0 } ?? "no details given"
                    throw ExecutorError(
                        action: action.id,
                        message:
                            "replication of gallery version \(g.version) to \(region) failed: \(details); fix the cause, then remove and re-add the region (or delete the version) and run kiln apply again"
                    )
                default:
                    let detail = "\(wanted) \(status.progress.map { "\($0)%" } ?? state.description)"
                    if detail != lastDetail {
                        context.reportProgress(percent: status.progress.map { Double($0) }, detail: detail)
                        lastDetail = detail
                    }
                }
            } else if version.replication == nil, version.provisioningState.isSucceeded, targets.contains(wanted) {
                // No per-region status on offer: a provisioned version has replicated to its targets.
                return ActionOutcome(resourceID: versionID, region: wanted)
            } else if version.provisioningState.isFailed {
                throw ExecutorError(
                    action: action.id,
                    message:
                        "gallery version \(g.version) is \(version.provisioningState), so it will not replicate to \(region); delete it and run kiln apply again"
                )
            }
            if elapsed() + pollInterval > timeout {
                throw ExecutorError(
                    action: action.id,
                    message:
                        "replication of gallery version \(g.version) to \(region) did not complete within \(d.build.timeouts.replication) (last: \(lastDetail.isEmpty ? "no status" : lastDetail)); it goes on in Azure: run kiln apply again to keep waiting, or raise timeouts.replication"
                )
            }
            try await context.sleep(for: pollInterval)
        }
    }
}
