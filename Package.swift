// swift-tools-version: 6.0
import PackageDescription

// `PADDOCK_FUZZ=1` (scripts/fuzz.sh, in its own scratch path) adds the libFuzzer targets and instruments the
// parsers for coverage; without it nothing below changes the build.
let fuzzing = Context.environment["PADDOCK_FUZZ"] == "1"
let fuzzCoverage: [SwiftSetting] = fuzzing ? [.unsafeFlags(["-sanitize=fuzzer"])] : []

// Versions are the ones this project's machines carry; see the README before changing them.
let package = Package(
    name: "paddock",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "paddock", targets: ["paddock"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", exact: "0.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", exact: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
    ],
    targets: [
        .executableTarget(
            name: "paddock",
            dependencies: ["PaddockCommands"]
        ),
        // Flags to requests: each command translates its options and calls the session library.
        .target(
            name: "PaddockCommands",
            dependencies: [
                "PaddockCore", "PaddockEngine", "PaddockSession", "PaddockWorkspace",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The session lifecycle: configuration and trust, image, workspace, gateway, start, teardown, records and
        // orphans, run against a context whose engine, runner, clock, signals and output tests replace.
        .target(
            name: "PaddockSession",
            dependencies: [
                "PaddockCore", "PaddockEngine", "PaddockGateway", "PaddockWorkspace",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Pure values and functions: config, policy, plans, the rendered Dockerfile. No processes, no engine; the few
        // host lookups the planner takes as parameters sit together in HostLookups.swift.
        .target(
            name: "PaddockCore",
            dependencies: [
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: fuzzCoverage
        ),
        // The container engine and the process runner behind protocols, with their real implementations.
        .target(
            name: "PaddockEngine",
            dependencies: [
                "PaddockCore",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The egress gateway: the sandbox's only way out.
        .target(
            name: "PaddockGateway",
            dependencies: [
                "PaddockCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSOCKS", package: "swift-nio-extras"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: fuzzCoverage
        ),
        // Hosts the gateway, an origin and a load generator for bench/gateway (not shipped).
        .executableTarget(
            name: "paddock-gateway-bench",
            dependencies: [
                "PaddockGateway", "PaddockCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Sources/PaddockGatewayBench"
        ),
        // Where the agent's work lives: mount mode protections and per-session git clones.
        .target(
            name: "PaddockWorkspace",
            dependencies: ["PaddockCore"],
            swiftSettings: fuzzCoverage
        ),
        .target(
            name: "PaddockTestSupport",
            dependencies: ["PaddockCore", "PaddockEngine"]
        ),
        .testTarget(name: "PaddockCoreTests", dependencies: ["PaddockCore", "PaddockTestSupport"]),
        .testTarget(name: "PaddockEngineTests", dependencies: ["PaddockEngine", "PaddockTestSupport"]),
        .testTarget(name: "PaddockSessionTests", dependencies: ["PaddockSession", "PaddockTestSupport"]),
        .testTarget(
            name: "PaddockGatewayTests",
            dependencies: [
                "PaddockGateway", "PaddockCore", "PaddockTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .testTarget(
            name: "PaddockWorkspaceTests", dependencies: ["PaddockWorkspace", "PaddockEngine", "PaddockTestSupport"]
        ),
        .testTarget(
            name: "PaddockIntegrationTests",
            dependencies: ["PaddockCore", "PaddockEngine", "PaddockTestSupport"]
        ),
    ]
)

if fuzzing {
    package.targets += [
        // One binary for every fuzz target (PADDOCK_FUZZ_TARGET picks one): one link instead of four.
        .target(
            name: "PaddockFuzz",
            dependencies: [
                "PaddockCore", "PaddockGateway", "PaddockWorkspace",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/Fuzz/PaddockFuzz",
            swiftSettings: fuzzCoverage
        ),
        // C, so SwiftPM does not rename a Swift entry point onto `main`: libFuzzer's own `main` runs.
        .executableTarget(
            name: "paddock-fuzz",
            dependencies: ["PaddockFuzz"],
            path: "Tests/Fuzz/paddock-fuzz",
            linkerSettings: [.unsafeFlags(["-sanitize=fuzzer"])]
        ),
    ]
    package.products.append(.executable(name: "paddock-fuzz", targets: ["paddock-fuzz"]))
}
