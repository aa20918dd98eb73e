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
        guard let source, let line = Self.line(mark.line, of: source) else { return description }
        let visible = line.replacingTabs()
        let caretPad = String(repeating: " ", count: max(0, min(mark.column - 1, visible.count)))
        return "\(description)\n    \(visible)\n    \(caretPad)^"
    }

    private static func line(_ number: Int, of text: String) -> String? {
        var current = 1
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == number { return String(line).trimmingTrailingCR() }
            current += 1
        }
        return nil
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
