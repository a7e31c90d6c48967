import Foundation
import Synchronization
import Testing

@testable import Model

/// `Waiting.for`: a wait that lasts says what it waits for and what it saw last, to whoever
/// listens; nobody listening costs nothing.
@Suite struct WaitingTests {
    @Test func aLastingWaitSaysWhatItWaitsForAndTheLastStateSeen() async throws {
        let notes = Mutex<[String]>([])
        try await Waiting.$sink.withValue(WaitSink { note in notes.withLock { $0.append(note) } }) {
            try await Waiting.for(
                "the block device of LUN 3 to appear", firstAfter: .milliseconds(20), every: .milliseconds(20)
            ) {
                note in
                note.seen("nothing yet at /dev/disk/azure/scsi1/lun3")
                // Long enough for a few notes however loaded the machine is.
                let seen = await eventually { notes.withLock { $0.count >= 2 } }
                #expect(seen)
            }
        }
        let first = try #require(notes.withLock { $0.first })
        #expect(first.hasPrefix("still waiting for the block device of LUN 3 to appear (since "))
        #expect(first.hasSuffix(": nothing yet at /dev/disk/azure/scsi1/lun3"))
    }

    @Test func aWaitNobodyListensToRunsItsBodyOnly() async throws {
        let value = try await Waiting.for("nothing", firstAfter: .zero, every: .milliseconds(1)) { note in
            note.seen("seen")
            return 42
        }
        #expect(value == 42)
    }

    @Test func notesStopWhenTheWaitEnds() async throws {
        let notes = Mutex(0)
        try await Waiting.$sink.withValue(WaitSink { _ in notes.withLock { $0 += 1 } }) {
            try await Waiting.for("a short wait", firstAfter: .seconds(60)) { _ in }
        }
        try await Task.sleep(for: .milliseconds(50))
        #expect(notes.withLock { $0 } == 0)
    }

    @Test func theNoteReadsSinceAndHowLong() {
        let note = WaitNote(what: "the lock /run/kiln/lun.lock", since: Date(timeIntervalSince1970: 3600 * 14 + 65))
        note.seen("held by pid 812")
        #expect(
            note.text(now: Date(timeIntervalSince1970: 3600 * 14 + 77))
                == "still waiting for the lock /run/kiln/lun.lock (since 14:01:05Z, 12 s): held by pid 812")
    }

    /// Polls `condition` for up to 10 s.
    func eventually(_ condition: @Sendable () -> Bool) async -> Bool {
        for _ in 0..<1000 {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }
}
