// swift-tools-version: 6.2
import PackageDescription

// One settings array for every target (style.md): Swift 6 mode, strict
// concurrency, upcoming features that keep imports and existentials explicit.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .unsafeFlags(["-warnings-as-errors"]),
]

let package = Package(
    name: "tb-gateway",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tb-gateway", targets: ["Gateway"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
    ],
    targets: [
        // MARK: System libraries (Debian packages through pkg-config)
        .systemLibrary(
            name: "CRdKafka",
            path: "Sources/Processor/CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        .systemLibrary(
            name: "CMosquitto",
            path: "Sources/Transports/CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]
        ),

        // MARK: Processor
        .target(
            name: "ProcessorAPI",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Sources/Processor/API",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Processor",
            dependencies: [
                "ProcessorAPI",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Processor/Core",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KafkaSink",
            dependencies: [
                "ProcessorAPI", "CRdKafka",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Processor/Kafka",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "HTTPSink",
            dependencies: [
                "ProcessorAPI",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Processor/HTTPSink",
            swiftSettings: swiftSettings
        ),

        // MARK: Auth
        .target(
            name: "Auth",
            dependencies: [
                "ProcessorAPI",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Auth",
            swiftSettings: swiftSettings
        ),

        // MARK: Transports
        .target(
            name: "HTTPTransport",
            dependencies: [
                "ProcessorAPI", "Auth",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Transports/HTTP",
            swiftSettings: swiftSettings
        ),

        .target(
            name: "MQTTCodec",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            path: "Sources/Transports/MQTTCodec",
            swiftSettings: swiftSettings
        ),

        .target(
            name: "MQTTTransport",
            dependencies: [
                "MQTTCodec", "ProcessorAPI", "Auth",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Transports/MQTT",
            swiftSettings: swiftSettings
        ),

        .target(
            name: "MQTTBridgeTransport",
            dependencies: [
                "CMosquitto", "ProcessorAPI", "Auth",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Transports/MQTTBridge",
            swiftSettings: swiftSettings
        ),

        .target(
            name: "CoAPCodec",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            path: "Sources/Transports/CoAPCodec",
            swiftSettings: swiftSettings
        ),

        .target(
            name: "CoAPEndpoint",
            dependencies: [
                "CoAPCodec", "ProcessorAPI",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Transports/CoAPEndpoint",
            swiftSettings: swiftSettings
        ),

        .target(
            name: "CoAPTransport",
            dependencies: [
                "CoAPEndpoint", "CoAPCodec", "ProcessorAPI", "Auth",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Transports/CoAP",
            swiftSettings: swiftSettings
        ),

        // MARK: LwM2M
        .target(
            name: "LwM2M",
            dependencies: [
                "CoAPEndpoint", "CoAPCodec", "ProcessorAPI", "Auth",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/LwM2M",
            exclude: ["Models"],
            swiftSettings: swiftSettings
        ),

        // MARK: Executable (the one composition root)
        // MARK: Load generator (issue 8)
        .target(
            name: "Bench",
            dependencies: [
                "ProcessorAPI", "MQTTCodec", "CoAPCodec",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            path: "Sources/Bench",
            swiftSettings: swiftSettings
        ),

        .executableTarget(
            name: "Gateway",
            dependencies: [
                "ProcessorAPI", "Processor", "KafkaSink", "HTTPSink", "Auth", "HTTPTransport", "MQTTTransport", "MQTTBridgeTransport", "CoAPTransport", "CoAPEndpoint", "LwM2M", "Bench",
                "MQTTCodec",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/Gateway",
            swiftSettings: swiftSettings,
            // mimalloc replaces glibc's malloc for the whole process (Swift,
            // NIO and librdkafka): records are allocated on one thread and
            // freed on another (the delivery-report thread), which glibc
            // serves from its locked arenas. docs/performance.md has the runs.
            linkerSettings: [.linkedLibrary("mimalloc")]
        ),

        // MARK: Tests
        .target(
            name: "TestSupport",
            dependencies: [
                "KafkaSink", "CRdKafka", "ProcessorAPI",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ProcessorAPITests",
            dependencies: ["ProcessorAPI", .product(name: "NIOCore", package: "swift-nio")],
            path: "Tests/ProcessorAPITests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ProcessorTests",
            dependencies: [
                "Processor", "ProcessorAPI", "KafkaSink", "HTTPSink", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/ProcessorTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MQTTCodecTests",
            dependencies: [
                "MQTTCodec",
                "ProcessorAPI",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            path: "Tests/MQTTCodecTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HTTPTransportTests",
            dependencies: [
                "HTTPTransport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/HTTPTransportTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BenchTests",
            dependencies: ["Bench", "CoAPCodec", "ProcessorAPI", .product(name: "NIOCore", package: "swift-nio")],
            path: "Tests/BenchTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CoAPCodecTests",
            dependencies: ["CoAPCodec", "ProcessorAPI", .product(name: "NIOCore", package: "swift-nio")],
            path: "Tests/CoAPCodecTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CoAPEndpointTests",
            dependencies: [
                "CoAPEndpoint", "CoAPCodec",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/CoAPEndpointTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LwM2MTests",
            dependencies: [
                "LwM2M", "Auth", "CoAPCodec", "CoAPEndpoint", "ProcessorAPI",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/LwM2MTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AuthTests",
            dependencies: ["Auth", "ProcessorAPI", .product(name: "GRDB", package: "GRDB.swift")],
            path: "Tests/AuthTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "TestSupport", "KafkaSink", "CRdKafka", "MQTTBridgeTransport", "ProcessorAPI",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Tests/IntegrationTests",
            exclude: ["Scripts"],
            swiftSettings: swiftSettings
        ),
    ]
)
