import Foundation
import Glibc
import Testing

/// The snapshot registry against a real S3-compatible server on loopback (moto, with
/// signatures checked): push, pull into another state directory and restore there,
/// prune, a resumed multipart upload, a corrupted part, wrong credentials, and the secret
/// kept out of every file and output.
@Suite("Snapshot registry on an S3-compatible store", .serialized)
struct RegistryTests {
    typealias Specs = CrashSafetyTests

    /// A snapshot directory Converge did not make, adopted by `source.path`: a disk, 40 MiB
    /// of random data (8 parts of 5 MiB) and a small file (one part).
    static func fixture(_ h: CLIHarness) throws -> String {
        let directory = "\(h.root)/fixture"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        #expect(CLIHarness.exec(["/usr/bin/qemu-img", "create", "-q", "-f", "qcow2", "\(directory)/disk.qcow2", "1G"]).status == 0)
        let random = try #require(FileHandle(forReadingAtPath: "/dev/urandom"))
        try #require(try random.read(upToCount: 40 << 20)).write(to: URL(fileURLWithPath: "\(directory)/data.bin"))
        try Data("{\"note\": \"a small file: one part\"}\n".utf8).write(to: URL(fileURLWithPath: "\(directory)/notes.json"))
        return directory
    }

    /// Snapshot `NAME` of the fixture, pushed to `acme/NAME`.
    static func pushing(_ directory: String, name: String = "s", prune: Bool = false) -> String {
        "---\napiVersion: converge.dev/v1\nkind: Snapshot\nmetadata: {name: \(name), labels: {org: acme}}\nspec: {source: {path: \(directory)}, memory: false, registry: {push: true, prune: \(prune)}}\n"
    }

    /// Snapshot `golden` pulled from `location`.
    static func pulling(_ location: String) -> String {
        "---\napiVersion: converge.dev/v1\nkind: Snapshot\nmetadata: {name: golden}\nspec: {source: {registry: \(location)}}\n"
    }

    static func registry(_ h: CLIHarness, _ name: String) -> [String: Any]? {
        SnapshotCLITests.snapshotRow(h, name)?["registry"] as? [String: Any]
    }

    @Test("push, manifest last; pull into another state directory: the same bytes, as files of its own")
    func pushAndPull() throws {
        let store = try S3Fixture()
        let h = try CLIHarness()
        h.environment = store.environment(partSize: "5Mi")
        let fixture = try Self.fixture(h)
        try h.setSpecs(Self.pushing(fixture))
        let push = h.converge("apply", h.specs)
        #expect(push.status == 0, "\(push.output)")
        let pushed = try #require(Self.registry(h, "s"))
        #expect(pushed["state"] as? String == "pushed" && pushed["location"] as? String == "acme/s", "\(pushed)")
        #expect(h.converge("get", "snapshots").stdout.contains("pushed acme/s"))
        #expect(Set(store.keys(under: "acme/s/")) == ["acme/s/data.bin", "acme/s/notes.json", "acme/s/disk.qcow2", "acme/s/manifest.json"])
        let puts = store.requests().filter { $0.contains("\"PUT /\(store.bucket)/acme/s/") && !$0.contains("uploadId=") }
        #expect(puts.last?.contains("acme/s/manifest.json") == true, "the manifest goes last: \(puts)")
        #expect(store.requests().filter { $0.contains("/acme/s/data.bin?partNumber=") }.count == 8)
        #expect(h.converge("plan", h.specs).stdout.contains("No changes"), "\(h.converge("plan", h.specs).output)")

        let other = try CLIHarness()
        other.environment = store.environment(partSize: "5Mi")
        try other.setSpecs(Self.pulling("acme/s"))
        let pull = other.converge("apply", other.specs)
        #expect(pull.status == 0, "\(pull.output)")
        #expect(Self.registry(other, "golden")?["state"] as? String == "pulled")
        let directory = "\(other.state)/ch/snapshots/golden"
        for file in ["data.bin", "notes.json", "disk.qcow2"] {
            let sums = ["\(directory)/\(file)", "\(fixture)/\(file)"].map { CLIHarness.exec(["/usr/bin/sha256sum", $0]).stdout.prefix(64) }
            #expect(sums[0].count == 64 && sums[0] == sums[1], "\(file)")
        }
        var info = stat()
        #expect(lstat("\(directory)/data.bin", &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG, "a pulled file is its own, not a link")
        #expect(!FileManager.default.fileExists(atPath: "\(other.state)/ch/snapshots/.pull-golden"))
    }

