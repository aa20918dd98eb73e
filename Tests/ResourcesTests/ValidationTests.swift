import Foundation
import Testing
@testable import Resources

@Suite("Spec validation")
struct ValidationTests {
    let pool = """
        apiVersion: converge.dev/v1
        kind: TapPool
        metadata: {name: default}
        spec:
          size: 2
          subnet: 10.0.0.0/16
          guest: {gateway: 192.168.0.1/24, address: 192.168.0.2}

        """

    @Test("a valid directory loads every kind with its defaults")
    func valid() throws {
        let f = SpecFixture()
        f.write("pool.yaml", pool)
        f.write("policy.yaml", "apiVersion: converge.dev/v1\nkind: BalloonPolicy\nmetadata: {name: default}\nspec: {interval: 10s}\n")
        f.write("sub/web.yaml", sandboxYAML("web-1", "memory: 2Gi\nsource: {image: ubuntu-base.1}\nnetwork: {pool: default}\nballoon: {policy: default}"))
        f.write("snap.yml", "apiVersion: converge.dev/v1\nkind: Snapshot\nmetadata: {name: ubuntu-base.2}\nspec: {source: {sandbox: web-1}}\n")
        f.write(".hidden.yaml", "garbage: [")
        f.write("web.yaml~", "garbage: [")
        f.write("notes.txt", "not a spec")
        let specs = try f.load()
        #expect(specs.diagnostics.isEmpty)
        #expect(specs.fileCount == 4)
        let web = try #require(specs.resources[ResourceID(.sandbox, "web-1")]?.sandbox)
        #expect(web.runtime == .cloudHypervisor && web.state == .running && web.memory == .gibibytes(2) && web.cpus == nil)
        #expect(specs.resources[ResourceID(.balloonPolicy, "default")]?.balloonPolicy?.bufferRatio == 0.25)
        #expect(specs.resources[ResourceID(.snapshot, "ubuntu-base.2")]?.snapshot?.memory == true)
    }

    @Test("network.pool defaults to the TapPool named default, when there is one")
    func defaultPool() throws {
        let f = SpecFixture()
        f.write("s.yaml", sandboxYAML("web-1", "source: {image: u}"))
        #expect(try f.load().resources[ResourceID(.sandbox, "web-1")]?.sandbox?.networkPool == nil)
        f.write("pool.yaml", pool)
        #expect(try f.load().resources[ResourceID(.sandbox, "web-1")]?.sandbox?.networkPool == "default")
    }

    @Test("an unknown field names itself and the known fields")
    func unknownField() throws {
        let f = SpecFixture()
        f.write("s.yaml", sandboxYAML("web-1", "memroy: 2Gi\nsource: {image: u}"))
        let errors = try f.errors()
        #expect(errors.count == 1)
        #expect(errors[0].hasPrefix("s.yaml:6:3: unknown field 'spec.memroy'"))
        #expect(errors[0].contains("memory"))
    }

    @Test("in a mapping of more than 64 keys, each unknown one is reported and each known one read")
    func manyKeys() throws {
        let f = SpecFixture()
        let unknown = (0..<70).map { "x\($0): 1" }.joined(separator: "\n")
        f.write("s.yaml", sandboxYAML("web-1", "\(unknown)\nsource: {image: u}\nmemory: 3Gi"))
        let errors = try f.errors()
        #expect(errors.count == 70)
        #expect(Set(errors.compactMap { $0.split(separator: "'").dropFirst().first }) == Set((0..<70).map { "spec.x\($0)" }))
        #expect(!errors.contains { $0.contains("spec.memory'") || $0.contains("spec.source'") })
    }

    @Test("wrong types are errors", arguments: [
        ("cpus: \"2\"\nsource: {image: u}", "s.yaml:6:9: spec.cpus must be an integer, found '2'"),
        ("cpus: [2]\nsource: {image: u}", "s.yaml:6:9: spec.cpus must be a scalar, found a sequence"),
        ("source: ubuntu", "s.yaml:6:11: spec.source must be a mapping, found a scalar"),
        ("state: asleep\nsource: {image: u}", "s.yaml:6:10: spec.state must be one of running, paused, stopped, suspended, found 'asleep'"),
    ])
    func wrongType(spec: String, expected: String) throws {
        let f = SpecFixture()
        f.write("s.yaml", sandboxYAML("web-1", spec))
        #expect(try f.errors() == [expected])
    }

