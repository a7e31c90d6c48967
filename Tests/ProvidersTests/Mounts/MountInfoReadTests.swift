import Foundation
import Testing

@testable import Providers

/// The mount table is read to its end: `/proc` files come a page at a time, and reading
/// only the first page hid every mount listed after it on a busy host.
@Suite struct MountInfoReading {
    @Test func aProcFileLongerThanAPageIsReadWhole() throws {
        // A Swift test process maps dozens of libraries: its maps file is many pages long.
        let maps = try SystemMountManager.readToEnd("/proc/self/maps")
        #expect(maps.utf8.count > 3 * 4096)
        #expect(maps.hasSuffix("\n"))
    }

    @Test func aMissingFileIsAnUnreadableTableNamingThePath() {
        #expect(throws: MountError.self) { try SystemMountManager.readToEnd("/nonexistent/mountinfo") }
    }
}