    @Test("deleting a Snapshot deletes its remote copy only with prune; the registry answers 404 for what it lacks")
    func pruneAndMissing() throws {
        let store = try S3Fixture()
        let h = try CLIHarness()
        h.environment = store.environment(partSize: "5Mi")
        let fixture = try Self.fixture(h)
        try h.setSpecs(Self.pushing(fixture) + Self.pushing(fixture, name: "p", prune: true))
        #expect(h.converge("apply", h.specs).status == 0)
        #expect(store.keys(under: "acme/p/").contains("acme/p/manifest.json"))
        #expect(store.keys(under: "acme/s/").contains("acme/s/manifest.json"))

        try h.setSpecs(Specs.specs(sandbox: false, poolSize: 1))
        let removed = h.converge("apply", h.specs)
        #expect(removed.status == 0, "\(removed.output)")
        #expect(store.keys(under: "acme/p/").isEmpty, "prune: true deletes the remote copy")
        #expect(store.keys(under: "acme/s/").contains("acme/s/manifest.json"), "without prune the remote copy stays")
        #expect(FileManager.default.fileExists(atPath: "\(fixture)/data.bin"), "an adopted directory stays the user's")

        // A snapshot the registry does not hold: one clear condition, nothing half-made.
        try h.setSpecs(Self.pulling("acme/missing"))
        let missing = h.converge("apply", h.specs, "--allow-empty")
        #expect(missing.status != 0)
        let record = try #require(Self.registry(h, "golden"))
        #expect(record["state"] as? String == "failed" && (record["reason"] as? String ?? "").contains("not in the registry"), "\(record)")
        #expect(h.converge("get", "snapshots").stdout.contains("failed pull"))
        #expect(!FileManager.default.fileExists(atPath: "\(h.state)/ch/snapshots/golden"))
        // Dropping the spec removes the unfinished pull's folder.
        try h.setSpecs(Specs.specs(sandbox: false, poolSize: 1))
        #expect(h.converge("apply", h.specs).status == 0)
        #expect(!FileManager.default.fileExists(atPath: "\(h.state)/ch/snapshots/.pull-golden"))
    }

