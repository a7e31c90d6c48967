import Foundation
import Model
import Providers
import Reconciler
import TestSupport
import Testing

@Suite struct ApplyLocks {
    /// Two applies of a build with the same name from different state directories (two
    /// checkouts on one VM) would mount at the same path: the second is refused, naming the path.
    @Test func theMountPathIsLockedAcrossStateDirectories() async throws {
        let dir = try TemporaryDirectory("kiln-mount-lock")
        defer { dir.remove() }
        let result = try loadManifest(
            """
            builds:
              - name: web
                source: {platformImage: 'Canonical:ubuntu:server:latest'}
                outputs: {skip: true}
            """, in: dir)
        let manifest = try #require(result.manifest, "\(result.errors)")
        let locks = dir.url.appendingPathComponent("locks").path

        let first = try await ApplyRun.lock(manifest, journals: InMemoryJournalStore(), mountLocks: locks)
        await #expect {
            _ = try await ApplyRun.lock(manifest, journals: InMemoryJournalStore(), mountLocks: locks)
        } throws: { error in
            "\(error)".contains("mount path /mnt/kiln/web of build web is in use") && "\(error)".contains("\(getpid())")
        }
        for lock in first { lock.release() }
        let second = try await ApplyRun.lock(manifest, journals: InMemoryJournalStore(), mountLocks: locks)
        for lock in second { lock.release() }
    }
}
