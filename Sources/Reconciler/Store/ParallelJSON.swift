import Foundation
import Resources

/// JSON on every core: a thousand recorded observations are read at the start of every
/// pass and, after a balloon pass, written again (and the daemon's status files with them);
/// JSONDecoder and JSONEncoder are most of that cost.
public enum ParallelJSON {
    /// Texts that do not decode are left out (an observation is only a cache: the host is
    /// asked instead).
    static func decode<T: Decodable & Sendable>(_ type: T.Type, _ texts: [String]) -> [T] {
        let slots = ConcurrentSlots<T>(count: texts.count)
        DispatchQueue.concurrentPerform(iterations: chunks(texts.count)) { chunk in
            let decoder = JSONDecoder()
            for i in stride(from: chunk, to: texts.count, by: chunks(texts.count)) {
                slots.set(i, try? decoder.decode(T.self, from: Data(texts[i].utf8)))
            }
        }
        return slots.values()
    }

    /// Every value as JSON, in order.
    /// - Throws: the first value's (in order) that does not encode.
    public static func encode<T: Encodable & Sendable>(_ values: [T], formatting: JSONEncoder.OutputFormatting = [.sortedKeys]) throws -> [Data] {
        let slots = ConcurrentSlots<Result<Data, any Error>>(count: values.count)
        DispatchQueue.concurrentPerform(iterations: chunks(values.count)) { chunk in
            let encoder = JSONEncoder()
            encoder.outputFormatting = formatting
            for i in stride(from: chunk, to: values.count, by: chunks(values.count)) {
                slots.set(i, Result { try encoder.encode(values[i]) })
            }
        }
        return try slots.values().map { try $0.get() }
    }

    private static func chunks(_ count: Int) -> Int {
        max(1, min(count / 64, cores * 2))
    }

    /// Read once: Foundation reads it from files each time it is asked.
    private static let cores = ProcessInfo.processInfo.activeProcessorCount
}
