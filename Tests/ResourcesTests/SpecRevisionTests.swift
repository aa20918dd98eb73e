import Foundation
import Testing
@testable import Resources

/// A spec tree swapped by symlink is read as one revision, shown by the path given.
@Suite("Spec trees swapped by symlink")
struct SpecRevisionTests {
    @Test("git-sync layout: files are read through the link once and shown under the path given")
    func gitSync() throws {
        let f = SpecFixture()
        f.write("worktrees/rev1/web.yaml", sandboxYAML("web-1", "cpus: 0\nsource: {image: u}"))
        f.symlink("current", to: "worktrees/rev1")
        let specs = try SpecLoader.load(directory: "\(f.directory)/current")
        #expect(specs.diagnostics.map(\.file) == ["\(f.directory)/current/web.yaml"])
    }

    @Test("ConfigMap layout: a swap of ..data after the load began does not mix revisions")
    func configMapSwapMidLoad() throws {
        let f = SpecFixture()
        f.write("..2026_12_01_a/web.yaml", sandboxYAML("web-1", "source: {image: a}"))
        f.write("..2026_12_01_b/web.yaml", sandboxYAML("web-1", "source: {image: b}"))
        f.symlink("..data", to: "..2026_12_01_a")
        f.symlink("web.yaml", to: "..data/web.yaml")
        let revision = SpecRevision(f.directory)
        // The kubelet swaps ..data now, between listing and reading.
        try FileManager.default.removeItem(atPath: "\(f.directory)/..data")
        f.symlink("..data", to: "..2026_12_01_b")
        let source = revision.source(of: "\(revision.root)/web.yaml")
        #expect(source.hasSuffix("..2026_12_01_a/web.yaml"), "\(source)")
        #expect(revision.shown("\(revision.root)/web.yaml") == "\(f.directory)/web.yaml")
        // A fresh load sees the new revision, named by the top-level link.
        let specs = try f.load()
        #expect(specs.resources[ResourceID(.sandbox, "web-1")]?.sandbox?.source == .image("b"))
        #expect(specs.resources[ResourceID(.sandbox, "web-1")]?.origin.file == "\(f.directory)/web.yaml")
    }
}

@Suite("Spec tree swapped during a load")
struct SpecRevisionReloadTests {
    @Test("a revision is the same only while both links resolve where they did")
    func sameRevision() throws {
        let f = SpecFixture()
        f.write("rev1/web.yaml", sandboxYAML("web-1", "source: {image: a}"))
        f.write("rev2/web.yaml", sandboxYAML("web-1", "source: {image: b}"))
        f.symlink("current", to: "rev1")
        let before = SpecRevision("\(f.directory)/current")
        #expect(SpecRevision("\(f.directory)/current").sameRevision(as: before))
        try FileManager.default.removeItem(atPath: "\(f.directory)/current")
        f.symlink("current", to: "rev2")
        #expect(!SpecRevision("\(f.directory)/current").sameRevision(as: before))
        // A load started now reads the new revision whole.
        let specs = try SpecLoader.load(directory: "\(f.directory)/current")
        #expect(specs.resources[ResourceID(.sandbox, "web-1")]?.sandbox?.source == .image("b"))
    }
}
