import Foundation

/// Everything read from a spec directory: the resources of every valid file, the
/// diagnostics of the others, and which files were invalid (their resources freeze at
/// their last good spec; they are never read as deleted).
public struct SpecSet: Sendable {
    public var directory: String
    /// Resources of files that parsed and validated, by identity.
    public var resources: [ResourceID: Resource]
    /// Every problem found, in file and source order.
    public var diagnostics: [Diagnostic]
    /// Files with at least one diagnostic.
    public var invalidFiles: Set<String>
    /// Identities named by documents of invalid files, where their kind and name could be read.
    public var declaredInInvalidFiles: Set<ResourceID>
    /// How many spec files were found (zero means an empty directory).
    public var fileCount: Int
    /// The text of files with diagnostics, to print source lines under errors.
    public var sources: [String: String]
    /// The directory holds `allowEmptyMarker`: its writer (the Daytona bridge) says that
    /// an empty set is intended, so "no specs" means "no sandboxes", not a lost mount.
    public var emptyIntended = false

    /// The file a writer keeps at the top of a spec directory while an empty set is
    /// intended. It starts with "." so the loader never reads it as a spec.
    public static let allowEmptyMarker = ".converge-allow-empty"

    public init(directory: String, resources: [ResourceID: Resource], diagnostics: [Diagnostic], invalidFiles: Set<String>,
                declaredInInvalidFiles: Set<ResourceID>, fileCount: Int, sources: [String: String]) {
        self.directory = directory
        self.resources = resources
        self.diagnostics = diagnostics
        self.invalidFiles = invalidFiles
        self.declaredInInvalidFiles = declaredInInvalidFiles
        self.fileCount = fileCount
        self.sources = sources
    }

    public var isValid: Bool { diagnostics.isEmpty }

    /// Each diagnostic with its source line and caret.
    public var renderedDiagnostics: [String] {
        var lines: [String: SourceLines] = [:]
        return diagnostics.map { d in
            guard let source = sources[d.file] else { return d.description }
            if lines[d.file] == nil { lines[d.file] = SourceLines(source) }
            return d.rendered(sourceLine: lines[d.file]?[d.mark.line])
        }
    }

    public func resources(of kind: ResourceKind) -> [Resource] {
        resources.values.filter { $0.body.kind == kind }.sorted { $0.name < $1.name }
    }
}

/// A spec directory could not be read at all.
public struct SpecDirectoryError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "cannot read spec directory \(path): \(reason)" }
}
