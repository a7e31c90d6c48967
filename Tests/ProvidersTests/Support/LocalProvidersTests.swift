import Providers
import Testing

@Suite("LocalProviders")
struct LocalProvidersTests {
    @Test func systemWiringSharesOneWrappedRunner() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let providers = LocalProviders.system(
            wrapper: CommandWrapper { "echo wrapped && " + $0 }, deviceRoot: scratch.path,
            stateDirectory: "\(scratch.path)/.kiln")
        let result = try await providers.runner.runChecked(CommandSpec("true", captureStdout: true))
        #expect(result.stdout == "wrapped\n")
        #expect(try await providers.devices.device(lun: 0) == nil)
        #expect(try await providers.journal.load(build: "web").entries.isEmpty)
    }

    @Test func inMemoryWiringStartsEmpty() async throws {
        let providers = LocalProviders.inMemory()
        #expect(try await providers.mounts.mountTable().entries(under: "/mnt").isEmpty)
        #expect(try await providers.devices.device(lun: 0) == nil)
        #expect(try await providers.chroot.restoreHostFile(at: "/etc/resolv.conf", root: "/mnt/x") == .nothingRecorded)
    }
}
