import Resources

/// Loads a spec directory and prints its diagnostics (compiler-style, with the source
/// line and a caret) on stderr.
enum SpecReading {
    static func load(_ directory: String, quiet: Bool = false) throws -> SpecSet {
        let specs: SpecSet
        do { specs = try SpecLoader.load(directory: directory) } catch let error as SpecDirectoryError {
            throw CLIError("\(error)")
        }
        if !quiet {
            for text in specs.renderedDiagnostics { Output.progress(text) }
            if !specs.isValid {
                Output.progress("\(specs.diagnostics.count) error\(specs.diagnostics.count == 1 ? "" : "s") in \(specs.invalidFiles.count) file\(specs.invalidFiles.count == 1 ? "" : "s"); their resources are held at their last good spec, and no resource is removed until every file loads")
            }
        }
        return specs
    }
}

/// JSON shape of a diagnostic.
struct DiagnosticJSON: Encodable {
    var file: String
    var line: Int
    var column: Int
    var message: String

    init(_ d: Diagnostic) {
        file = d.file
        line = d.mark.line
        column = d.mark.column
        message = d.message
    }
}
