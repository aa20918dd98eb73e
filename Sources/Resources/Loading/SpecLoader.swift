import Foundation

/// Reads a spec directory recursively and validates it as a whole.
public enum SpecLoader {
    /// Loads every `*.yaml`/`*.yml` under `directory`, skipping names that start with `.`
    /// or end in `~`, `.tmp`, `.swp` (editors and write-then-rename writers).
    ///
    /// A spec-named entry that cannot be read (a dangling link, a FIFO, no permission, over
    /// `SpecLimits.maximumFileBytes`) is an invalid file with a diagnostic, never skipped.
    /// Each directory is read once, so link loops are harmless.
    /// - Throws: `SpecDirectoryError` when the directory itself cannot be read.
    public static func load(directory: String) throws -> SpecSet {
        // A swap during the load (the links resolve elsewhere afterwards) may have mixed two
        // revisions: load again, a few times at most, then report what was read.
        var attempt = 0
        while true {
            let revision = SpecRevision(directory)
            let specs = try load(revision, directory: directory)
            attempt += 1
            if SpecRevision(directory).sameRevision(as: revision) || attempt == 3 { return specs }
        }
    }

    private static func load(_ revision: SpecRevision, directory: String) throws -> SpecSet {
        let entries = try SpecTree.entries(in: revision.root)
        // Files parse independently: all cores at once, then merged in directory order.
        let parsed = ConcurrentSlots<ParsedFile>(count: entries.count)
        DispatchQueue.concurrentPerform(iterations: entries.count) { i in
            parsed.set(i, parse(entries[i], revision))
        }
        let files = parsed.values()
        var decoded: [DecodedResource] = []
        decoded.reserveCapacity(files.reduce(0) { $0 + $1.decoded.count })
        var diagnostics: [Diagnostic] = []
        // Documents that name a resource but did not decode: with the decoded ones, what
        // the directory declares. Usually none, so the ten thousand decoded ones are hashed
        // once, by the validator.
        var undecoded: Set<ResourceID> = []
        var texts: [String: String] = [:]
        for file in files {
            decoded += file.decoded
            diagnostics += file.diagnostics
            undecoded.formUnion(file.undecoded)
            if let text = file.text { texts[file.name] = text }
        }
        let checked = CrossValidator.validate(decoded, undecoded: undecoded)
        diagnostics += checked.diagnostics

        let invalid = Set(diagnostics.map(\.file))
        // The validator's index already holds each identity's first resource: its table is
        // reused as is, not hashed again.
        var resources = checked.first.mapValues { decoded[$0].resource }
        if !invalid.isEmpty { resources = resources.filter { !invalid.contains($0.value.origin.file) } }
        // CONTRACT §1: `network.pool` defaults to the TapPool named "default", when there is
        // one, for runtimes that run in a pool's slots.
        let defaultPool = ResourceID(.tapPool, "default")
        if checked.first[defaultPool] != nil || undecoded.contains(defaultPool) {
            for (id, resource) in resources {
                guard case .sandbox(var spec) = resource.body, spec.networkPool == nil, SandboxRules.usesTapPools(spec.runtime) else { continue }
                spec.networkPool = "default"
                resources[id]!.body = .sandbox(spec)
            }
        }
        diagnostics.sort { ($0.file, $0.mark) < ($1.file, $1.mark) }
        diagnostics = capped(diagnostics)
        var set = SpecSet(
            directory: directory, resources: resources, diagnostics: diagnostics, invalidFiles: invalid,
            declaredInInvalidFiles: files.reduce(into: Set()) { if invalid.contains($1.name) { $0.formUnion($1.decoded.map(\.resource.id) + $1.undecoded) } },
            fileCount: entries.count, sources: texts.filter { invalid.contains($0.key) })
        set.emptyIntended = FileManager.default.fileExists(atPath: "\(revision.root)/\(SpecSet.allowEmptyMarker)")
        return set
    }

    /// One file read, parsed and decoded on its own.
    struct ParsedFile {
        var name: String
        var text: String?
        var decoded: [DecodedResource] = []
        /// Resources named by documents that did not decode (their kind and name read leniently).
        var undecoded: [ResourceID] = []
        var diagnostics: [Diagnostic] = []
    }

