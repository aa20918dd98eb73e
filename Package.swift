// swift-tools-version:6.0
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "Converge",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "converge", targets: ["converge"]),
        // SIM .executable(name: "cloud-hypervisor-sim", targets: ["cloud-hypervisor-sim"]),
    ],
    targets: [
        // MARK: - C libraries from Debian -dev packages
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CYAML", path: "Sources/CYAML", pkgConfig: "yaml-0.1",
                       providers: [.apt(["libyaml-dev"])]),

        // MARK: - Layers: Resources → Reconciler → Drivers → CLI
        .target(name: "Resources", dependencies: ["CYAML"], swiftSettings: strict),
        .target(name: "Reconciler", dependencies: ["Resources", "CSQLite"], swiftSettings: strict),
        .target(name: "Drivers", dependencies: ["Reconciler", "Resources"], swiftSettings: strict),
        .target(name: "ConvergeCLI", dependencies: ["Resources", "Reconciler", "Drivers"], swiftSettings: strict),
        .executableTarget(name: "converge", dependencies: ["ConvergeCLI"], swiftSettings: strict),

        // MARK: - Test doubles of the outside world
        // SIM .executableTarget(name: "cloud-hypervisor-sim", path: "Sources/cloud-hypervisor-sim", swiftSettings: strict),
        .target(name: "TestSupport", dependencies: ["Reconciler", "Resources"], swiftSettings: strict),

        // MARK: - Tests
        .testTarget(name: "ResourcesTests", dependencies: ["Resources"], swiftSettings: strict),
        .testTarget(name: "ReconcilerTests", dependencies: ["Reconciler", "Resources", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "DriversTests", dependencies: ["Drivers", "Reconciler", "Resources"], swiftSettings: strict),
        .testTarget(name: "CLITests", dependencies: [], swiftSettings: strict),
        // SIM .testTarget(name: "SimulatorTests", dependencies: [], path: "Tests/SimulatorTests", swiftSettings: strict),
    ]
)