    @Test("a push killed half-way through a multipart upload resumes: parts that landed are not sent again")
    func resumedUpload() throws {
        let store = try S3Fixture()
        let h = try CLIHarness()
        h.environment = store.environment(partSize: "5Mi")
        try h.setSpecs(Self.pushing(try Self.fixture(h)))
        let crashed = h.converge(["apply", h.specs], environment: ["CONVERGE_CRASH_AT": "registry.part:3:after"])
        #expect(crashed.status != 0, "the crash hook killed it")
        let directory = "\(h.state)/ch/snapshots/s"
        let ledger = try #require(h.json(try String(contentsOfFile: "\(directory)/.registry-transfer.json", encoding: .utf8)) as? [String: Any])
        let data = try #require((ledger["files"] as? [String: Any])?["data.bin"] as? [String: Any], "\(ledger)")
        let landed = Set(((data["parts"] as? [String: Any]) ?? [:]).keys.compactMap(Int.init))
        #expect(landed.count == 3, "\(data)")
        #expect(Self.registry(h, "s")?["state"] as? String == "pushing")
        #expect(!store.keys(under: "acme/s/").contains("acme/s/manifest.json"), "an unfinished push is not in the registry")

        let resumed = h.converge("apply", h.specs)
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(Self.registry(h, "s")?["state"] as? String == "pushed")
        var sent: [Int: Int] = [:]
        for line in store.requests() where line.contains("\"PUT /\(store.bucket)/acme/s/data.bin?") && line.contains("partNumber=") {
            let number = line.components(separatedBy: "partNumber=")[1].prefix { $0.isNumber }
            sent[Int(number)!, default: 0] += 1
        }
        #expect(sent.keys.sorted() == Array(1...8), "every part of 40 MiB in 5 MiB parts went up: \(sent)")
        for part in landed { #expect(sent[part] == 1, "part \(part) landed before the crash and was sent \(sent[part] ?? 0) times") }
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/.registry-transfer.json"))
        let completes = store.requests().filter { $0.contains("\"POST /\(store.bucket)/acme/s/data.bin?uploadId=") }
        #expect(completes.count == 1, "one upload, completed once: \(completes)")
    }

    @Test("a part corrupted in the store is caught by its checksum; the pulled snapshot never appears")
    func corruptedPart() throws {
        let store = try S3Fixture()
        let h = try CLIHarness()
        h.environment = store.environment(partSize: "5Mi")
        let fixture = try Self.fixture(h)
        try h.setSpecs(Self.pushing(fixture))
        #expect(h.converge("apply", h.specs).status == 0)
        // Same length, other bytes: only a checksum can tell.
        var corrupt = try #require(FileManager.default.contents(atPath: "\(fixture)/notes.json"))
        corrupt[corrupt.count / 2] ^= 0x20
        let file = "\(h.root)/notes.json.corrupt"
        try corrupt.write(to: URL(fileURLWithPath: file))
        #expect(store.aws(["s3", "cp", "--quiet", file, "s3://\(store.bucket)/acme/s/notes.json"]).status == 0)

        try h.setSpecs(Self.pushing(fixture) + Self.pulling("acme/s"))
        let pull = h.converge("apply", h.specs)
        #expect(pull.status != 0)
        let record = try #require(Self.registry(h, "golden"))
        #expect(record["state"] as? String == "failed" && (record["reason"] as? String ?? "").contains("notes.json (part 1) have SHA-256"), "\(record)")
        #expect(!FileManager.default.fileExists(atPath: "\(h.state)/ch/snapshots/golden"))
    }

    @Test("wrong credentials give one clear condition and one request; the secret is in no file and no output")
    func wrongCredentialsAndSecrets() throws {
        let store = try S3Fixture()
        let h = try CLIHarness()
        let wrong = "wrong-\(UUID().uuidString)"
        h.environment = store.environment(secret: wrong, partSize: "5Mi")
        try h.setSpecs(Self.pushing(try Self.fixture(h)))
        let before = store.requests().count
        let denied = h.converge("apply", h.specs)
        #expect(denied.status != 0)
        #expect(store.requests().count - before == 1, "\(store.requests().dropFirst(before))")
        let record = try #require(Self.registry(h, "s"))
        #expect(record["state"] as? String == "failed" && (record["reason"] as? String ?? "").contains("SignatureDoesNotMatch"), "\(record)")
        #expect(h.converge("get", "snapshots", "s").stdout.contains("failed push"))

        // Right credentials: pushed, and the secret nowhere.
        h.environment = store.environment(partSize: "5Mi")
        let pushed = h.converge("apply", h.specs)
        #expect(pushed.status == 0, "\(pushed.output)")
        var outputs = denied.output + pushed.output
        for args in [["get", "snapshots", "--json"], ["get", "snapshots"], ["events"], ["status", "--json"], ["plan", h.specs, "--json"], ["apply", h.specs, "-v"]] {
            outputs += h.converge(args, environment: ["AWS_SECRET_ACCESS_KEY": wrong]).output
        }
        for secret in [store.secretAccessKey, wrong] {
            #expect(!outputs.contains(secret), "the secret is in the output")
            let grep = CLIHarness.exec(["/usr/bin/grep", "-rl", "--binary-files=text", "-F", secret, h.state])
            #expect(grep.stdout.isEmpty && grep.status == 1, "the secret is in \(grep.output)")
        }
    }
}

/// The registry's acceptance on a real guest: a warm snapshot pushed from one state
/// directory, pulled into another, and restored there with the guest's memory intact.
@Suite("Snapshot registry with a real guest", .serialized, .enabled(if: TestGuest.available, TestGuest.missing))
struct RegistryRealGuestTests {
    @Test("a warm snapshot pushed from one host's state is pulled into another and restored there: the same in-RAM token")
    func pushPullRestore() throws {
        let store = try S3Fixture()
        let source = try CLIHarness()
        source.environment = store.environment()
        let push = """
        ---
        apiVersion: converge.dev/v1
        kind: Snapshot
        metadata: {name: golden.1, labels: {org: acme}}
        spec: {source: {sandbox: golden}, registry: {push: true}}

        """
        try source.setSpecs(MemoryStateTests.specs())
        #expect(source.converge("apply", source.specs).status == 0)
        let token = try #require(source.waitForGuest(try source.guest("golden")), "golden never answered; serial: \(source.serialTail("golden"))")
        try source.setSpecs(MemoryStateTests.specs() + push)
        let pushed = source.converge("apply", source.specs)
        #expect(pushed.status == 0, "\(pushed.output)")
        #expect(RegistryTests.registry(source, "golden.1")?["state"] as? String == "pushed")
        // Self-contained: the guest's base disk went along.
        #expect(store.keys(under: "acme/golden.1/").contains("acme/golden.1/disk.backing.1"), "\(store.keys(under: "acme/golden.1/"))")

        let target = try CLIHarness()
        target.environment = store.environment()
        try target.setSpecs("""
        apiVersion: converge.dev/v1
        kind: TapPool
        metadata: {name: default}
        spec: {size: 1, subnet: 10.200.0.0/16, guest: {gateway: 192.168.0.1/24, address: 192.168.0.2}}
        ---
        apiVersion: converge.dev/v1
        kind: Snapshot
        metadata: {name: base}
        spec: {source: {registry: acme/golden.1}}

        """ + MemoryStateTests.sandbox("restored", source: "{snapshot: base}"))
        let pulled = target.converge("apply", target.specs)
        #expect(pulled.status == 0, "\(pulled.output)")
        #expect(RegistryTests.registry(target, "base")?["state"] as? String == "pulled")
        let restored = try target.guest("restored")
        #expect(target.http("192.168.0.2", "/token", from: restored.namespace) == token, "serial: \(target.serialTail("restored"))")
        let chain = CLIHarness.exec(["/usr/bin/qemu-img", "info", "-U", "--backing-chain", "\(target.state)/qemu/sandboxes/cvg-restored/disk.qcow2"])
        #expect(chain.stdout.contains("snapshots/base/disk.qcow2") && chain.stdout.contains("base/disk.backing.1"), "\(chain.output)")
        #expect(!chain.stdout.contains(source.root), "the pulled chain stands on its own: \(chain.output)")
    }
}
