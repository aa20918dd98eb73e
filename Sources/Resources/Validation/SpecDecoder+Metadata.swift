extension SpecDecoder {
    /// Name and labels of a document; nil (with diagnostics) when the name is missing or invalid.
    static func metadata(_ node: Node, kind: ResourceKind?, _ context: DecodeContext) -> (name: String, labels: [String: String], mark: Mark)? {
        guard var fields = FieldReader(node, path: "metadata", context) else { return nil }
        defer { fields.finish(context) }
        let labels = fields.take("labels").map { self.labels($0, context) } ?? [:]
        _ = fields.take("annotations")  // accepted for kubectl-shaped tooling; not used
        guard let nameNode = fields.take("name") else {
            context.error(fields.mark, "metadata.name is required")
            return nil
        }
        guard let name = context.string(nameNode, "metadata.name") else { return nil }
        if let problem = NameRules.problem(with: name, allowDots: kind == .snapshot) {
            context.error(nameNode.mark, "metadata.name '\(name)' \(problem)")
            return nil
        }
        return (name, labels, nameNode.mark)
    }

    /// Labels by Kubernetes' rules (`LabelRules`), at most `SpecLimits.maximumLabels`.
    /// A null value is the empty string, as in Kubernetes.
    private static func labels(_ node: Node, _ context: DecodeContext) -> [String: String] {
        guard case .mapping(let pairs, _) = node else {
            context.error(node.mark, "metadata.labels must be a mapping of strings, found \(node.shapeName)")
            return [:]
        }
        if pairs.count > SpecLimits.maximumLabels {
            context.error(pairs[SpecLimits.maximumLabels].key.mark,
                          "metadata.labels has \(pairs.count) labels; at most \(SpecLimits.maximumLabels) are allowed (keep bulk data out of labels)")
        }
        var labels = [String: String](minimumCapacity: min(pairs.count, SpecLimits.maximumLabels))
        for pair in pairs.prefix(SpecLimits.maximumLabels) {
            let key = pair.key.text
            if let problem = LabelRules.keyProblem(key) {
                context.error(pair.key.mark, "metadata.labels key '\(excerpt(key))' \(problem)")
                continue
            }
            if case .scalar(let s) = pair.value, s.isNull {
                labels[key] = ""
                continue
            }
            guard let value = context.string(pair.value, "metadata.labels.\(key)") else { continue }
            if let problem = LabelRules.valueProblem(value) {
                context.error(pair.value.mark, "metadata.labels.\(key) value '\(excerpt(value))' \(problem)")
                continue
            }
            labels[key] = value
        }
        return labels
    }

    /// The start of a long text, so that an error about a huge key stays readable.
    private static func excerpt(_ text: String) -> String {
        text.count <= 80 ? text : "\(text.prefix(80))…"
    }
}
