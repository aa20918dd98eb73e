/// A command-line mistake: printed with usage, exit 64 (EX_USAGE).
public struct UsageError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Ends the program with `code` after the command printed what it had to say.
public struct ExitCode: Error, Sendable {
    public var code: Int32
    public init(_ code: Int32) { self.code = code }
    public static let success = ExitCode(0)
    public static let failure = ExitCode(1)
}

/// Options every command takes (CONTRACT §2).
public struct GlobalOptions: Sendable {
    public var stateDirectory = "./state"
    public var configFile: String?
    public var json = false
    public var verbose = false
}

/// The words of a command line, consumed option by option. Options may come before or
/// after positional arguments; `--name=value` and `--name value` are both accepted.
struct Arguments {
    private var words: [String]
    var global = GlobalOptions()
    /// The options the command declared (its help lists exactly these) plus the globals.
    private let declared: Set<String>

    init(_ words: [String], declared: [OptionSpec] = []) {
        self.words = words
        self.declared = Set((declared + GlobalOptions.specs).flatMap { [$0.name] + ($0.short.map { [$0] } ?? []) })
    }

    /// A command may only parse what its `options` declare, so `--help` cannot miss one.
    private func checkDeclared(_ name: String) {
        precondition(declared.contains(name), "option \(name) is parsed but not declared in the command's options")
    }

    /// Takes the global options out, wherever they are.
    mutating func takeGlobals() throws {
        if let v = try value("--state") { global.stateDirectory = v }
        if let v = try value("--config") { global.configFile = v }
        global.json = flag("--json")
        global.verbose = flag("--verbose") || flag("-v")
    }

    mutating func flag(_ name: String) -> Bool {
        checkDeclared(name)
        guard let i = words.firstIndex(of: name) else { return false }
        words.remove(at: i)
        return true
    }

    mutating func value(_ name: String) throws -> String? {
        checkDeclared(name)
        if let i = words.firstIndex(where: { $0.hasPrefix(name + "=") }) {
            let v = String(words.remove(at: i).dropFirst(name.count + 1))
            return v
        }
        guard let i = words.firstIndex(of: name) else { return nil }
        guard i + 1 < words.count else { throw UsageError("\(name) needs a value") }
        let v = words[i + 1]
        words.removeSubrange(i...(i + 1))
        return v
    }

    mutating func int(_ name: String) throws -> Int? {
        guard let text = try value(name) else { return nil }
        guard let v = Int(text), v >= 0 else { throw UsageError("\(name) must be a non-negative integer, got '\(text)'") }
        return v
    }

    /// The remaining positional arguments; an unknown option is a usage error.
    mutating func positionals(min: Int, max: Int, usage: String) throws -> [String] {
        if let unknown = words.first(where: { $0.hasPrefix("-") && $0 != "-" }) {
            throw UsageError("unknown option \(unknown)\nusage: \(usage)")
        }
        guard words.count >= min, words.count <= max else {
            throw UsageError("usage: \(usage)")
        }
        defer { words.removeAll() }
        return words
    }
}
