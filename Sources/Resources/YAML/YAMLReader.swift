internal import CYAML

/// Parses YAML text into `Document`s of `Node`s with 1-based marks, using libyaml's
/// event API. Specs need only plain data, so anchors, aliases, tags, non-scalar keys
/// and duplicate keys are rejected with a diagnostic at their position.
///
/// Not Sendable on purpose: one reader owns one libyaml parser for one parse.
final class YAMLReader {
    /// On the heap, not a stored property: libyaml is called half a million times in a
    /// cold load, and a property passed `inout` pays an exclusivity check each time.
    private let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
    private let file: String
    private let text: String

    private init(text: String, file: String) {
        self.text = text
        self.file = file
        parser.initialize(to: yaml_parser_t())
        yaml_parser_initialize(parser)
    }

    deinit {
        yaml_parser_delete(parser)
        parser.deallocate()
    }

    /// Parses every document of `text`.
    /// - Parameters:
    ///   - text: the file's contents.
    ///   - file: the path shown in diagnostics.
    /// - Throws: `Diagnostic` at the first syntax error or forbidden feature.
    static func documents(in text: String, file: String) throws(Diagnostic) -> [Document] {
        let bytes = Array(text.utf8)
        let reader = YAMLReader(text: text, file: file)
        // libyaml keeps the pointer for the whole parse, so the parse runs inside the closure.
        let result: Result<[Document], Diagnostic> = bytes.withUnsafeBufferPointer { buffer in
            yaml_parser_set_input_string(reader.parser, buffer.baseAddress, buffer.count)
            do throws(Diagnostic) { return .success(try reader.stream()) } catch { return .failure(error) }
        }
        return try result.get()
    }

    // MARK: - Events

    private enum Event {
        case streamStart, streamEnd, documentStart(Mark), documentEnd
        case scalar(Node.Scalar)
        case sequenceStart(Mark), sequenceEnd
        case mappingStart(Mark), mappingEnd
    }

    /// Copies one libyaml event into a Swift `Event` and frees the C event at once.
    private func next() throws(Diagnostic) -> Event {
        var event = yaml_event_t()
        guard yaml_parser_parse(parser, &event) == 1 else { throw syntaxError() }
        defer { yaml_event_delete(&event) }
        let mark = Mark(line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)
        switch event.type {
        case YAML_STREAM_START_EVENT: return .streamStart
        case YAML_STREAM_END_EVENT: return .streamEnd
        case YAML_DOCUMENT_START_EVENT: return .documentStart(mark)
        case YAML_DOCUMENT_END_EVENT: return .documentEnd
        case YAML_ALIAS_EVENT:
            throw Diagnostic(file: file, mark: mark, message: "aliases (*name) are not allowed in specs; write the value out")
        case YAML_SCALAR_EVENT:
            let data = event.data.scalar
            try reject(anchor: data.anchor, tag: data.tag, at: mark)
            let text = data.value.map { String(decoding: UnsafeBufferPointer(start: $0, count: Int(data.length)), as: UTF8.self) } ?? ""
            return .scalar(Node.Scalar(text: text, mark: mark, isPlain: data.style == YAML_PLAIN_SCALAR_STYLE))
        case YAML_SEQUENCE_START_EVENT:
            try reject(anchor: event.data.sequence_start.anchor, tag: event.data.sequence_start.tag, at: mark)
            return .sequenceStart(mark)
        case YAML_SEQUENCE_END_EVENT: return .sequenceEnd
        case YAML_MAPPING_START_EVENT:
            try reject(anchor: event.data.mapping_start.anchor, tag: event.data.mapping_start.tag, at: mark)
            return .mappingStart(mark)
        case YAML_MAPPING_END_EVENT: return .mappingEnd
        default:
            throw Diagnostic(file: file, mark: mark, message: "unexpected YAML event \(event.type.rawValue)")
        }
    }

    private func reject(anchor: UnsafeMutablePointer<yaml_char_t>?, tag: UnsafeMutablePointer<yaml_char_t>?, at mark: Mark) throws(Diagnostic) {
        if anchor != nil {
            throw Diagnostic(file: file, mark: mark, message: "anchors (&name) are not allowed in specs; write the value out")
        }
        if let tag {
            let name = String(cString: UnsafeRawPointer(tag).assumingMemoryBound(to: CChar.self))
            throw Diagnostic(file: file, mark: mark, message: "tags (\(name)) are not allowed in specs")
        }
    }

