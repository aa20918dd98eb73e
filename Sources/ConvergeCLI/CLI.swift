import Drivers
import Foundation

/// The `converge` command line: parse → validate → run, one type per subcommand.
public enum CLI {
    /// What `converge --version` and `converge version` print.
    public static let version = "0.5.0"

    static let commands: [any Command.Type] = [
        ValidateCommand.self, PlanCommand.self, ApplyCommand.self, RunCommand.self, GetCommand.self, StatusCommand.self,
        EventsCommand.self, StatsCommand.self, DaytonaCommand.self, VersionCommand.self, BenchCommand.self,
    ]

    static var usage: String {
        var text = """
        converge — converges sandbox VMs on this host to the specs in a directory

        usage: converge [global options] COMMAND [options]

        commands:

        """
        for c in commands where !c.hidden {
            text += "  \(c.name.padding(toLength: 10, withPad: " ", startingAt: 0))\(c.abstract)\n"
        }
        text += "\nglobal options (before or after the command):\n"
        text += OptionSpec.table(GlobalOptions.specs + [OptionSpec("--version", "print the version"), OptionSpec.help])
        text += "\n`converge COMMAND --help` lists the options of a command.\n"
        return text
    }

    /// Commands whose process lives on, or times one that does.
    static let longRunning: Set<String> = [RunCommand.name, DaytonaCommand.name, BenchCommand.name]

    /// Runs the command line and returns the process exit code.
    public static func main(_ argv: [String]) async -> Int32 {
        signal(SIGPIPE, SIG_IGN)  // a closed socket must be an error, not a death
        var words = Array(argv.dropFirst())
        if words.isEmpty || words == ["help"] {
            print(usage, terminator: "")
            return words.isEmpty ? 64 : 0
        }
        // Global options may come before the command (`converge --state S plan DIR`, as
        // git and kubectl take them); they are moved after it, where the parser finds them.
        let leading: [String]
        do { leading = try takeLeadingGlobals(&words) } catch {
            Output.error("\(error)\n\n\(usage)")
            return 64
        }
        if leading.contains("--version") {
            print("converge \(version)")
            return 0
        }
        if leading.contains("--help") || leading.contains("-h") {
            print(usage, terminator: "")
            return 0
        }
        guard !words.isEmpty else {
            Output.error("missing command\n\n\(usage)")
            return 64
        }
        let name = words.removeFirst()
        guard let type = commands.first(where: { $0.name == name }) else {
            Output.error("unknown command '\(name)'\n\n\(usage)")
            return 64
        }
        if words.contains("--help") || words.contains("-h") {
            print(type.help, terminator: "")
            return 0
        }
        // A one-shot command trades a few MiB for a faster burst. The daemon and the Daytona
        // bridge keep glibc's defaults: they live for days, and their resident size must stay
        // flat. So do the benchmarks, which time the daemon's passes in process.
        if !longRunning.contains(name) { ProcessMemory.keepArenaTops() }
        do {
            var arguments = Arguments(words + leading, declared: type.options)
            try arguments.takeGlobals()
            let command = try type.init(parsing: &arguments)
            try command.validate()
            try await command.run()
            return 0
        } catch let exit as ExitCode {
            return exit.code
        } catch let none as NoStateYet {
            Output.progress("\(none)")
            return 0
        } catch let usage as UsageError {
            Output.error(usage.message)
            return 64
        } catch {
            Output.error("\(error)")
            return 1
        }
    }

    /// Removes the options before the command word and returns them; `--version` and
    /// `--help` among them too. Anything else starting with "-" is a usage error.
    static func takeLeadingGlobals(_ words: inout [String]) throws -> [String] {
        var taken: [String] = []
        while let word = words.first, word.hasPrefix("-") {
            words.removeFirst()
            let name = word.split(separator: "=", maxSplits: 1).first.map(String.init) ?? word
            guard let spec = GlobalOptions.specs.first(where: { $0.name == name || $0.short == name }) else {
                guard ["--version", "--help", "-h"].contains(word) else { throw UsageError("unknown option \(word)") }
                taken.append(word)
                continue
            }
            taken.append(word)
            if spec.value != nil && !word.contains("=") {
                guard !words.isEmpty else { throw UsageError("\(spec.name) needs a value") }
                taken.append(words.removeFirst())
            }
        }
        return taken
    }
}

/// One subcommand: a static name and abstract, parsed from the words, validated, run.
protocol Command: Sendable {
    static var name: String { get }
    static var abstract: String { get }
    /// The positional arguments in the usage line, e.g. "DIR" or "KIND [NAME]".
    static var arguments: String { get }
    /// Every option the parser accepts besides the global ones; `--help` lists them.
    static var options: [OptionSpec] { get }
    static var hidden: Bool { get }
    init(parsing arguments: inout Arguments) throws
    func validate() throws
    func run() async throws
}

extension Command {
    static var hidden: Bool { false }
    static var options: [OptionSpec] { [] }
    func validate() throws {}
}

/// `converge version`: the same as `converge --version`.
struct VersionCommand: Command {
    static let name = "version"
    static let abstract = "print the version of converge"
    static let arguments = ""

    var json: Bool

    init(parsing arguments: inout Arguments) throws {
        json = arguments.global.json
        _ = try arguments.positionals(min: 0, max: 0, usage: Self.usage)
    }

    func run() async throws {
        if json {
            try Output.json(["version": CLI.version])
        } else {
            print("converge \(CLI.version)")
        }
    }
}
