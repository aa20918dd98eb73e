/// A tiny scan for the few flat elements S3 answers carry (Code, Message, UploadId, ETag,
/// PartNumber, Key, Size, IsTruncated, NextContinuationToken, NextPartNumberMarker). S3's
/// bodies are machine-written and never nest an element inside one of the same name, so
/// this is enough, and it avoids depending on FoundationXML (libxml2) on Linux.
struct XMLScan {
    let text: Substring

    init(_ text: String) { self.text = Substring(text) }
    init(_ text: Substring) { self.text = text }

    /// The raw inner text of every `<name>…</name>` (attributes allowed, `<name/>` is "").
    func blocks(_ name: String) -> [Substring] {
        var found: [Substring] = []
        var rest = text[...]
        let open = "<\(name)", close = "</\(name)>"
        while let start = rest.firstRange(of: open) {
            let after = rest[start.upperBound...]
            // "<Key" must not match "<KeyMarker>": the name ends at '>', '/' or whitespace.
            guard let next = after.first, next == ">" || next == "/" || next == " " || next == "\n" || next == "\t",
                  let tagEnd = after.firstIndex(of: ">") else {
                rest = after
                continue
            }
            if tagEnd > after.startIndex, after[after.index(before: tagEnd)] == "/" {  // <name/>
                found.append(after[tagEnd..<tagEnd])
                rest = after[after.index(after: tagEnd)...]
                continue
            }
            let body = after[after.index(after: tagEnd)...]
            guard let end = body.firstRange(of: close) else { break }
            found.append(body[..<end.lowerBound])
            rest = body[end.upperBound...]
        }
        return found
    }

    /// The decoded text of the first `<name>` element, if any.
    func first(_ name: String) -> String? {
        blocks(name).first.map { Self.decodeEntities($0) }
    }

    /// The decoded text of every `<name>` element.
    func all(_ name: String) -> [String] {
        blocks(name).map { Self.decodeEntities($0) }
    }

    /// XML's five named entities and numeric references; S3 escapes keys and quotes ETags with them.
    static func decodeEntities(_ raw: Substring) -> String {
        guard raw.contains("&") else { return String(raw) }
        var out = ""
        var i = raw.startIndex
        while i < raw.endIndex {
            guard raw[i] == "&", let semi = raw[i...].firstIndex(of: ";"), raw.distance(from: i, to: semi) <= 10 else {
                out.append(raw[i])
                i = raw.index(after: i)
                continue
            }
            let entity = raw[raw.index(after: i)..<semi]
            var replacement: String?
            switch entity {
            case "amp": replacement = "&"
            case "lt": replacement = "<"
            case "gt": replacement = ">"
            case "quot": replacement = "\""
            case "apos": replacement = "'"
            default:
                if entity.hasPrefix("#x") || entity.hasPrefix("#X") {
                    replacement = UInt32(entity.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init).map { String(Character($0)) }
                } else if entity.hasPrefix("#") {
                    replacement = UInt32(entity.dropFirst(), radix: 10).flatMap(Unicode.Scalar.init).map { String(Character($0)) }
                }
            }
            if let replacement {
                out += replacement
                i = raw.index(after: semi)
            } else {
                out.append(raw[i])
                i = raw.index(after: i)
            }
        }
        return out
    }

    /// Escapes text for an element body (the CompleteMultipartUpload document).
    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}
