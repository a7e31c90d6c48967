import Foundation
import Model
import Providers
import Reconciler

/// The site of `apply` and `destroy`: journal locks in the state directory, mount-path locks
/// host-wide, and the session (with `--emulator`, an embedded emulator) the target options name.
struct CommandSite: WorkflowSite {
    var target: TargetOptions
    var manifest: Manifest

    /// The state directory's journals; nil for remote state, whose leases are taken through the
    /// session once it is open.
    var lockStore: (any JournalStore)? {
        manifest.state == .local ? FileJournalStore(stateDirectory: target.stateDirectory) : nil
    }
    /// `KILN_RUN_DIR/mounts` (a bad `KILN_RUN_DIR` has already ended the command when the
    /// manifest was loaded).
    var mountLockDirectory: String {
        (try? hostPathsFromEnvironment.get())?.mountLocks ?? MountPathLock.defaultDirectory
    }

    func withWorld<T: Sendable>(_ body: (any WorkflowWorld) async throws -> T) async throws -> T {
        try await withSession(target, manifest: manifest) { session in try await body(session) }
    }
}

/// The prompt of `apply` and `destroy` on the terminal: the plan on standard output (not
/// with `--json`), the question answered by typing `yes` (or `--auto-approve`), warnings on
/// standard error.
struct TerminalPrompt: WorkflowPrompt {
    /// `apply` or `destroy`, for the messages.
    var command: String
    var autoApprove: Bool
    var json: Bool

    init(command: String, options: RunOptions) {
        self.command = command
        autoApprove = options.autoApprove
        json = options.json
    }

    func show(_ plan: String) {
        // Written straight to the descriptor, like the events that follow, so the order holds.
        if !json { FileDescriptorOutput.standardOutput.write(plan) }
    }

    /// True when approved: `--auto-approve`, or `yes` typed on a terminal. Otherwise says
    /// why on standard error (not a terminal, or cancelled) and returns false.
    func approve(_ question: String) async -> Bool {
        if autoApprove { return true }
        guard isatty(STDIN_FILENO) == 1 else {
            Stderr.write("kiln \(command): not on a terminal; pass --auto-approve to \(command) without confirmation")
            return false
        }
        FileHandle.standardOutput.write(Data("\n\(question) Only 'yes' will be accepted: ".utf8))
        guard await Self.readLineUnlessCancelled()?.trimmingCharacters(in: .whitespaces) == "yes" else {
            Stderr.write("kiln \(command): cancelled; nothing was changed")
            return false
        }
        return true
    }

    /// A line from stdin, read on a thread of its own so that the wait ends (nil) when the
    /// task is cancelled (an interrupt while the question is asked) rather than blocking a
    /// thread of the concurrency pool until Enter.
    static func readLineUnlessCancelled() async -> String? {
        let line = OneShot<String?>()
        Thread.detachNewThread {
            let read = readLine()
            Task { await line.set(read) }
        }
        return await withTaskCancellationHandler {
            (try? await line.wait()) ?? nil
        } onCancel: {
            Task { await line.set(nil) }
        }
    }

    func warn(_ message: String) {
        Stderr.write("kiln \(command): \(message)")
    }
}