    @Test("a bad quantity points at the value")
    func badQuantity() throws {
        let f = SpecFixture()
        f.write("s.yaml", sandboxYAML("web-1", "memory: 2GB\nsource: {image: u}"))
        #expect(try f.errors() == ["s.yaml:6:11: spec.memory: '2GB' is not a quantity (write e.g. 512Mi, 2Gi, 20Gi)"])
    }

    @Test("out-of-range values", arguments: [
        ("memory: 512Mi\nsource: {image: u}", "spec.memory 512Mi is below the minimum of 1Gi for cloud-hypervisor"),
        ("cpus: 0\nsource: {image: u}", "spec.cpus must be between 1 and 256, found 0"),
        ("disk: 100Mi\nsource: {image: u}", "spec.disk 100Mi must be between 1Gi and 64Ti"),
        ("cpus: 4\nlimits: {cpus: 2}\nsource: {image: u}", "spec.limits.cpus 2 is below spec.cpus 4"),
    ])
    func outOfRange(spec: String, message: String) throws {
        let f = SpecFixture()
        f.write("s.yaml", sandboxYAML("web-1", spec))
        let errors = try f.errors()
        #expect(errors.count == 1)
        #expect(errors.first?.hasSuffix(message) == true)
    }

    @Test("qemu sandboxes may be smaller than Cloud Hypervisor's 1Gi floor")
    func runtimeFloors() throws {
        let f = SpecFixture()
        f.write("s.yaml", sandboxYAML("q", "runtime: qemu\nmemory: 256Mi\nsource: {image: u}"))
        #expect(try f.errors().isEmpty)
    }

    @Test("a duplicate name within a kind names the first definition; other kinds may reuse it")
    func duplicateName() throws {
        let f = SpecFixture()
        f.write("a.yaml", sandboxYAML("default", "source: {image: u}"))
        f.write("b.yaml", sandboxYAML("default", "source: {image: v}"))
        f.write("c.yaml", pool)
        let errors = try f.errors()
        #expect(errors == ["b.yaml:4:9: Sandbox 'default' is already defined at \(f.directory)/a.yaml:4:9; names must be unique within a kind"])
    }

    @Test("dangling references", arguments: [
        ("source: {image: u}\nnetwork: {pool: missing}", "spec.network.pool names TapPool 'missing', which is not defined"),
        ("source: {image: u}\nballoon: {policy: tight}", "spec.balloon.policy names BalloonPolicy 'tight', which is not defined"),
    ])
    func dangling(spec: String, message: String) throws {
        let f = SpecFixture()
        f.write("s.yaml", sandboxYAML("web-1", spec))
        let errors = try f.errors()
        #expect(errors.count == 1)
        #expect(errors.first?.contains(message) == true, "\(errors)")
    }

    @Test("a fork parent and a Snapshot source are origins: they may leave the specs once the clone exists")
    func originsMayDangle() throws {
        let f = SpecFixture()
        f.write("snap.yaml", "apiVersion: converge.dev/v1\nkind: Snapshot\nmetadata: {name: s1}\nspec: {source: {sandbox: nobody}}\n")
        f.write("s.yaml", sandboxYAML("web-1", "source: {fork: web-0}"))
        f.write("r.yaml", sandboxYAML("web-2", "source: {snapshot: gold.1}"))
        #expect(try f.errors() == [])
    }

    @Test("bad names", arguments: [
        ("Web-1", "must contain only lowercase letters, digits and '-'"),
        ("../x", "must contain only lowercase letters, digits and '-'"),
        (String(repeating: "a", count: 64), "is 64 characters long; at most 63 are allowed"),
        ("-web", "must start and end with a lowercase letter or digit"),
        ("\"\"", "is empty"),
    ])
    func badNames(name: String, message: String) throws {
        let f = SpecFixture()
        f.write("s.yaml", sandboxYAML(name, "source: {image: u}"))
        let errors = try f.errors()
        #expect(errors.count == 1)
        #expect(errors.first?.hasSuffix(message) == true, "\(errors)")
    }

