import Foundation

/// Writes to the terminal. Errors go to stderr; results to stdout.
enum Output {
    static let isTerminal = isatty(STDERR_FILENO) == 1

    static func error(_ message: String) { toStderr("error: \(message)\n") }

    static func warning(_ message: String) { toStderr("warning: \(message)\n") }

    static func progress(_ message: String) { toStderr("\(message)\n") }

    /// Plain write(2): a closed pipe (`converge apply | head`) loses the text but never
    /// stops an apply half-way (FileHandle.write traps on EPIPE).
    private static func toStderr(_ text: String) {
        _ = text.withCString { write(STDERR_FILENO, $0, strlen($0)) }
    }

    /// Prints `value` as stable JSON (sorted keys) on stdout.
    static func json<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// Left-aligned columns, as kubectl prints them.
    static func table(_ header: [String], _ rows: [[String]]) {
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in i == cells.count - 1 ? c : c.padding(toLength: widths[i] + 3, withPad: " ", startingAt: 0) }
                .joined().trimmingCharacters(in: .whitespaces)
        }
        print(line(header))
        for row in rows { print(line(row)) }
    }

    /// "5s", "3m", "2h", "4d" since `time`.
    static func age(since time: Double) -> String {
        let s = max(0, Int(Date().timeIntervalSince1970 - time))
        if s < 120 { return "\(s)s" }
        if s < 7200 { return "\(s / 60)m" }
        if s < 172_800 { return "\(s / 3600)h" }
        return "\(s / 86400)d"
    }
}
