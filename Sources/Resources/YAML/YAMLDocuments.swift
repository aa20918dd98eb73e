/// Public entry to the YAML reader for other files than specs (the host configuration).
public enum YAMLDocuments {
    /// Parses `text` into documents with 1-based marks; anchors, aliases and tags are rejected.
    public static func parse(_ text: String, file: String) throws(Diagnostic) -> [Document] {
        try YAMLReader.documents(in: text, file: file)
    }
}
