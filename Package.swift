// swift-tools-version:6.2
import Foundation
import PackageDescription

// The git commit `kiln --version` names: `make install` sets KILN_COMMIT; a plain `swift build`
// has none and says `commit unknown`. Only the small C target below sees the define, so a new
// commit rebuilds one file.
let commit = ProcessInfo.processInfo.environment["KILN_COMMIT"]?
    .filter { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility")
]

let package = Package(
    name: "kiln",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "kiln", targets: ["kiln"]),
        .library(name: "Model", targets: ["Model"]),
        .library(name: "Providers", targets: ["Providers"]),
        .library(name: "Planner", targets: ["Planner"]),
        .library(name: "Reconciler", targets: ["Reconciler"]),
        .library(name: "AzureEmulator", targets: ["AzureEmulator"])
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1")
    ],
    targets: [
        // The build's git commit, for `kiln --version`.
        .target(
            name: "KilnBuildInfo",
            cSettings: commit.map { [.define("KILN_COMMIT", to: "\"\($0)\"")] } ?? []
        ),
        // Manifest types, YAML with source locations, validation, defaults, templates,
        // resource ids and image URNs, content digests, the manifest's JSON Schema.
        .target(
            name: "Model",
            dependencies: [
                "KilnBuildInfo",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto")
            ],
            swiftSettings: strict
        ),
        // The outside world behind protocols: Azure, IMDS, devices, mounts, chroot, journal.
        .target(
            name: "Providers",
            dependencies: [
                "Model",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl")
            ],
            swiftSettings: strict
        ),
        // Observation and the pure diff into a plan; plan rendering.
        .target(
            name: "Planner",
            dependencies: ["Model", "Providers"],
            swiftSettings: strict
        ),
        // The scheduler, executors, journal discipline, cancellation, events.
        .target(
            name: "Reconciler",
            dependencies: [
                "Model", "Planner", "Providers",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto")
            ],
            swiftSettings: strict
        ),
        // The local Azure emulator: ARM, Entra ID, IMDS, loop-device disks.
        .target(
            name: "AzureEmulator",
            dependencies: [
                "Model",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird")
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "kiln",
            dependencies: [
                "Model", "Providers", "Planner", "Reconciler", "AzureEmulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log")
            ],
            swiftSettings: strict
        ),
        // Helpers shared by the test targets: fixtures, the kiln binary runner, root checks.
        .target(
            name: "TestSupport",
            dependencies: ["Model"],
            path: "Tests/TestSupport",
            swiftSettings: strict
        ),
        .testTarget(name: "ModelTests", dependencies: ["Model", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "ProvidersTests", dependencies: ["Providers", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "PlannerTests", dependencies: ["Planner", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "ReconcilerTests", dependencies: ["Reconciler", "AzureEmulator", "TestSupport"], swiftSettings: strict
        ),
        .testTarget(
            name: "AzureEmulatorTests",
            dependencies: [
                "AzureEmulator", "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client")
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "EndToEndTests", dependencies: ["TestSupport"], swiftSettings: strict),
        // Providers against an in-process emulator with real loop devices.
        .testTarget(
            name: "IntegrationTests", dependencies: ["Providers", "AzureEmulator", "TestSupport"], swiftSettings: strict
        ),
        // The robustness matrix (docs/reliability.md): a reduced run in `make test`, the full
        // one with KILN_ROBUSTNESS=full (`make robustness`).
        .testTarget(name: "RobustnessTests", dependencies: ["Model", "Planner", "TestSupport"], swiftSettings: strict)
    ],
    swiftLanguageModes: [.v6]
)
