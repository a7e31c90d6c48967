import Foundation
import Synchronization
import Testing

/// What a test must undo when it ends, awaited: the async counterpart of `defer` (whose body
/// cannot await). Fixtures that start processes or take machine resources (the served
/// emulator, kiln in the background, scratch directories with their mount roots) register
/// their cleanup here; the `.endToEnd` trait runs the cleanups after the test returns or
/// throws, phase by phase, and in a phase last registered first.
public final class TestScope: Sendable {
    @TaskLocal public static var current: TestScope?

    /// The order cleanups run in: processes are stopped before what they use is unmounted,
    /// mounts go before the emulator detaches the devices under them, and files last.
    public enum Phase: Int, Sendable, Comparable {
        case processes, mounts, services, files
        public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    }

    private let cleanups = Mutex<[(phase: Phase, run: @Sendable () async -> Void)]>([])

    public init() {}

    /// Registers `cleanup` with the running test's scope; throws when the test has none
    /// (its suite lacks the `.endToEnd` trait), so nothing is left behind unnoticed.
    public static func onExit(_ phase: Phase, _ cleanup: @escaping @Sendable () async -> Void) throws {
        try required().onExit(phase, cleanup)
    }

    /// Throws unless the running test has a scope (a fixture checks before it starts anything).
    public static func required() throws -> TestScope {
        guard let scope = current else {
            throw FixtureError("this fixture cleans up after the test: give the suite or test the .endToEnd trait")
        }
        return scope
    }

    /// Registers `cleanup` with this scope.
    public func onExit(_ phase: Phase, _ cleanup: @escaping @Sendable () async -> Void) {
        cleanups.withLock { $0.append((phase, cleanup)) }
    }

    /// Runs the registered cleanups (each once): the earliest phase first, in a phase the
    /// last registered first.
    public func run() async {
        while let next = cleanups.withLock({ list -> (@Sendable () async -> Void)? in
            guard let phase = list.map(\.phase).min(),
                let index = list.lastIndex(where: { $0.phase == phase })
            else { return nil }
            return list.remove(at: index).run
        }) {
            await next()
        }
    }

    /// Runs `body` with a fresh scope, then its cleanups, however `body` ends.
    public static func with<T>(_ body: () async throws -> T) async throws -> T {
        let scope = TestScope()
        do {
            let result = try await $current.withValue(scope) { try await body() }
            await scope.run()
            return result
        } catch {
            await scope.run()
            throw error
        }
    }
}

/// For tests that start processes and take machine resources (the end-to-end and robustness
/// suites): each test (each case of a parameterised test) gets a `TestScope`, whose cleanups
/// run when it ends, and holds one of a few machine slots while it runs (`MachineSlots`), so
/// suites running beside each other and beside the unit tests keep the machine's load bearable.
public struct EndToEndTrait: TestTrait, SuiteTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func provideScope(
        for test: Test, testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        guard testCase != nil else { return try await function() }
        await MachineSlots.shared.acquire()
        do {
            try await TestScope.with { try await function() }
        } catch {
            await MachineSlots.shared.release()
            throw error
        }
        await MachineSlots.shared.release()
    }
}

extension Trait where Self == EndToEndTrait {
    /// A `TestScope` per test, and a machine slot while it runs.
    public static var endToEnd: Self { EndToEndTrait() }
}

/// At most `width` end-to-end tests run at once (`KILN_E2E_WIDTH`, default 2); the others
/// wait for a slot without holding a thread.
public actor MachineSlots {
    public static let shared = MachineSlots(
        width: ProcessInfo.processInfo.environment["KILN_E2E_WIDTH"].flatMap { Int($0) }.map { max(1, $0) } ?? 2)

    private var free: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public init(width: Int) { free = width }

    public func acquire() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    public func release() {
        if waiters.isEmpty {
            free += 1
        } else {
            waiters.removeFirst().resume()
        }
    }
}
