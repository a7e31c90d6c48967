import Foundation
import Model
import Planner
import Providers

/// The journal work of one `kiln apply` around its run (`ApplyWorkflow`): lock every build's
/// journal, start the builds' runs in their journals, and record what was published.
public struct ApplyRun: Sendable {
    public var journals: any JournalStore
    public var parallelism: Int

    public init(journals: any JournalStore, parallelism: Int = Scheduler.defaultParallelism) {
        self.journals = journals
        self.parallelism = parallelism
    }

    /// Takes every build's journal lock without waiting; throws naming the holder (pid, host,
    /// start time) when another apply has it. Taken before anything else (an embedded
    /// emulator included) so that two applies never touch the same state.
    /// `purpose` names the command in the holder's details (`kiln destroy` takes the same locks).
    ///
    /// Each build's mount path is locked host-wide too (under `mountLocks`): two applies of
    /// builds with the same name from different state directories (two checkouts on one VM)
    /// would otherwise mount their disks at the same path.
    public static func lock(
        _ manifest: Manifest, journals: any JournalStore, purpose: String = "kiln apply",
        mountLocks: String = MountPathLock.defaultDirectory
    ) async throws -> [any JournalLockHandle] {
        var handles: [any JournalLockHandle] = []
        do {
            handles = try await BuildLocks.journals(of: manifest.builds.map(\.name), in: journals, purpose: purpose)
            for build in manifest.builds {
                handles.append(
                    try MountPathLock.tryAcquire(
                        DesiredBuild.mountPath(of: build), build: build.name, purpose: purpose, directory: mountLocks))
            }
        } catch {
            for h in handles { await h.releaseNow() }
            throw error
        }
        return handles
    }

    /// Starts a fresh journal for each build whose run changed, keeping only what explains
    /// the next change (the last published digest); a continued run (a step edited before it
    /// ran, see `RunContinuity`) keeps its entries and records the new digest.
    public func startRuns(_ desired: [DesiredBuild]) async throws {
        for d in desired {
            var journal = try await journals.load(build: d.name)
            // The version `auto` chose for this digest, kept for every later plan.
            let chosen = d.gallery.flatMap { g in
                g.spec == .auto ? ChosenGalleryVersion(digest: d.digest.value, version: g.version) : nil
            }
            if journal.header.run == d.runID {
                guard journal.header.digest != d.digest.value || journal.header.galleryVersion != chosen else {
                    continue
                }
                journal.header.digest = d.digest.value
                journal.header.galleryVersion = chosen
                try await journals.replace(journal)
                continue
            }
            let header = JournalHeader(
                run: d.runID, digest: d.digest.value, generation: d.generation,
                published: journal.header.published, galleryVersion: chosen)
            try await journals.replace(BuildJournal(build: d.name, header: header))
        }
    }

    /// Records how each build's run ended (`BuildOutcome`, by `vm`), and for each build that
    /// finished the digest it published, so a later plan can say which part of a changed
    /// build differs from it. A build stopped by an interrupt has no outcome yet.
    public func recordOutcome(_ desired: [DesiredBuild], result: ApplyResult, vm: String?) async throws {
        for d in desired {
            let failure = result.failures.first { $0.action.build == d.name }
            guard failure != nil || !result.interrupted else { continue }
            var journal = try await journals.load(build: d.name)
            if let failure {
                journal.header.outcome = BuildOutcome(
                    result: .failed, digest: d.digest.value, vm: vm, message: "\(failure.action): \(failure.message)")
            } else {
                journal.header.published = d.digest
                journal.header.outcome = BuildOutcome(result: .succeeded, digest: d.digest.value, vm: vm)
            }
            try await journals.replace(journal)
        }
    }
}

extension KilnSession {
    /// The environment the executors work in.
    public func executorEnvironment(_ snapshot: Snapshot, maxDataDisks: Int? = nil) -> ExecutorEnvironment {
        let disks = BuilderDisks(
            azure: connection.compute, vm: snapshot.vm.id, devices: local.devices,
            lock: HostFileLUNLock(path: hostPaths.lunLock),
            maxDataDisks: maxDataDisks ?? VMSizeLimits.maxDataDisks(forSize: snapshot.vm.vmSize))
        return ExecutorEnvironment(
            desired: snapshot.desired, vm: snapshot.vm, azure: connection.compute, disks: disks,
            local: local, processEnvironment: self.environment)
    }
}

/// The host-wide lock on a build's mount path: one file per path under `/run/kiln/mounts`
/// (tmpfs, gone on reboot with its holders; `HostPaths.mountLocks`), named by a hash of the path.
public enum MountPathLock {
    public static let defaultDirectory = HostPaths.standard.mountLocks

    public static func tryAcquire(_ mountPath: String, build: String, purpose: String = "kiln apply", directory: String)
        throws -> FileLock
    {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let file = directory + "/" + String(BuildDigest.sha256Hex(mountPath).prefix(16)) + ".lock"
        let purpose =
            "\(purpose) (build \(build), mount path \(mountPath), state in \(FileManager.default.currentDirectoryPath))"
        let attempt = Result { () throws(FileLockError) -> FileLock in
            try FileLock.tryAcquire(path: file, purpose: purpose)
        }
        switch attempt {
        case .success(let lock):
            return lock
        case .failure(.held(_, let holder, _)):
            throw ApplyLockError(
                message: "the mount path \(mountPath) of build \(build) is in use by another kiln process on this VM"
                    + (holder.map { " (\($0))" } ?? "")
                    + "; wait for it to finish, or give this build another mount.path")
        case .failure(let other):
            throw other
        }
    }
}

/// Why apply could not take its locks.
public struct ApplyLockError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Taking the journal locks of several builds, all or none: the one way apply, destroy and
/// the scheduler lock builds.
public enum BuildLocks {
    /// Takes the journal lock of every build in `builds` without waiting, or throws (e.g.
    /// `JournalError.locked`, naming the holder) after releasing those already taken.
    /// `purpose` names the command in the holder's details.
    public static func journals(
        of builds: [String], in journals: any JournalStore,
        purpose: String
    ) async throws -> [any JournalLockHandle] {
        var handles: [any JournalLockHandle] = []
        do {
            for build in builds {
                handles.append(try await journals.tryLock(build: build, purpose: "\(purpose) (build \(build))"))
            }
        } catch {
            for handle in handles { await handle.releaseNow() }
            throw error
        }
        return handles
    }
}