    private static func parse(_ entry: SpecTree.Entry, _ revision: SpecRevision) -> ParsedFile {
        let name = revision.shown(entry.path)
        var result = ParsedFile(name: name)
        switch entry {
        case .unreadable(_, let reason):
            result.diagnostics.append(Diagnostic(file: name, mark: .start, message: "cannot read this file: \(reason)"))
            return result
        case .file(let path):
            switch SpecFileReader.contents(of: revision.source(of: path), shownAs: name) {
            case .failure(let diagnostic):
                result.diagnostics.append(diagnostic)
                return result
            case .success(let contents):
                result.text = contents
            }
        }
        // A daemon loads the same files pass after pass: one whose bytes did not change
        // is not parsed again.
        if let known = ParsedCache.shared.lookup(name, text: result.text!) { return known }
        defer { ParsedCache.shared.store(result) }
        let context = DecodeContext(file: name)
        do throws(Diagnostic) {
            for document in try YAMLReader.documents(in: result.text!, file: name) {
                if case .scalar(let s) = document.root, s.isNull { continue }  // an empty `---` document
                if let resource = SpecDecoder.decode(document, context) {
                    result.decoded.append(resource)
                } else if let id = declaredID(document.root) {
                    result.undecoded.append(id)
                }
            }
        } catch {
            context.error(error.mark, error.message)
        }
        result.diagnostics += context.diagnostics
        return result
    }

    /// The kind and name a document declares, read leniently so that an invalid document
    /// still protects the resource it names.
    private static func declaredID(_ root: Node) -> ResourceID? {
        guard case .mapping(let pairs, _) = root,
              case .scalar(let k)? = pairs.first(where: { $0.key.text == "kind" })?.value,
              let kind = ResourceKind(rawValue: k.text),
              case .mapping(let meta, _)? = pairs.first(where: { $0.key.text == "metadata" })?.value,
              case .scalar(let n)? = meta.first(where: { $0.key.text == "name" })?.value
        else { return nil }
        return ResourceID(kind, n.text)
    }

    /// Forgets the files parsed in this process, so the next load parses every file again
    /// (a benchmark's cold load).
    public static func forgetParsedFiles() { ParsedCache.shared.removeAll() }

    static func isSpecFile(_ name: String) -> Bool {
        guard !name.hasPrefix("."), !name.hasSuffix("~"), !name.hasSuffix(".tmp"), !name.hasSuffix(".swp") else { return false }
        return name.hasSuffix(".yaml") || name.hasSuffix(".yml")
    }

    /// At most `SpecLimits.maximumDiagnosticsPerFile` diagnostics per file (sorted input),
    /// then one that says how many more there are: a broken file cannot flood the output.
    private static func capped(_ sorted: [Diagnostic]) -> [Diagnostic] {
        let limit = SpecLimits.maximumDiagnosticsPerFile
        var result: [Diagnostic] = []
        var start = 0
        while start < sorted.count {
            var end = start
            while end < sorted.count, sorted[end].file == sorted[start].file { end += 1 }
            result += sorted[start..<min(end, start + limit)]
            if end - start > limit {
                let first = sorted[start + limit]
                result.append(Diagnostic(file: first.file, mark: first.mark,
                                         message: "\(end - start - limit) more errors in this file are not shown; fix the ones above first"))
            }
            start = end
        }
        return result
    }
}

/// Files parsed in this process, by their name and exact contents (at most a few thousand
/// files: a spec tree's size).
private final class ParsedCache: @unchecked Sendable {
    static let shared = ParsedCache()
    private var files: [String: SpecLoader.ParsedFile] = [:]
    private let lock = NSLock()

    func lookup(_ name: String, text: String) -> SpecLoader.ParsedFile? {
        lock.lock()
        defer { lock.unlock() }
        guard let file = files[name], file.text == text else { return nil }
        return file
    }

    func removeAll() {
        lock.lock()
        defer { lock.unlock() }
        files.removeAll()
    }

    func store(_ file: SpecLoader.ParsedFile) {
        lock.lock()
        defer { lock.unlock() }
        if files.count > 20_000 { files.removeAll() }
        files[file.name] = file
    }
}
