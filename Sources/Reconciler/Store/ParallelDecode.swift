import Foundation
import Resources

/// Decodes many JSON texts on every core: a thousand recorded observations are read at the
/// start of every pass, and JSONDecoder is most of that pass's cost. Texts that do not
/// decode are left out (an observation is only a cache: the host is asked instead).
enum ParallelDecode {
    static func decode<T: Decodable & Sendable>(_ type: T.Type, _ texts: [String]) -> [T] {
        let slots = ConcurrentSlots<T>(count: texts.count)
        let chunks = max(1, min(texts.count / 64, ProcessInfo.processInfo.activeProcessorCount * 2))
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let decoder = JSONDecoder()
            for i in stride(from: chunk, to: texts.count, by: chunks) {
                slots.set(i, try? decoder.decode(T.self, from: Data(texts[i].utf8)))
            }
        }
        return slots.values()
    }
}
