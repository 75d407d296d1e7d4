// swift-tools-version:6.2
import PackageDescription

// Layout: Shared/ holds the libraries (pure domain, neural network, data, messaging,
// store, service runtime, C shims); Services/ holds one thin executable per process.
let package = Package(
    name: "skinr1",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "skinr1", targets: ["skinr1"]),
        .executable(name: "trajectory-synthesizer", targets: ["trajectory-synthesizer"]),
        .executable(name: "rollout-generator", targets: ["rollout-generator"]),
        .executable(name: "reward-scorer", targets: ["reward-scorer"]),
        .executable(name: "learner", targets: ["learner"]),
        .executable(name: "evaluator", targets: ["evaluator"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
    ],
    targets: [
        // C libraries of the system, found through pkg-config.
        .systemLibrary(name: "CRDKafka", path: "Shared/CRDKafka", pkgConfig: "rdkafka",
                       providers: [.apt(["librdkafka-dev"])]),
        .systemLibrary(name: "CLibPQ", path: "Shared/CLibPQ", pkgConfig: "libpq",
                       providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "COpenBLAS", path: "Shared/COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CTurboJPEG", path: "Shared/CTurboJPEG", pkgConfig: "libturbojpeg",
                       providers: [.apt(["libturbojpeg0-dev"])]),

        // Pure domain core: taxonomy, DDx graph, questions, trajectories, rewards. No I/O.
        .target(name: "Domain", path: "Shared/Domain"),
        // GRPO objective, staleness bound and rollout admission (pure).
        .target(name: "Training", path: "Shared/Training"),
        // The policy: transformer, tokenizer, LoRA, AdamW, safetensors, sampling.
        .target(name: "NeuralNet", dependencies: ["COpenBLAS"], path: "Shared/NeuralNet"),
        // OPENBLAS_CORETYPE selection before the BLAS library loads.
        .target(name: "BLASKernel", dependencies: ["COpenBLAS"], path: "Shared/BLASKernel"),
        // SHA-256 for content-addressed blobs and checksums (pure).
        .target(name: "ContentHash", path: "Shared/ContentHash"),
        // Capped exponential backoff with jitter, shared by the bus, the store and the services.
        .target(name: "Backoff", dependencies: [
            .product(name: "Logging", package: "swift-log"),
        ], path: "Shared/Backoff"),
        // Kafka bus over librdkafka.
        .target(name: "Messaging", dependencies: [
            "CRDKafka", "Backoff", .product(name: "Logging", package: "swift-log"),
        ], path: "Shared/Messaging"),
        // PostgreSQL store over libpq, migrations, private clusters.
        .target(name: "Store", dependencies: [
            "CLibPQ", "Backoff", "ContentHash", .product(name: "Logging", package: "swift-log"),
        ], path: "Shared/Store"),
        // Knowledge data files (taxonomy, DDx graph, rules, label maps) and their loader.
        .target(name: "Knowledge", dependencies: ["Domain"], path: "Shared/Knowledge",
                resources: [.copy("data")]),
        // Synthetic corpus and dataset ingestion (images through libturbojpeg).
        .target(name: "DataSynth", dependencies: ["Domain", "ContentHash", "CTurboJPEG"], path: "Shared/DataSynth"),
        // Writes knowledge and data into the store: seeding, the synthetic corpus, dataset ingestion.
        .target(name: "Catalogue", dependencies: [
            "Domain", "Knowledge", "DataSynth", "Store", .product(name: "Logging", package: "swift-log"),
        ], path: "Shared/Catalogue"),
        // The policy at work in services: weights as blobs, images, prompt encoding, a model thread.
        .target(name: "PolicyRuntime", dependencies: ["NeuralNet", "DataSynth", "Store"], path: "Shared/PolicyRuntime"),
        // The messages of the pipeline's topics.
        .target(name: "Pipeline", dependencies: ["Domain", "Messaging", "Store"], path: "Shared/Pipeline"),
        // The work of each service (learner, rollout generation, scoring, evaluation, synthesis).
        .target(name: "Workers", dependencies: [
            "Domain", "Knowledge", "Training", "NeuralNet", "PolicyRuntime", "Pipeline", "Catalogue",
            "Messaging", "Store", "ServiceRuntime", "DataSynth", "Backoff",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], path: "Shared/Workers"),
        // What every process shares: configuration, logging, heartbeats, retry, shutdown.
        .target(name: "ServiceRuntime", dependencies: [
            "Messaging", "Store", "BLASKernel", "Backoff",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Shared/ServiceRuntime"),

        .executableTarget(name: "skinr1", dependencies: [
            "ServiceRuntime", "Messaging", "Store", "BLASKernel", "Domain", "Knowledge", "NeuralNet", "DataSynth", "Catalogue",
            "Pipeline", "Workers", "PolicyRuntime", "Training", "Backoff",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Services/skinr1"),
        .executableTarget(name: "trajectory-synthesizer", dependencies: [
            "ServiceRuntime", "Domain", "Workers", "Pipeline",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Services/trajectory-synthesizer"),
        .executableTarget(name: "rollout-generator", dependencies: [
            "ServiceRuntime", "Domain", "NeuralNet", "Workers", "Pipeline",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Services/rollout-generator"),
        .executableTarget(name: "reward-scorer", dependencies: [
            "ServiceRuntime", "Domain", "Workers", "Pipeline",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Services/reward-scorer"),
        .executableTarget(name: "learner", dependencies: [
            "ServiceRuntime", "Domain", "NeuralNet", "Workers", "Pipeline",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Services/learner"),
        .executableTarget(name: "evaluator", dependencies: [
            "ServiceRuntime", "Domain", "NeuralNet", "Workers", "Pipeline",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Services/evaluator"),

        // What the test targets share: locating the built executables, child processes.
        .target(name: "TestSupport", dependencies: ["Store", "Messaging", .product(name: "Logging", package: "swift-log")], path: "Tests/TestSupport"),
        .testTarget(name: "DomainTests", dependencies: ["Domain", "Knowledge"], path: "Tests/DomainTests"),
        .testTarget(name: "CatalogueTests", dependencies: ["Catalogue", "TestSupport"], path: "Tests/CatalogueTests"),
        .testTarget(name: "ContentHashTests", dependencies: ["ContentHash"], path: "Tests/ContentHashTests"),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Domain", "Messaging"], path: "Tests/PipelineTests"),
        .testTarget(name: "WorkersTests", dependencies: ["Workers", "TestSupport", "Store", "Messaging", "Pipeline", "Training"], path: "Tests/WorkersTests"),
        .testTarget(name: "TrainingTests", dependencies: ["Training"], path: "Tests/TrainingTests"),
        .testTarget(name: "DataSynthTests", dependencies: ["DataSynth"], path: "Tests/DataSynthTests"),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet"], path: "Tests/NeuralNetTests"),
        .testTarget(name: "MessagingTests", dependencies: ["Messaging", "CRDKafka", "TestSupport"], path: "Tests/MessagingTests"),
        .testTarget(name: "StoreTests", dependencies: ["Store", "TestSupport"], path: "Tests/StoreTests"),
        .testTarget(name: "IntegrationTests", dependencies: [
            "Messaging", "Store", "ServiceRuntime", "BLASKernel", "Backoff", "TestSupport",
        ], path: "Tests/IntegrationTests"),
    ],
    swiftLanguageModes: [.v6]
)
