import Model
import Providers
import TestSupport
import Testing

@Suite struct HostPathsTests {
    @Test func theDefaultsAreTheVMsOwnPaths() throws {
        let paths = try HostPaths(environment: [:])
        #expect(paths == .standard)
        #expect(paths.mountRoot == "/mnt/kiln")
        #expect(paths.lunLock == "/run/kiln/lun.lock")
        #expect(paths.mountLocks == "/run/kiln/mounts")
        #expect(paths.lunLock == HostLUNLock.defaultPath)
        #expect(paths.defaultMountPath == MountSettings.defaultPath)
    }

    @Test func theEnvironmentMovesTheMountRootAndTheRunDirectory() throws {
        let environment = ["KILN_MOUNT_ROOT": "/tmp/t1.mnt/", "KILN_RUN_DIR": "/tmp/t1/run", "KILN_X": "y"]
        let paths = try HostPaths(environment: environment)
        #expect(paths.mountRoot == "/tmp/t1.mnt")
        #expect(paths.defaultMountPath == "/tmp/t1.mnt/{{.BuildName}}")
        #expect(paths.lunLock == "/tmp/t1/run/lun.lock")
        #expect(paths.mountLocks == "/tmp/t1/run/mounts")
        #expect(try HostPaths(environment: ["KILN_MOUNT_ROOT": "", "KILN_RUN_DIR": ""]) == .standard)
    }

    @Test func aRelativeOrClimbingPathIsRefusedNamingTheVariable() {
        #expect(throws: HostPathsError.self) { try HostPaths(environment: ["KILN_MOUNT_ROOT": "mnt"]) }
        let error = #expect(throws: HostPathsError.self) { try HostPaths(environment: ["KILN_RUN_DIR": "/run/../etc"]) }
        #expect(error?.description.hasPrefix("KILN_RUN_DIR=/run/../etc is not an absolute path") == true)
    }

    @Test func onlyBuildsWithTheDefaultMountPathMoveUnderTheMountRoot() throws {
        let result = try loadManifest(
            """
            builds:
              - name: web
                source: {platformImage: 'Canonical:ubuntu:server:latest'}
                outputs: {skip: true}
              - name: own
                source: {platformImage: 'Canonical:ubuntu:server:latest'}
                mount: {path: '/srv/own/{{.BuildName}}'}
                outputs: {skip: true}
            """)
        let manifest = try #require(result.manifest, "\(result.errors)")
        let placed = HostPaths(mountRoot: "/tmp/m", runDirectory: "/tmp/r").placingDefaultMounts(of: manifest)
        #expect(placed.builds.map(\.mount.path) == ["/tmp/m/{{.BuildName}}", "/srv/own/{{.BuildName}}"])
        #expect(HostPaths.standard.placingDefaultMounts(of: manifest) == manifest)
    }
}
