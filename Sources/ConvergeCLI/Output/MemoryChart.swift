import Foundation

/// One inline SVG chart of a `MemorySeries`: allocated, used and reclaimed memory over
/// time, with both axes, gridlines, tick labels and a legend. Draws nothing it does not
/// have: a figure no guest reported is left out and its legend entry says so.
enum MemoryChart {
    static let width = 960.0, height = 300.0
    private static let left = 76.0, right = 24.0, top = 44.0, bottom = 46.0
    private static var plotWidth: Double { width - left - right }
    private static var plotHeight: Double { height - top - bottom }

    /// One figure of the three: its CSS class, legend text, colour and value at a point.
    struct Line: Sendable {
        var key: String
        var label: String
        var color: String
        var dashed: Bool
        var value: @Sendable (MemorySeries.Point) -> Int64?
    }

    static let lines: [Line] = [
        Line(key: "allocated", label: "allocated", color: "#2563eb", dashed: true, value: { $0.allocated }),
        Line(key: "used", label: "used (guest)", color: "#16a34a", dashed: false, value: { $0.used }),
        Line(key: "reclaimed", label: "reclaimed (balloon)", color: "#dc2626", dashed: false, value: { $0.reclaimed }),
    ]

    /// The `<svg>` element. `attributes` are added to it as they are (already escaped);
    /// `labels` replaces the legend text of a line, by its key.
    static func svg(_ series: MemorySeries, caption: String, attributes: String, labels: [String: String] = [:]) -> String {
        guard let first = series.points.first, let last = series.points.last else { return "" }
        // One moment has no width: show a two-minute window around it.
        let (t0, t1) = last.at - first.at < 1 ? (first.at - 60, last.at + 60) : (first.at, last.at)
        let peak = series.points.map { p in lines.compactMap { $0.value(p) }.max() ?? 0 }.max() ?? 0
        let yStep = yTickStep(peak)
        let yMax = max(yStep, (Double(peak) / yStep).rounded(.up) * yStep)
        func x(_ t: Double) -> Double { left + (t - t0) / (t1 - t0) * plotWidth }
        func y(_ bytes: Int64) -> Double { top + plotHeight - Double(bytes) / yMax * plotHeight }

        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" \(attributes) viewBox=\"0 0 \(f(width)) \(f(height))\""
        out += " role=\"img\" aria-label=\"\(HTML.escape(caption))\"><title>\(HTML.escape(caption))</title>\n"
        out += "<rect class=\"plot\" x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\"/>\n"
        for v in stride(from: 0.0, through: yMax + yStep / 2, by: yStep) {
            let py = y(Int64(v))
            out += "<line class=\"grid\" x1=\"\(f(left))\" y1=\"\(f(py))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(py))\"/>"
            out += "<text class=\"tick y\" x=\"\(f(left - 8))\" y=\"\(f(py + 4))\">\(ByteUnits.human(Int64(v)))</text>\n"
        }
        let (xStep, format) = xTicks(span: t1 - t0)
        for t in stride(from: (t0 / xStep).rounded(.up) * xStep, through: t1, by: xStep) {
            let px = x(t)
            out += "<line class=\"grid\" x1=\"\(f(px))\" y1=\"\(f(top))\" x2=\"\(f(px))\" y2=\"\(f(top + plotHeight))\"/>"
            out += "<text class=\"tick x\" x=\"\(f(px))\" y=\"\(f(top + plotHeight + 18))\">\(format.string(from: Date(timeIntervalSince1970: t)))</text>\n"
        }
        out += "<line class=\"axis\" x1=\"\(f(left))\" y1=\"\(f(top + plotHeight))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(top + plotHeight))\"/>"
        out += "<line class=\"axis\" x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(top + plotHeight))\"/>\n"
        out += "<text class=\"axis-title\" x=\"\(f(left + plotWidth / 2))\" y=\"\(f(height - 6))\">time (UTC)</text>"
        out += "<text class=\"axis-title\" transform=\"translate(16 \(f(top + plotHeight / 2))) rotate(-90)\">memory</text>\n"

        var legendX = left
        for line in lines {
            let drawn = series.points.contains { line.value($0) != nil }
            out += "<g class=\"legend \(line.key)\"><line x1=\"\(f(legendX))\" y1=\"18\" x2=\"\(f(legendX + 24))\" y2=\"18\" stroke=\"\(line.color)\""
            out += " stroke-width=\"3\"\(line.dashed ? " stroke-dasharray=\"6 4\"" : "")\(drawn ? "" : " opacity=\"0.3\"")/>"
            let text = labels[line.key] ?? line.label
            let label = drawn ? text : "\(text): not reported"
            out += "<text x=\"\(f(legendX + 30))\" y=\"22\">\(label)</text></g>\n"
            legendX += 40 + Double(label.count) * 7.5
            guard drawn else { continue }
            out += path(series.points, line, x: x, y: y)
        }
        return out + "</svg>"
    }

    // MARK: - Helpers

    /// The line's path, broken at segment starts and where its value is unknown; a point
    /// with no neighbour to join gets a dot, or it would not show.
    private static func path(_ points: [MemorySeries.Point], _ line: Line,
                             x: (Double) -> Double, y: (Int64) -> Double) -> String {
        var d = "", dots = ""
        var previousDrawn = false
        for (i, p) in points.enumerated() {
            guard let v = line.value(p) else {
                previousDrawn = false
                continue
            }
            let joins = previousDrawn && !p.startsSegment
            let nextJoins = i + 1 < points.count && !points[i + 1].startsSegment && line.value(points[i + 1]) != nil
            d += "\(joins ? "L" : "M")\(f(x(p.at))) \(f(y(v))) "
            if !joins && !nextJoins {
                dots += "<circle class=\"point \(line.key)\" cx=\"\(f(x(p.at)))\" cy=\"\(f(y(v)))\" r=\"3.5\" fill=\"\(line.color)\"/>"
            }
            previousDrawn = true
        }
        let dash = line.dashed ? " stroke-dasharray=\"6 4\"" : ""
        return "<path class=\"series \(line.key)\" stroke=\"\(line.color)\"\(dash) d=\"\(d.trimmingCharacters(in: .whitespaces))\"/>\(dots)\n"
    }

    /// A power of two of bytes that divides `peak` into at most five steps (1Gi, 2Gi, 512Mi …).
    static func yTickStep(_ peak: Int64) -> Double {
        var step = 1024.0
        while Double(peak) / step > 5 { step *= 2 }
        return step
    }

    /// A round step in seconds giving at most six ticks over `span`, and how to label them.
    private static func xTicks(span: Double) -> (Double, DateFormatter) {
        let steps: [Double] = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172_800, 604_800]
        let step = steps.first { span / $0 <= 6 } ?? 604_800
        let format = DateFormatter()
        format.locale = Locale(identifier: "en_US_POSIX")
        format.timeZone = TimeZone(identifier: "UTC")
        format.dateFormat = step < 60 ? "HH:mm:ss" : step >= 86400 ? "MMM d" : span > 86400 ? "MMM d HH:mm" : "HH:mm"
        return (step, format)
    }

    /// Coordinates with one decimal: enough for a screen, a tenth of the bytes.
    private static func f(_ v: Double) -> String { String(format: "%.1f", v) }
}
