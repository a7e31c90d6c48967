import Foundation
import Logging
import Model
import Planner
import Providers

/// How a gallery version's replication is reported: from the percentage its operation's
/// polls carry (`percentComplete`; Azure's status resource may carry one, the emulator's
/// does).
enum ReplicationProgress {
    /// Reports an operation's percentage as the action's progress, naming the regions.
    static func reporter(_ g: DesiredGalleryVersion, context: ExecutionContext) -> @Sendable (Double) -> Void {
        let regions = g.regionNames.joined(separator: ", ")
        return { percent in
            context.reportProgress(percent: percent, detail: "replicating to \(regions): \(Int(percent))%")
        }
    }
}
