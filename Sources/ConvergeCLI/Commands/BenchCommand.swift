/// `converge bench`: benchmarks (filled in below).
struct BenchCommand: Command {
    static let name = "bench"
    static let abstract = "run the benchmarks"
    static let usage = "converge bench"
    static let hidden = true

    init(parsing arguments: inout Arguments) throws {
        _ = try arguments.positionals(min: 0, max: 0, usage: Self.usage)
    }

    func run() async throws {
        throw CLIError("not yet")
    }
}
