import Foundation

/// The host's python3, which some tests drive. A test that needs it says so with a
/// condition trait, so that it is reported as skipped (and `scripts/test` fails) rather
/// than passing without having run.
enum Python {
    static let path = "/usr/bin/python3"

    /// python3 is installed.
    static let installed = FileManager.default.isExecutableFile(atPath: path)

    /// python3 can import PyYAML and jsonschema, which `Tools/validate_requests.py` needs.
    static let hasSchemaModules = installed && (try? runToCompletion(path, ["-c", "import yaml, jsonschema"]).status) == 0
}
