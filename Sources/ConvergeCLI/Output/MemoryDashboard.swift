import Foundation
import Reconciler

/// The page `converge stats memory --html` writes: one self-contained HTML file with an
/// inline SVG chart for the host and one per sandbox. No script, stylesheet, font or
/// image is fetched; its Content-Security-Policy forbids it, so a browser opening it from
/// a mail attachment or an air-gapped host shows the same thing.
enum MemoryDashboard {
    /// The page for `samples`; a pure function of its arguments.
    /// - Parameters:
    ///   - samples: the history to draw, any order; empty draws the empty state.
    ///   - generatedAt: when the page is made (seconds since 1970), printed in its header.
    ///   - scope: what was asked, e.g. "all sandboxes" or "sandbox web-1, last 1h".
    static func render(_ samples: [MemorySample], generatedAt: Double, scope: String) -> String {
        let sandboxes = MemorySeries.perSandbox(samples)
        var body = "<header><h1>Memory history</h1><p class=\"meta\">\(HTML.escape(scope)) · generated \(time(generatedAt)) UTC</p></header>\n<main>\n"
        if samples.isEmpty {
            body += """
            <section class="empty" id="empty"><h2>No memory samples yet</h2>
            <p>Samples are written by <code>converge apply</code> and <code>converge run</code> while a sandbox runs with a
            balloon, at most one every 5 seconds per sandbox, and kept for 7 days. Apply specs with this state directory
            (or widen <code>--since</code>), then write this page again.</p></section>\n
            """
        } else {
            let times = samples.map(\.at)
            body += "<p class=\"meta\">\(samples.count) samples of \(sandboxes.count) sandbox\(sandboxes.count == 1 ? "" : "es")"
            body += " from \(time(times.min()!)) to \(time(times.max()!)) UTC</p>\n"
            let host = MemorySeries.host(samples)
            body += "<section class=\"host\"><h2>Host: sum over sandboxes</h2>\n"
            body += MemoryChart.svg(host, caption: "host: allocated, used and reclaimed memory over time", attributes: "data-series=\"host\"",
                                     labels: ["used": "used (guests that report)"])
            body += "</section>\n" + summary(sandboxes)
            for s in sandboxes {
                let name = HTML.escape(s.title)
                body += "<section class=\"sandbox\"><h2>\(name)</h2>\n"
                body += MemoryChart.svg(s, caption: "\(s.title): allocated, used and reclaimed memory over time",
                                        attributes: "data-series=\"sandbox\" data-sandbox=\"\(name)\"")
                body += "</section>\n"
            }
        }
        body += "</main>\n<footer><p><b>allocated</b>: memory the VM has (boot size plus hot-plugged). <b>used</b>: what the guest says it uses;"
        body += " absent when it did not say. <b>reclaimed</b>: what the balloon holds, taken back from the guest for the host.</p></footer>\n"
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Converge: memory history</title>
        <style>\(style)</style>
        </head><body>
        \(body)</body></html>

        """
    }

    /// One row per sandbox: its latest figures.
    private static func summary(_ sandboxes: [MemorySeries]) -> String {
        var rows = ""
        for s in sandboxes {
            guard let p = s.points.last else { continue }
            rows += "<tr><td>\(HTML.escape(s.title))</td><td>\(time(p.at))</td><td>\(ByteUnits.human(p.allocated))</td>"
            rows += "<td>\(p.used.map(ByteUnits.human) ?? "–")</td><td>\(ByteUnits.human(p.reclaimed))</td></tr>\n"
        }
        return """
        <section class="summary"><h2>Latest</h2><table><thead><tr><th>sandbox</th><th>time (UTC)</th><th>allocated</th>\
        <th>used</th><th>reclaimed</th></tr></thead><tbody>
        \(rows)</tbody></table></section>\n
        """
    }

    private static func time(_ t: Double) -> String {
        let format = DateFormatter()
        format.locale = Locale(identifier: "en_US_POSIX")
        format.timeZone = TimeZone(identifier: "UTC")
        format.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return format.string(from: Date(timeIntervalSince1970: t))
    }

    private static let style = """
    body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;max-width:1000px;padding:0 16px;color:#1f2937;background:#fff}
    h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}.meta{color:#4b5563;margin:2px 0}
    section{margin-bottom:16px}svg.chart{width:100%;height:auto;display:block;border:1px solid #e5e7eb;border-radius:6px}
    .plot{fill:#fafafa}.grid{stroke:#e5e7eb;stroke-width:1}.axis{stroke:#6b7280;stroke-width:1}
    .tick{font-size:12px;fill:#4b5563}.tick.y{text-anchor:end}.tick.x{text-anchor:middle}
    .axis-title{font-size:12px;fill:#374151;text-anchor:middle}.legend text{font-size:13px;fill:#1f2937}
    path.series{fill:none;stroke-width:2;stroke-linejoin:round}
    table{border-collapse:collapse}th,td{padding:3px 12px 3px 0;text-align:left}th{border-bottom:1px solid #d1d5db}
    .empty{border:1px dashed #9ca3af;border-radius:6px;padding:8px 16px;background:#f9fafb}
    footer{color:#4b5563;font-size:12px;margin-top:24px}
    """
}

/// Text made safe to put between HTML tags or inside a quoted attribute.
enum HTML {
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}
