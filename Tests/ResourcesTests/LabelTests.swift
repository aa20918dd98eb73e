import Foundation
import Testing
@testable import Resources

/// Labels follow Kubernetes' syntax and count rules.
@Suite("Labels")
struct LabelTests {
    private func document(labels: String) -> String {
        "apiVersion: converge.dev/v1\nkind: Sandbox\nmetadata:\n  name: web-1\n  labels: \(labels)\nspec: {source: {image: u}}\n"
    }

    @Test("valid keys and values load, a null value is empty")
    func valid() throws {
        let f = SpecFixture()
        let name63 = String(repeating: "a", count: 63)
        f.write("s.yaml", document(labels: "{app: web, example.com/team: a_b.c-D9, k8s.io/x: '', empty: , \(name63): \(name63)}"))
        let specs = try f.load()
        #expect(specs.diagnostics.isEmpty)
        let labels = try #require(specs.resources[ResourceID(.sandbox, "web-1")]?.labels)
        #expect(labels == ["app": "web", "example.com/team": "a_b.c-D9", "k8s.io/x": "", "empty": "", name63: name63])
    }

    @Test("invalid keys and values name the rule", arguments: [
        ("{-app: web}", "s.yaml:5:12: metadata.labels key '-app' has a name that must start and end with a letter or digit"),
        ("{Example.com/app: web}", "s.yaml:5:12: metadata.labels key 'Example.com/app' has a prefix that is not a DNS subdomain (lowercase letters, digits, '-' and '.', e.g. example.com)"),
        ("{/app: web}", "s.yaml:5:12: metadata.labels key '/app' has an empty prefix before '/'"),
        ("{example.com/: web}", "s.yaml:5:12: metadata.labels key 'example.com/' has an empty name"),
        ("{a/b/c: web}", "s.yaml:5:12: metadata.labels key 'a/b/c' has a name that must contain only letters, digits, '-', '_' and '.'"),
        ("{app: 'web server'}", "s.yaml:5:17: metadata.labels.app value 'web server' must contain only letters, digits, '-', '_' and '.'"),
        ("{app: [web]}", "s.yaml:5:17: metadata.labels.app must be a scalar, found a sequence"),
        ("[app]", "s.yaml:5:11: metadata.labels must be a mapping of strings, found a sequence"),
        ("{\(String(repeating: "a", count: 64)): web}", "s.yaml:5:12: metadata.labels key '\(String(repeating: "a", count: 64))' has a name that is 64 characters long; at most 63 are allowed"),
        ("{app: \(String(repeating: "a", count: 64))}", "s.yaml:5:17: metadata.labels.app value '\(String(repeating: "a", count: 64))' is 64 characters long; at most 63 are allowed"),
    ])
    func invalid(labels: String, expected: String) throws {
        let f = SpecFixture()
        f.write("s.yaml", document(labels: labels))
        let specs = try f.load()
        #expect(specs.diagnostics.map { "s.yaml:\($0.mark.line):\($0.mark.column): \($0.message)" } == [expected])
        #expect(specs.resources.isEmpty)
    }

    @Test("a prefix of 253 characters is allowed, 254 is not")
    func prefixLength() {
        let exact = [63, 63, 63, 61].map { String(repeating: "a", count: $0) }.joined(separator: ".")
        #expect(exact.count == 253)
        #expect(LabelRules.keyProblem("\(exact)/app") == nil)
        #expect(LabelRules.keyProblem("\(exact)b/app") == "has a prefix of 254 characters; at most 253 are allowed")
    }

    @Test("64 labels are allowed; the 65th is an error at its key")
    func count() throws {
        let f = SpecFixture()
        let block = (0...64).map { "    l\($0): v" }.joined(separator: "\n")
        f.write("s.yaml", "apiVersion: converge.dev/v1\nkind: Sandbox\nmetadata:\n  name: web-1\n  labels:\n\(block)\nspec: {source: {image: u}}\n")
        #expect(try f.errors() == [
            "s.yaml:70:5: metadata.labels has 65 labels; at most 64 are allowed (keep bulk data out of labels)",
        ])
        f.write("s.yaml", "apiVersion: converge.dev/v1\nkind: Sandbox\nmetadata:\n  name: web-1\n  labels:\n\(block.split(separator: "\n").dropLast().joined(separator: "\n"))\nspec: {source: {image: u}}\n")
        #expect(try f.load().resources[ResourceID(.sandbox, "web-1")]?.labels.count == 64)
    }
}
