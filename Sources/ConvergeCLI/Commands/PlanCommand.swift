import Reconciler
import Resources

/// `converge plan DIR`: observe, diff, print the actions; changes nothing.
/// Exit 0 no changes, 2 changes pending, 1 error.
struct PlanCommand: Command {
    static let name = "plan"
    static let abstract = "show what apply would do, and why; changes nothing"
    static let arguments = "DIR"
    static let options = ApplyCommand.planOptions

    var global: GlobalOptions
    var directory: String
    var options: ApplyOptions

    init(parsing arguments: inout Arguments) throws {
        global = arguments.global
        options = try ApplyCommand.applyOptions(&arguments)
        directory = try arguments.positionals(min: 1, max: 1, usage: Self.usage)[0]
    }

    func run() async throws {
        let specs = try SpecReading.load(directory)
        let wiring = try Wiring(global, access: .readOrEmpty)
        let report = try await wiring.reconciler.plan(specs, options: options)
        if global.json {
            try Output.json(PlanJSON(directory: directory, report: report, specs: specs))
        } else {
            PlanPrinter.print(report, specs: specs, directory: directory, verbose: global.verbose)
        }
        if !specs.isValid { throw ExitCode.failure }
        if !report.plan.isConverged { throw ExitCode(2) }
    }
}
