import Foundation
import TestSupport
import Testing

/// The served-emulator fixture the end-to-end and robustness tests build on.
@Suite(.enabled(if: Privileges.isRoot, "needs root: the emulator attaches loop devices"))
struct ServedEmulatorFixture {
    @Test func servesLogsRequestsAndStopsWithoutLeaks() throws {
        let dir = try TemporaryDirectory("kiln-fixture")
        defer { dir.remove() }
        let emulator = try ServedEmulator(stateDirectory: dir.url.appendingPathComponent("emu"))
        defer { emulator.stop() }
        try emulator.setFaults("[]")
        #expect(try emulator.resources(ofType: "Microsoft.Compute/virtualMachines").count == 1)
        #expect(try emulator.resources(ofType: "Microsoft.Compute/disks").isEmpty)
        let requests = try emulator.requests()
        #expect(requests.map(\.key) == ["PUT /_emulator/faults", "GET /_emulator/inventory", "GET /_emulator/inventory"])
        #expect(requests.filter(\.isMutatingARM).isEmpty)
        emulator.crash()
        try emulator.restart()
        emulator.stop()
        #expect(Leaks.loopDevices(backedUnder: dir.url).isEmpty)
    }
}
