/// One problem in a spec file, at a line and column. It renders like a compiler
/// diagnostic: `path:line:col: error: message`, then the source line and a caret.
public struct Diagnostic: Error, Sendable, Equatable, Codable, CustomStringConvertible {
    public var file: String
    public var mark: Mark
    public var message: String

    public init(file: String, mark: Mark, message: String) {
        self.file = file
        self.mark = mark
        self.message = message
    }

    public var description: String { "\(file):\(mark.line):\(mark.column): error: \(message)" }

    /// The diagnostic with the offending source line and a caret under the column.
    /// - Parameter source: the file's text; without it only the first line is printed.
    public func rendered(source: String?) -> String {
        rendered(sourceLine: source.flatMap { SourceLines($0)[mark.line] })
    }

    /// The diagnostic with `sourceLine` (the text of line `mark.line`) and a caret.
    func rendered(sourceLine line: String?) -> String {
        guard let line else { return description }
        let visible = line.trimmingTrailingCR().replacingTabs()
        let caretPad = String(repeating: " ", count: max(0, min(mark.column - 1, visible.count)))
        return "\(description)\n    \(visible)\n    \(caretPad)^"
    }
}

/// The lines of a file, split once so that rendering many diagnostics of one file is
/// linear in its size (splitting per diagnostic made 100,000 of them take minutes).
struct SourceLines {
    private let lines: [Substring.UTF8View]

    init(_ text: String) {
        lines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
    }

    /// The text of 1-based line `number`, or nil past the end.
    subscript(number: Int) -> String? {
        lines.indices.contains(number - 1) ? String(Substring(lines[number - 1])) : nil
    }
}

extension String {
    fileprivate func replacingTabs() -> String {
        String(map { $0 == "\t" ? " " : $0 })
    }

    fileprivate func trimmingTrailingCR() -> String {
        hasSuffix("\r") ? String(dropLast()) : self
    }
}