    @Test("two source choices at once, or none")
    func twoSources() throws {
        let f = SpecFixture()
        f.write("a.yaml", sandboxYAML("a", "source: {image: u, fork: b}"))
        f.write("b.yaml", sandboxYAML("b", "source: {}"))
        let errors = try f.errors()
        #expect(errors == [
            "a.yaml:6:22: spec.source must set exactly one of image, snapshot, fork; it sets image and fork",
            "b.yaml:6:11: spec.source must set exactly one of image, snapshot, fork; it sets none of them",
        ])
    }

    @Test("every error of a directory is reported at once, in file order")
    func collectsAll() throws {
        let f = SpecFixture()
        f.write("1.yaml", "kind: [\n")
        f.write("2.yaml", sandboxYAML("x", "cpus: 0\nmemory: 1Mi\nsource: {image: u}"))
        f.write("3.yaml", "apiVersion: converge.dev/v1\nkind: Gadget\nmetadata: {name: g}\nspec: {}\n")
        let specs = try f.load()
        #expect(specs.diagnostics.count == 4)
        #expect(specs.invalidFiles.count == 3)
        #expect(specs.diagnostics.map { ($0.file as NSString).lastPathComponent } == ["1.yaml", "2.yaml", "2.yaml", "3.yaml"])
        #expect(specs.resources.isEmpty)
    }

    @Test("an invalid document still protects the name it declares")
    func declaredInInvalid() throws {
        let f = SpecFixture()
        f.write("s.yaml", sandboxYAML("web-1", "cpus: 0\nsource: {image: u}"))
        let specs = try f.load()
        #expect(specs.declaredInInvalidFiles == [ResourceID(.sandbox, "web-1")])
    }

    @Test("overlapping pools and a fork cycle")
    func overlapAndCycle() throws {
        let f = SpecFixture()
        f.write("p.yaml", pool + "---\n" + pool.replacingOccurrences(of: "name: default", with: "name: other")
            .replacingOccurrences(of: "10.0.0.0/16", with: "10.0.5.0/24"))
        f.write("a.yaml", sandboxYAML("a", "source: {fork: b}"))
        f.write("b.yaml", sandboxYAML("b", "source: {fork: a}"))
        let errors = try f.errors()
        #expect(errors.contains { $0.contains("overlaps TapPool 'default'") })
        #expect(errors.contains { $0.contains("dependency cycle: Sandbox/a → Sandbox/b → Sandbox/a") })
    }

    @Test("a missing directory is an error, an empty one is not")
    func directories() throws {
        #expect(throws: SpecDirectoryError.self) { try SpecLoader.load(directory: "/nonexistent/converge") }
        let f = SpecFixture()
        let specs = try f.load()
        #expect(specs.fileCount == 0 && specs.isValid)
    }

    @Test("content hashes change with the spec and labels, not with the position")
    func hashes() throws {
        let a = Resource(name: "w", body: .sandbox(SandboxSpec(source: .image("u"))), origin: Origin(file: "a", mark: .start))
        var b = a
        b.origin = Origin(file: "b", mark: Mark(line: 9, column: 1))
        #expect(a.contentHash == b.contentHash)
        b.labels = ["x": "y"]
        #expect(a.contentHash != b.contentHash)
    }
}

@Suite("Null values never drop a resource")
struct NullFieldTests {
    @Test("a required field present but empty is an error, never a silently missing resource", arguments: [
        ("sandbox", "apiVersion: converge.dev/v1\nkind: Sandbox\nmetadata: {name: a}\nspec:\n  source:\n", "spec.source is required"),
        ("pool", "apiVersion: converge.dev/v1\nkind: TapPool\nmetadata: {name: p}\nspec: {size: 1, subnet: ~, guest: {gateway: 192.168.0.1/24, address: 192.168.0.2}}\n", "spec.subnet is required"),
        ("guest", "apiVersion: converge.dev/v1\nkind: TapPool\nmetadata: {name: p}\nspec: {size: 1, subnet: 10.0.0.0/16, guest: null}\n", "spec.guest is required"),
        ("gateway", "apiVersion: converge.dev/v1\nkind: TapPool\nmetadata: {name: p}\nspec: {size: 1, subnet: 10.0.0.0/16, guest: {gateway: ~, address: 192.168.0.2}}\n", "spec.guest.gateway is required"),
        ("metadata", "apiVersion: converge.dev/v1\nkind: Sandbox\nmetadata:\nspec: {source: {image: u}}\n", "metadata.name is required"),
        ("apiVersion", "apiVersion:\nkind: Sandbox\nmetadata: {name: a}\nspec: {source: {image: u}}\n", "apiVersion is required"),
    ])
    func nullRequired(name: String, text: String, message: String) throws {
        let f = SpecFixture()
        f.write("\(name).yaml", text)
        let specs = try f.load()
        #expect(!specs.isValid, "\(name) validated")
        #expect(specs.diagnostics.contains { $0.message.contains(message) }, "\(specs.diagnostics)")
        #expect(specs.invalidFiles.count == 1)
    }
}
