import Model

/// Whether a build's next apply continues the run its journal records — on the same disk —
/// or starts a fresh run on a new disk.
///
/// A run's disk is made from the source, disk and mount settings, then changed step by step.
/// Editing a step that has not run yet (or the one that failed or was interrupted) leaves
/// the disk valid: the run continues, so a step fixed after it failed resumes from that
/// step. Editing a step that already ran, or anything once provisioning is over (the disk
/// was unmounted, snapshotted or published), means the disk holds work the manifest no
/// longer describes: the next run starts on a fresh disk (a new generation, so new names),
/// and the old run's resources become leftovers that apply releases.
public enum RunContinuity {
    /// The generation `desired` should use, and why it is a fresh one (nil: continues or first run).
    public static func generation(for desired: DesiredBuild, journal: JournalView) -> (
        generation: Int, freshBecause: String?
    ) {
        let g = journal.generation
        guard let run = journal.runID, run == DesiredBuild.runID(for: desired.digest, generation: g) else {
            // No journal, or the source, disk or mount settings changed: names differ anyway.
            return (0, nil)
        }
        guard let recorded = journal.digest, recorded != desired.digest.value else { return (g, nil) }
        if let blocker = blockingProgress(desired, journal) { return (g + 1, blocker) }
        return (g, nil)
    }

    /// What in the journal's run makes continuing it wrong, or nil.
    static func blockingProgress(_ d: DesiredBuild, _ journal: JournalView) -> String? {
        let pastProvisioning: [ActionKind] = [
            .preUnmount, .restoreFiles, .unmount, .detach, .image, .galleryVersion,
            .updateGalleryVersion, .replicate, .deleteSnapshot, .deleteDisk
        ]
        let touched = journal.completed.union(journal.inFlight.keys).union(journal.failed.keys)
        if let later = touched.filter({ pastProvisioning.contains($0.kind) && $0.build == d.name }).sorted().first {
            return "the last run got past provisioning (\(later.kind.rawValue)) with other inputs"
        }
        // The steps that ran, each as the manifest now has it and in its order.
        var valid: Set<String> = []
        for step in d.build.provision {
            let id = ActionID(d.name, .provision(step: step.name))
            guard journal.completed.contains(id), journal.stepDigests[id] == d.stepDigest(step.name) else { break }
            valid.insert(step.name)
        }
        let ran = journal.completed.filter { $0.kind == .provision && $0.build == d.name }
        if let changed = ran.filter({ !valid.contains($0.target ?? "") }).sorted().first {
            let stillThere = d.build.provision.contains { $0.name == changed.target }
            return "step \(changed.target ?? "") already ran on the disk and "
                + (stillThere ? "was changed or moved since" : "is no longer in the manifest")
        }
        return nil
    }
}
