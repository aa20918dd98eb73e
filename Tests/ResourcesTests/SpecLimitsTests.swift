import Foundation
import Testing
@testable import Resources

/// Every limit of `SpecLimits` on hostile or broken input: a diagnostic with a position,
/// never a crash or a stall. Each test reproduces an input that broke the old loader.
@Suite("Spec limits")
struct SpecLimitsTests {
    /// `a: ` followed by `levels` nested flow sequences: the root mapping is level 1.
    private func nested(_ levels: Int) -> String {
        "a: " + String(repeating: "[", count: levels) + String(repeating: "]", count: levels) + "\n"
    }

    @Test("20,000 nested [ give a nesting diagnostic at the first level too deep, not a crash")
    func deepNesting() throws {
        let f = SpecFixture()
        f.write("deep.yaml", "a: " + String(repeating: "[", count: 20_000) + "\n")
        let errors = try f.errors()
        // Level 65 is the 64th `[`, at column 3 + 64.
        #expect(errors == ["deep.yaml:1:67: nesting is deeper than 64 levels; a spec needs only a few"])
    }

    @Test("64 levels of nesting parse; 65 do not")
    func nestingBoundary() throws {
        #expect(try YAMLDocuments.parse(nested(SpecLimits.maximumDepth - 1), file: "ok.yaml").count == 1)
        #expect(throws: Diagnostic.self) { try YAMLDocuments.parse(nested(SpecLimits.maximumDepth), file: "deep.yaml") }
    }

    @Test("a map of 200,000 keys stops at key 1025 with a too-many-keys diagnostic")
    func manyKeys() {
        let text = (0..<200_000).map { "k\($0): v" }.joined(separator: "\n")
        do {
            _ = try YAMLDocuments.parse(text, file: "keys.yaml")
            Issue.record("accepted 200,000 keys")
        } catch {
            #expect(error.mark == Mark(line: 1025, column: 1))
            #expect(error.message == "this mapping (line 1) has more than 1024 keys; a spec needs far fewer")
        }
    }

    @Test("a file of 150,000 keys under the size cap is one too-many-keys diagnostic")
    func manyKeysInAFile() throws {
        let f = SpecFixture()
        f.write("keys.yaml", (0..<150_000).map { "k\($0): v" }.joined(separator: "\n"))
        #expect(try f.errors() == ["keys.yaml:1025:1: this mapping (line 1) has more than 1024 keys; a spec needs far fewer"])
    }

    @Test("1024 keys in one mapping parse")
    func keysBoundary() throws {
        let text = (0..<SpecLimits.maximumKeysPerMapping).map { "k\($0): v" }.joined(separator: "\n")
        let docs = try YAMLDocuments.parse(text, file: "ok.yaml")
        guard case .mapping(let pairs, _) = docs[0].root else { Issue.record("not a mapping"); return }
        #expect(pairs.count == 1024)
    }

    @Test("a file one byte over 1.5 MiB is refused before it is parsed; one at the cap is read")
    func fileSize() throws {
        let f = SpecFixture()
        // A comment is valid YAML of any length and holds no document.
        f.write("big.yaml", "#" + String(repeating: "x", count: SpecLimits.maximumFileBytes))
        f.write("fits.yaml", "#" + String(repeating: "x", count: SpecLimits.maximumFileBytes - 1))
        let specs = try f.load()
        #expect(specs.diagnostics.map(\.description) == [
            "\(f.directory)/big.yaml:1:1: error: this file is 1572865 bytes; a spec file may hold at most 1572864 bytes (1.5 MiB): split it into several files",
        ])
        #expect(specs.invalidFiles == ["\(f.directory)/big.yaml"])
        #expect(specs.fileCount == 2)
    }

    @Test("100 documents in a file parse; the 101st is a diagnostic at its ---")
    func documentCount() throws {
        #expect(try YAMLDocuments.parse(String(repeating: "---\na: 1\n", count: 100), file: "ok.yaml").count == 100)
        do {
            _ = try YAMLDocuments.parse(String(repeating: "---\na: 1\n", count: 101), file: "many.yaml")
            Issue.record("accepted 101 documents")
        } catch {
            #expect(error.mark == Mark(line: 201, column: 1))
            #expect(error.message == "this file holds more than 100 documents; split it into several files")
        }
    }

    @Test("a file with 150 errors shows 100 of them and how many more there are")
    func diagnosticCap() throws {
        let f = SpecFixture()
        let unknown = (0..<150).map { "x\($0): 1" }.joined(separator: "\n")
        f.write("s.yaml", sandboxYAML("web-1", "source: {image: u}\n" + unknown))
        let specs = try f.load()
        #expect(specs.diagnostics.count == 101)
        let last = try #require(specs.diagnostics.last)
        #expect(last.message == "50 more errors in this file are not shown; fix the ones above first")
        #expect(last.mark == Mark(line: 107, column: 3))
    }

    @Test("rendering many diagnostics of one file shows each one's own line")
    func renderingMany() throws {
        let f = SpecFixture()
        // CRLF line ends, as an editor on Windows writes them.
        f.write("s.yaml", "apiVersion: converge.dev/v1\r\nkind: Sandbox\r\nmetadata: {name: web-1}\r\nspec:\r\n  source: {image: u}\r\n  memroy: 1Gi\r\n  cpu: 2\r\n")
        let rendered = try f.load().renderedDiagnostics
        #expect(rendered.count == 2)
        #expect(rendered[0].hasSuffix("\n      memroy: 1Gi\n      ^"))
        #expect(rendered[1].hasSuffix("\n      cpu: 2\n      ^"))
    }
}
