import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Turns SIGINT and SIGTERM into `InterruptController.interrupt()` calls: the one signal
/// path of the kiln process, installed around `apply` and `destroy` and by
/// `kiln emulator serve` while it serves. The first signal asks for a graceful stop, the
/// second for an immediate one, and a third (an executor that ignores cancellation)
/// exits the process at once with status 130 unless `exitsOnThirdSignal` is false. The
/// journal stays consistent in every case because each of its writes is atomic.
///
/// The signals' default actions are replaced by `SIG_IGN` while installed (so the
/// process is not killed before the dispatch source sees them) and restored by
/// `cancel()`.
public final class SignalHandling: Sendable {
    /// Signals handled by default.
    public static let defaultSignals: [Int32] = [SIGINT, SIGTERM]

    private struct State {
        var sources: [any DispatchSourceSignal]
        var previous: [(Int32, (@convention(c) (Int32) -> Void)?)]
        var count = 0
        var cancelled = false
    }

    // The dispatch sources are not declared Sendable; they are only touched under this
    // mutex (created in `install`, cancelled in `cancel`), and their handlers only touch
    // Sendable state.
    private let state: Mutex<State>
    private let controller: InterruptController
    private let onSignal: @Sendable (InterruptController.Level) -> Void
    private let exitsOnThirdSignal: Bool

    private init(
        controller: InterruptController, exitsOnThirdSignal: Bool,
        onSignal: @escaping @Sendable (InterruptController.Level) -> Void
    ) {
        self.controller = controller
        self.exitsOnThirdSignal = exitsOnThirdSignal
        self.onSignal = onSignal
        self.state = Mutex(State(sources: [], previous: []))
    }

    /// Installs handlers for `signals` that drive `controller`; `onSignal` is called with
    /// the level each signal reached (e.g. to print "press Ctrl-C again to stop at
    /// once" when no apply is running yet). Handlers run on a private dispatch queue.
    public static func install(
        controller: InterruptController, signals: [Int32] = defaultSignals,
        exitsOnThirdSignal: Bool = true,
        onSignal: @escaping @Sendable (InterruptController.Level) -> Void = { _ in }
    ) -> SignalHandling {
        let handling = SignalHandling(
            controller: controller, exitsOnThirdSignal: exitsOnThirdSignal,
            onSignal: onSignal)
        let queue = DispatchQueue(label: "kiln.signals")
        handling.state.withLock { state in
            for number in signals {
                // Ignore first: a signal arriving between the two steps must not kill us.
                let previous = signal(number, SIG_IGN)
                state.previous.append((number, previous))
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                source.setEventHandler { [weak handling] in handling?.received() }
                source.resume()
                state.sources.append(source)
            }
        }
        return handling
    }

    private func received() {
        let count = state.withLock { s -> Int in
            s.count += 1
            return s.cancelled ? 0 : s.count
        }
        guard count > 0 else { return }
        if count >= 3 && exitsOnThirdSignal {
            // The second interrupt could not stop it: leave now, as Terraform does.
            let message =
                "kiln: third interrupt, exiting immediately; the journal is consistent, run kiln apply again to resume\n"
            _ = message.withCString { write(STDERR_FILENO, $0, strlen($0)) }
            _exit(130)
        }
        onSignal(controller.interrupt())
    }

    /// How many signals were received.
    public var signalCount: Int { state.withLock { $0.count } }

    /// Stops handling and restores the signals' previous dispositions; idempotent.
    public func cancel() {
        state.withLock { s in
            guard !s.cancelled else { return }
            s.cancelled = true
            for source in s.sources { source.cancel() }
            for (number, previous) in s.previous { signal(number, previous) }
            s.sources = []
        }
    }

    deinit { cancel() }
}