    private func syntaxError() -> Diagnostic {
        let lines = SourceLines(text)
        let parser = self.parser.pointee
        let mark = parser.error == YAML_READER_ERROR
            ? lines.mark(atByte: Int(parser.problem_offset))
            : lines.clamped(Mark(line: Int(parser.problem_mark.line) + 1, column: Int(parser.problem_mark.column) + 1))
        var message = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
        if let context = parser.context.map({ String(cString: $0) }) {
            message = "\(message) \(context)"
        }
        return Diagnostic(file: file, mark: mark, message: "YAML syntax error: \(message)")
    }

    // MARK: - Tree building

    private func stream() throws(Diagnostic) -> [Document] {
        guard case .streamStart = try next() else { return [] }
        var documents: [Document] = []
        while true {
            switch try next() {
            case .streamEnd:
                return documents
            case .documentStart(let mark):
                guard documents.count < SpecLimits.maximumDocumentsPerFile else {
                    throw Diagnostic(file: file, mark: mark, message: "this file holds more than \(SpecLimits.maximumDocumentsPerFile) documents; split it into several files")
                }
                let root = try node(try next(), depth: 1)
                guard case .documentEnd = try next() else {
                    throw Diagnostic(file: file, mark: root.mark, message: "expected the end of the document")
                }
                documents.append(Document(root: root, index: documents.count))
            default:
                throw Diagnostic(file: file, mark: .start, message: "expected a YAML document")
            }
        }
    }

    /// Builds the node that `event` starts. `depth` is its nesting level (the root is 1);
    /// past `SpecLimits.maximumDepth` the parse stops, so recursion stays shallow.
    private func node(_ event: Event, depth: Int) throws(Diagnostic) -> Node {
        switch event {
        case .scalar(let scalar):
            return .scalar(scalar)
        case .sequenceStart(let mark):
            try checkDepth(depth, at: mark)
            var items: [Node] = []
            while true {
                let e = try next()
                if case .sequenceEnd = e { break }
                items.append(try node(e, depth: depth + 1))
            }
            return .sequence(items, mark)
        case .mappingStart(let mark):
            try checkDepth(depth, at: mark)
            var pairs: [Node.Pair] = []
            // Room for a spec's largest mapping at once: growing 1, 2, 4, 8 costs four allocations.
            pairs.reserveCapacity(8)
            // Keys seen so far: a scan of the pairs while the mapping is small (most are),
            // an index once it is not.
            var seen: [String: Mark]?
            while true {
                let e = try next()
                if case .mappingEnd = e { break }
                guard case .scalar(let key) = e else {
                    let bad = try node(e, depth: depth + 1)
                    throw Diagnostic(file: file, mark: bad.mark, message: "mapping keys must be plain scalars")
                }
                if seen == nil && pairs.count >= 16 {
                    seen = Dictionary(pairs.map { ($0.key.text, $0.key.mark) }, uniquingKeysWith: { first, _ in first })
                }
                let length = key.text.utf8.count
                let first = seen.map { $0[key.text] } ?? pairs.first { $0.key.text.utf8.count == length && $0.key.text == key.text }?.key.mark
                if let first {
                    throw Diagnostic(file: file, mark: key.mark, message: "duplicate key '\(key.text)' (first at line \(first.line), column \(first.column))")
                }
                guard pairs.count < SpecLimits.maximumKeysPerMapping else {
                    throw Diagnostic(file: file, mark: key.mark, message: "this mapping (line \(mark.line)) has more than \(SpecLimits.maximumKeysPerMapping) keys; a spec needs far fewer")
                }
                seen?[key.text] = key.mark
                pairs.append(Node.Pair(key: key, value: try node(try next(), depth: depth + 1)))
            }
            return .mapping(pairs, mark)
        default:
            throw Diagnostic(file: file, mark: .start, message: "unexpected YAML structure")
        }
    }

    private func checkDepth(_ depth: Int, at mark: Mark) throws(Diagnostic) {
        guard depth <= SpecLimits.maximumDepth else {
            throw Diagnostic(file: file, mark: mark, message: "nesting is deeper than \(SpecLimits.maximumDepth) levels; a spec needs only a few")
        }
    }
}
