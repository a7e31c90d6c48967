import Foundation
@testable import Providers
import Testing

/// procfs files report size 0; the mount table must be read to its end however long it is
/// (Foundation's `String(contentsOfFile:)` stopped after 4 KiB of /proc/self/mountinfo).
@Suite struct ProcFileRead {
    @Test func aProcFileLongerThanAPageIsReadToItsEnd() throws {
        // /proc/self/maps of this test process is well over 4 KiB and stable while we read it
        // twice in a row from the same thread (no allocation of a new mapping in between is
        // likely; compare line counts loosely: the old reader lost everything past 4 KiB).
        let text = try SystemMountManager.readWholeFile("/proc/self/maps")
        #expect(text.utf8.count > 4096, "\(text.utf8.count) bytes")
        #expect(text.hasSuffix("\n"))
    }

    @Test func aMissingFileIsAnError() {
        #expect(throws: (any Error).self) { try SystemMountManager.readWholeFile("/proc/self/no-such-file") }
    }
}
