import Foundation
import Testing
@testable import Resources

/// The walk over a spec directory: link loops, dangling links and special files.
@Suite("Spec tree")
struct SpecTreeTests {
    private let web = sandboxYAML("web-1", "source: {image: u}")

    @Test("a directory link loop is read once: no duplicate-name errors")
    func linkLoop() throws {
        let f = SpecFixture()
        f.write("web.yaml", web)
        f.write("sub/db.yaml", sandboxYAML("db-1", "source: {image: u}"))
        f.symlink("loop", to: ".")
        f.symlink("sub/up", to: "..")
        let specs = try f.load()
        #expect(specs.diagnostics.isEmpty)
        #expect(specs.fileCount == 2)
        #expect(specs.resources.keys.sorted() == [ResourceID(.sandbox, "db-1"), ResourceID(.sandbox, "web-1")])
    }

    @Test("a dangling *.yaml link is an invalid file naming its target, not a skipped one")
    func danglingLink() throws {
        let f = SpecFixture()
        f.write("web.yaml", web)
        f.symlink("db.yaml", to: "incoming/db.yaml")
        let specs = try f.load()
        let path = "\(f.directory)/db.yaml"
        #expect(specs.diagnostics.map(\.description) == [
            "\(path):1:1: error: cannot read this file: dangling symlink → incoming/db.yaml; the usual cause is a sync that has not delivered it yet",
        ])
        #expect(specs.invalidFiles == [path])
        #expect(specs.fileCount == 2)
        #expect(specs.resources.keys.sorted() == [ResourceID(.sandbox, "web-1")])
    }

    @Test("a dangling link with another name is not a spec and is left alone")
    func danglingOther() throws {
        let f = SpecFixture()
        f.write("web.yaml", web)
        f.symlink("notes.txt", to: "nowhere")
        let specs = try f.load()
        #expect(specs.diagnostics.isEmpty)
        #expect(specs.fileCount == 1)
    }

    @Test("a *.yaml link to itself is an invalid file: a symlink loop")
    func selfLink() throws {
        let f = SpecFixture()
        f.symlink("a.yaml", to: "a.yaml")
        let errors = try f.errors()
        #expect(errors == ["a.yaml:1:1: cannot read this file: symlink loop → a.yaml; point the link at a file"])
    }

    @Test("a FIFO named x.yaml is an invalid file and does not block the loader")
    func fifo() throws {
        let f = SpecFixture()
        f.write("web.yaml", web)
        #expect(mkfifo("\(f.directory)/x.yaml", 0o644) == 0)
        let errors = try f.errors()
        #expect(errors == ["x.yaml:1:1: cannot read this file: it is a FIFO, not a regular file; a spec must be a regular file"])
    }

    @Test("a directory named x.yaml is a directory: its files are read")
    func directoryWithSpecName() throws {
        let f = SpecFixture()
        f.write("x.yaml/web.yaml", web)
        let specs = try f.load()
        #expect(specs.diagnostics.isEmpty)
        #expect(specs.resources.keys.sorted() == [ResourceID(.sandbox, "web-1")])
    }

    @Test("a link to a directory is followed once, however many links lead there")
    func twoLinksToOneDirectory() throws {
        let f = SpecFixture()
        f.write("real/web.yaml", web)
        f.symlink("a", to: "real")
        f.symlink("b", to: "real")
        let specs = try f.load()
        #expect(specs.diagnostics.isEmpty)
        #expect(specs.fileCount == 1)
    }

    @Test("the spec directory missing or not a directory is a SpecDirectoryError")
    func badRoot() throws {
        let f = SpecFixture()
        let file = f.write("web.yaml", web)
        #expect(throws: SpecDirectoryError.self) { try SpecLoader.load(directory: "\(f.directory)/absent") }
        #expect(throws: SpecDirectoryError.self) { try SpecLoader.load(directory: file) }
    }
}
