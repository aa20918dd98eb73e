// swift-tools-version:6.0
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "Converge",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "converge", targets: ["converge"]),
        .executable(name: "cloud-hypervisor-sim", targets: ["cloud-hypervisor-sim"]),
    ],
    targets: [
        // MARK: - C libraries from Debian -dev packages
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CYAML", path: "Sources/CYAML", pkgConfig: "yaml-0.1",
                       providers: [.apt(["libyaml-dev"])]),
        // nftables rules written from inside a slot's namespace without spawning `nft`.
        .systemLibrary(name: "CNFTables", path: "Sources/CNFTables", pkgConfig: "libnftables",
                       providers: [.apt(["libnftables-dev"])]),
        // The Daytona bridge's HTTP client: TLS, proxies and redirects as operators expect of https.
        .systemLibrary(name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),
        // SHA-256 and HMAC for S3 request signing and download digests, from OpenSSL rather than hand-written.
        .systemLibrary(name: "CCrypto", path: "Sources/CCrypto", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),
        // setns, unshare, bind mounts and TUNSETIFF, which Swift's Glibc module hides.
        .target(name: "CSystemShim", path: "Sources/CSystemShim"),

        // MARK: - Layers: Resources → Reconciler → Drivers → CLI
        .target(name: "Resources", dependencies: ["CYAML"], exclude: ["README.md"], swiftSettings: strict),
        .target(name: "Reconciler", dependencies: ["Resources", "CSQLite"], exclude: ["README.md"], swiftSettings: strict),
        .target(name: "Drivers", dependencies: ["Reconciler", "Resources", "CSystemShim", "CNFTables", "ObjectStore"], exclude: ["README.md"], swiftSettings: strict),
        // Daytona jobs → spec files; observed status → job results. Writes only spec files.
        .target(name: "DaytonaBridge", dependencies: ["Resources", "CCurl"], exclude: ["README.md"], swiftSettings: strict),
        // An S3-compatible object-store client (SigV4, multipart, streamed downloads) over libcurl.
        .target(name: "ObjectStore", dependencies: ["CCurl", "CCrypto"], swiftSettings: strict),
        .target(name: "ConvergeCLI", dependencies: ["Resources", "Reconciler", "Drivers", "DaytonaBridge"], swiftSettings: strict),
        .executableTarget(name: "converge", dependencies: ["ConvergeCLI"], swiftSettings: strict),

        // MARK: - Test doubles of the outside world
        .executableTarget(name: "cloud-hypervisor-sim", path: "Sources/cloud-hypervisor-sim", exclude: ["README.md"], swiftSettings: strict),
        .target(name: "TestSupport", dependencies: ["Reconciler", "Resources"], swiftSettings: strict),

        // MARK: - Tests
        .testTarget(name: "ResourcesTests", dependencies: ["Resources", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "ReconcilerTests", dependencies: ["Reconciler", "Resources", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "DriversTests", dependencies: ["Drivers", "Reconciler", "Resources"], swiftSettings: strict),
        .testTarget(name: "CLITests", dependencies: ["Drivers", "ConvergeCLI"], swiftSettings: strict),
        .testTarget(name: "DaytonaBridgeTests", dependencies: ["DaytonaBridge", "Resources"], swiftSettings: strict),
        .testTarget(name: "ObjectStoreTests", dependencies: ["ObjectStore"], swiftSettings: strict),
        .testTarget(name: "SimulatorTests", dependencies: [], path: "Tests/SimulatorTests", swiftSettings: strict),
    ]
)
