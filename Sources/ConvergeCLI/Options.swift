/// One option a command takes: its spelling, its value's placeholder (nil for a flag) and
/// what it does. A command's help and its parser read the same list, so they cannot
/// drift: `Arguments` refuses to look up an option that is not declared.
struct OptionSpec: Sendable, Equatable {
    var name: String
    var short: String?
    var value: String?
    var help: String

    init(_ name: String, short: String? = nil, value: String? = nil, _ help: String) {
        self.name = name
        self.short = short
        self.value = value
        self.help = help
    }

    /// `--max-destroy N`, `-v, --verbose`.
    var synopsis: String {
        (short.map { "\($0), " } ?? "") + name + (value.map { " \($0)" } ?? "")
    }

    static let help = OptionSpec("--help", short: "-h", "print this help")

    /// One aligned line per option; `alignWith` widens the first column to fit those too.
    static func table(_ specs: [OptionSpec], alignWith others: [OptionSpec] = []) -> String {
        let width = max(16, ((specs + others).map(\.synopsis.count).max() ?? 0) + 2)
        return specs.map { "  \($0.synopsis.padding(toLength: width, withPad: " ", startingAt: 0))\($0.help)\n" }.joined()
    }
}

extension GlobalOptions {
    /// Options every command takes, before or after the command word (CONTRACT §2).
    static let specs: [OptionSpec] = [
        OptionSpec("--state", value: "DIR", "state directory (default ./state): converge.db, runtime files"),
        OptionSpec("--config", value: "FILE", "host configuration (default STATE/config.yaml when present)"),
        OptionSpec("--json", "machine-readable output"),
        OptionSpec("--verbose", short: "-v", "plan: also every unchanged resource and what is observed; apply: also every journal step"),
    ]
}

extension ApplyCommand {
    /// The options `plan`, `apply` and `run` share.
    static let planOptions: [OptionSpec] = [
        OptionSpec("--max-destroy", value: "N", "most destroy/replace actions in one pass (default max(10, 25% of sandboxes))"),
        OptionSpec("--force", "lift the prune guard (--max-destroy)"),
        OptionSpec("--allow-empty", "accept an empty spec directory: destroy everything Converge manages"),
        OptionSpec("--resync", value: "DURATION", "ask every VMM at least this often; an unchanged one's last answer is trusted until then (default 30s; 0s asks every pass)"),
    ]
}

extension Command {
    /// `converge apply DIR [--max-destroy N] [--force] …`, derived from `options`.
    static var usage: String {
        (["converge", name] + (arguments.isEmpty ? [] : [arguments]) + options.map { "[\($0.synopsis)]" }).joined(separator: " ")
    }

    /// What `converge COMMAND --help` prints: every option the parser accepts.
    static var help: String {
        var text = "converge \(name): \(abstract)\nusage: \(usage)\n"
        let globals = GlobalOptions.specs + [OptionSpec.help]
        if !options.isEmpty { text += "\noptions:\n" + OptionSpec.table(options, alignWith: globals) }
        text += "\nglobal options (before or after the command):\n" + OptionSpec.table(globals, alignWith: options)
        return text
    }
}
