import Reconciler

/// One line of a memory chart: points in time order, broken where sampling stopped.
struct MemorySeries: Equatable {
    struct Point: Equatable {
        var at: Double
        var allocated: Int64
        /// Nil where no guest said what it uses.
        var used: Int64?
        var reclaimed: Int64
        /// The line does not join this point to the one before: sampling stopped between them.
        var startsSegment: Bool
    }

    var title: String
    var points: [Point]

    /// A chart has this many points at most: more only costs bytes a screen cannot show.
    static let maximumPoints = 500

    /// One series per sandbox, by name; each downsampled to `maximumPoints`.
    static func perSandbox(_ samples: [MemorySample]) -> [MemorySeries] {
        Dictionary(grouping: samples, by: \.name).sorted { $0.key < $1.key }.map { name, own in
            let sorted = own.sorted { $0.at < $1.at }
            let gap = gapLimit(sorted.map(\.at))
            var points: [Point] = []
            for (i, s) in sorted.enumerated() {
                points.append(Point(at: s.at, allocated: s.allocated, used: s.used, reclaimed: s.reclaimed,
                                    startsSegment: i == 0 || s.at - sorted[i - 1].at > gap))
            }
            return MemorySeries(title: name, points: downsample(points))
        }
    }

    /// The host: at each moment, the sum over the sandboxes sampled recently enough. `used`
    /// sums the guests that reported; nil when none did.
    static func host(_ samples: [MemorySample]) -> MemorySeries {
        let bySandbox = Dictionary(grouping: samples, by: \.name).values.map { own in
            let sorted = own.sorted { $0.at < $1.at }
            return (samples: sorted, gap: gapLimit(sorted.map(\.at)))
        }
        var points: [Point] = []
        var joined = false  // the moment before had a sandbox to sum
        for t in grid(Array(Set(samples.map(\.at))).sorted()) {
            var sum = Point(at: t, allocated: 0, used: nil, reclaimed: 0, startsSegment: false)
            var contributors = 0
            for sandbox in bySandbox {
                // Its latest sample at or before t, unless sampling had stopped by then.
                guard let s = latest(sandbox.samples, atOrBefore: t), t - s.at <= sandbox.gap else { continue }
                contributors += 1
                sum.allocated += s.allocated
                sum.reclaimed += s.reclaimed
                if let used = s.used { sum.used = (sum.used ?? 0) + used }
            }
            guard contributors > 0 else {
                joined = false
                continue
            }
            sum.startsSegment = !joined
            joined = true
            points.append(sum)
        }
        return MemorySeries(title: "host", points: points)
    }

    // MARK: - Helpers

    /// Consecutive samples further apart than this were not one run of sampling: three
    /// usual intervals, and never under 10 s (a loop's own jitter).
    static func gapLimit(_ times: [Double]) -> Double {
        let gaps = zip(times.dropFirst(), times).map { $0 - $1 }.sorted()
        guard !gaps.isEmpty else { return 10 }
        return max(10, 3 * gaps[gaps.count / 2])
    }

    /// The sample times themselves when few, else `maximumPoints` evenly spaced moments.
    private static func grid(_ times: [Double]) -> [Double] {
        guard times.count > maximumPoints, let first = times.first, let last = times.last else { return times }
        let step = (last - first) / Double(maximumPoints - 1)
        return (0..<maximumPoints).map { first + Double($0) * step }
    }

    private static func latest(_ sorted: [MemorySample], atOrBefore t: Double) -> MemorySample? {
        var low = 0, high = sorted.count  // first index whose time is after t
        while low < high {
            let mid = (low + high) / 2
            if sorted[mid].at <= t { low = mid + 1 } else { high = mid }
        }
        return low > 0 ? sorted[low - 1] : nil
    }

    /// Averages points into `maximumPoints` equal time buckets; a bucket starts a segment
    /// when any of its points did.
    static func downsample(_ points: [Point]) -> [Point] {
        guard points.count > maximumPoints, let first = points.first?.at, let last = points.last?.at, last > first else { return points }
        let width = (last - first) / Double(maximumPoints)
        var buckets: [Int: [Point]] = [:]
        for p in points { buckets[min(maximumPoints - 1, Int((p.at - first) / width)), default: []].append(p) }
        return buckets.keys.sorted().map { key in
            let members = buckets[key]!
            let used = members.compactMap(\.used)
            return Point(at: members.map(\.at).reduce(0, +) / Double(members.count),
                         allocated: members.map(\.allocated).reduce(0, +) / Int64(members.count),
                         used: used.isEmpty ? nil : used.reduce(0, +) / Int64(used.count),
                         reclaimed: members.map(\.reclaimed).reduce(0, +) / Int64(members.count),
                         startsSegment: members.contains { $0.startsSegment })
        }
    }
}
