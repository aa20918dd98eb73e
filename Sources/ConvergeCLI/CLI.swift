import Foundation

/// The `converge` command line: parse → validate → run, one type per subcommand.
public enum CLI {
    static let commands: [any Command.Type] = [
        ValidateCommand.self, PlanCommand.self, ApplyCommand.self, RunCommand.self, GetCommand.self, StatusCommand.self,
        EventsCommand.self, BenchCommand.self,
    ]

    static var usage: String {
        var text = """
        converge — converges sandbox VMs on this host to the specs in a directory

        usage: converge COMMAND [options]

        commands:

        """
        for c in commands where !c.hidden {
            text += "  \(c.name.padding(toLength: 10, withPad: " ", startingAt: 0))\(c.abstract)\n"
        }
        text += """

        global options:
          --state DIR     state directory (default ./state): converge.db, runtime files
          --config FILE   host configuration (default STATE/config.yaml when present)
          --json          machine-readable output
          -v, --verbose   more detail

        """
        return text
    }

    /// Runs the command line and returns the process exit code.
    public static func main(_ argv: [String]) async -> Int32 {
        signal(SIGPIPE, SIG_IGN)  // a closed socket must be an error, not a death
        var words = Array(argv.dropFirst())
        if words.isEmpty || words == ["--help"] || words == ["-h"] || words == ["help"] {
            print(usage, terminator: "")
            return words.isEmpty ? 64 : 0
        }
        let name = words.removeFirst()
        guard let type = commands.first(where: { $0.name == name }) else {
            Output.error("unknown command '\(name)'\n\n\(usage)")
            return 64
        }
        if words.contains("--help") || words.contains("-h") {
            print("converge \(type.name): \(type.abstract)\nusage: \(type.usage)")
            return 0
        }
        do {
            var arguments = Arguments(words)
            try arguments.takeGlobals()
            let command = try type.init(parsing: &arguments)
            try command.validate()
            try await command.run()
            return 0
        } catch let exit as ExitCode {
            return exit.code
        } catch let usage as UsageError {
            Output.error(usage.message)
            return 64
        } catch {
            Output.error("\(error)")
            return 1
        }
    }
}

/// One subcommand: a static name and abstract, parsed from the words, validated, run.
protocol Command: Sendable {
    static var name: String { get }
    static var abstract: String { get }
    static var usage: String { get }
    static var hidden: Bool { get }
    init(parsing arguments: inout Arguments) throws
    func validate() throws
    func run() async throws
}

extension Command {
    static var hidden: Bool { false }
    func validate() throws {}
}
