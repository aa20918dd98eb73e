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
    /// A line longer than `window` characters shows only the part around the column, so
    /// that 100 diagnostics on a one-line 1.5 MiB file do not print it 100 times.
    func rendered(sourceLine line: String?, window: Int = 120) -> String {
        guard let line else { return description }
        let characters = Array(line.replacingTabs())
        let column = max(0, min(mark.column - 1, characters.count))
        guard characters.count > window else {
            return "\(description)\n    \(String(characters))\n    \(String(repeating: " ", count: column))^"
        }
        let start = max(0, min(column - window / 2, characters.count - window))
        let end = min(characters.count, start + window)
        let head = start > 0 ? "…" : "", tail = end < characters.count ? "…" : ""
        let pad = String(repeating: " ", count: column - start + head.count)
        return "\(description)\n    \(head)\(String(characters[start..<end]))\(tail)\n    \(pad)^"
    }
}

/// The lines of a file, split once so that rendering many diagnostics of one file is
/// linear in its size (splitting per diagnostic made 10,000 of them take minutes).
/// Lines end where libyaml counts a break (its `IS_BREAK`: CR LF, CR, LF, NEL, LS, PS),
/// so that a mark's line number finds the line libyaml meant.
struct SourceLines {
    private let text: [UInt8]
    /// Byte ranges of the lines, without their breaks.
    private let ranges: [Range<Int>]

    init(_ source: String) {
        let bytes = Array(source.utf8)
        var ranges: [Range<Int>] = []
        var start = 0, i = 0
        while i < bytes.count {
            let width = Self.breakWidth(bytes, at: i)
            if width == 0 { i += 1; continue }
            ranges.append(start..<i)
            i += width
            start = i
        }
        ranges.append(start..<bytes.count)
        self.text = bytes
        self.ranges = ranges
    }

    var count: Int { ranges.count }

    /// The mark of byte `offset` (libyaml's reader errors carry an offset, not a mark).
    func mark(atByte offset: Int) -> Mark {
        var low = 0, high = ranges.count - 1
        while low < high {  // the last line that starts at or before `offset`
            let mid = (low + high + 1) / 2
            if ranges[mid].lowerBound <= offset { low = mid } else { high = mid - 1 }
        }
        let end = min(max(offset, ranges[low].lowerBound), ranges[low].upperBound)
        let column = String(decoding: text[ranges[low].lowerBound..<end], as: UTF8.self).unicodeScalars.count + 1
        return Mark(line: low + 1, column: column)
    }

    /// `mark`, or the end of the last line when `mark` lies past it: at the end of a file
    /// without a final newline libyaml reports the start of a line that is not there.
    func clamped(_ mark: Mark) -> Mark {
        guard mark.line > count, let last = self[count] else { return mark }
        return Mark(line: count, column: last.unicodeScalars.count + 1)
    }

    /// The text of 1-based line `number`, or nil past the end.
    subscript(number: Int) -> String? {
        ranges.indices.contains(number - 1) ? String(decoding: text[ranges[number - 1]], as: UTF8.self) : nil
    }

    /// How many bytes the line break at `i` takes, or 0 when there is none.
    private static func breakWidth(_ b: [UInt8], at i: Int) -> Int {
        switch b[i] {
        case 0x0A: return 1
        case 0x0D: return i + 1 < b.count && b[i + 1] == 0x0A ? 2 : 1
        case 0xC2 where i + 1 < b.count && b[i + 1] == 0x85: return 2
        case 0xE2 where i + 2 < b.count && b[i + 1] == 0x80 && (b[i + 2] == 0xA8 || b[i + 2] == 0xA9): return 3
        default: return 0
        }
    }
}

extension String {
    fileprivate func replacingTabs() -> String {
        String(map { $0 == "\t" ? " " : $0 })
    }
}
