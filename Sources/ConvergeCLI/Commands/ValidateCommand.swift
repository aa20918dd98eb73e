import Resources

/// `converge validate DIR`: parse and validate, print every error; exit 0 valid, 1 invalid.
struct ValidateCommand: Command {
    static let name = "validate"
    static let abstract = "parse and validate specs, print every error"
    static let arguments = "DIR"

    var global: GlobalOptions
    var directory: String

    init(parsing arguments: inout Arguments) throws {
        global = arguments.global
        directory = try arguments.positionals(min: 1, max: 1, usage: Self.usage)[0]
    }

    func run() async throws {
        let specs = try SpecReading.load(directory, quiet: global.json)
        if global.json {
            struct Report: Encodable {
                var valid: Bool
                var files: Int
                var resources: [String]
                var diagnostics: [DiagnosticJSON]
            }
            try Output.json(Report(valid: specs.isValid, files: specs.fileCount, resources: specs.resources.keys.sorted().map(\.description),
                                   diagnostics: specs.diagnostics.map(DiagnosticJSON.init)))
        } else if specs.isValid {
            let counts = ResourceKind.allCases.compactMap { kind -> String? in
                let n = specs.resources(of: kind).count
                return n == 0 ? nil : "\(n) \(kind.rawValue)"
            }
            print("\(directory): valid (\(specs.fileCount) file\(specs.fileCount == 1 ? "" : "s"): \(counts.isEmpty ? "no resources" : counts.joined(separator: ", ")))")
        }
        if !specs.isValid { throw ExitCode.failure }
    }
}
