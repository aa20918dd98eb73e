import Testing
@testable import Resources

@Suite("YAML reader")
struct YAMLReaderTests {
    @Test("nodes carry 1-based line and column marks")
    func marks() throws {
        let docs = try YAMLDocuments.parse("a: 1\nb:\n  c: [x, y]\n", file: "t.yaml")
        guard case .mapping(let pairs, let mark) = docs[0].root else { Issue.record("not a mapping"); return }
        #expect(mark == Mark(line: 1, column: 1))
        #expect(pairs[1].key.mark == Mark(line: 2, column: 1))
        guard case .mapping(let inner, _) = pairs[1].value, case .sequence(let items, let seqMark) = inner[0].value else {
            Issue.record("bad shape"); return
        }
        #expect(seqMark == Mark(line: 3, column: 6))
        #expect(items[1].mark == Mark(line: 3, column: 10))
    }

    @Test("a syntax error names the line and column")
    func syntaxError() {
        #expect(throws: Diagnostic.self) { try YAMLDocuments.parse("a: [1, 2\nb: 3\n", file: "bad.yaml") }
        do {
            _ = try YAMLDocuments.parse("a: b: c\n", file: "bad.yaml")
            Issue.record("accepted 'a: b: c'")
        } catch {
            #expect(error.description.hasPrefix("bad.yaml:1:5: error: YAML syntax error"))
        }
    }

    @Test("a syntax error at the end of a file without a final newline points at the end of its last line")
    func syntaxErrorAtEnd() {
        do {
            _ = try YAMLDocuments.parse("a: 1\nb: [1, 2", file: "bad.yaml")
            Issue.record("accepted an unclosed sequence")
        } catch {
            #expect(error.mark == Mark(line: 2, column: 9))
            #expect(error.rendered(source: "a: 1\nb: [1, 2").hasSuffix("\n    b: [1, 2\n            ^"))
        }
    }

    @Test("a control character is reported where it is, not at 1:1")
    func controlCharacter() {
        do {
            _ = try YAMLDocuments.parse("a: 1\nb: x\u{01}y\n", file: "bad.yaml")
            Issue.record("accepted a control character")
        } catch {
            #expect(error.mark == Mark(line: 2, column: 5))
            #expect(error.message.contains("control characters are not allowed"))
        }
    }

    @Test("duplicate keys are rejected at the second key")
    func duplicateKey() {
        do {
            _ = try YAMLDocuments.parse("a: 1\nb: 2\na: 3\n", file: "d.yaml")
            Issue.record("accepted a duplicate key")
        } catch {
            #expect(error.mark == Mark(line: 3, column: 1))
            #expect(error.message.contains("duplicate key 'a'"))
        }
    }

    @Test("anchors, aliases and tags are rejected", arguments: [
        ("a: &x 1\nb: 2\n", "anchors"),
        ("a: 1\nb: *x\n", "alias"),
        ("a: !!str 1\n", "tags"),
    ])
    func forbiddenFeatures(text: String, word: String) {
        do {
            _ = try YAMLDocuments.parse(text, file: "f.yaml")
            Issue.record("accepted \(word)")
        } catch {
            #expect(error.message.contains(word))
        }
    }

    @Test("several documents separated by ---")
    func documents() throws {
        let docs = try YAMLDocuments.parse("a: 1\n---\nb: 2\n", file: "m.yaml")
        #expect(docs.count == 2)
        #expect(docs[1].root.mark.line == 3)
    }

    @Test("a long source line renders only the part around the caret")
    func longLine() {
        let line = String(repeating: "x", count: 1000) + "!" + String(repeating: "y", count: 1000)
        let d = Diagnostic(file: "long.yaml", mark: Mark(line: 1, column: 1001), message: "here")
        let rendered = d.rendered(source: line).split(separator: "\n")
        #expect(rendered[1] == "    …" + String(repeating: "x", count: 60) + "!" + String(repeating: "y", count: 59) + "…")
        #expect(rendered[2] == "    " + String(repeating: " ", count: 61) + "^")
    }

    @Test("a diagnostic renders the source line and a caret under the column")
    func rendering() {
        let d = Diagnostic(file: "sandbox.yaml", mark: Mark(line: 2, column: 9), message: "spec.cpus must be between 1 and 256, found 0")
        #expect(d.rendered(source: "spec:\n  cpus: 0\n") == """
            sandbox.yaml:2:9: error: spec.cpus must be between 1 and 256, found 0
                  cpus: 0
                        ^
            """)
    }
}
