import Foundation

/// Results of a parallel loop (`DispatchQueue.concurrentPerform`), one slot per iteration:
/// each slot is written by one thread, and all are read after the loop returns.
public final class ConcurrentSlots<T>: @unchecked Sendable {
    private var slots: [T?]
    private let lock = NSLock()

    public init(count: Int) { slots = Array(repeating: nil, count: count) }

    public func set(_ index: Int, _ value: T?) {
        lock.lock()
        slots[index] = value
        lock.unlock()
    }

    /// The filled slots, in index order.
    public func values() -> [T] { slots.compactMap { $0 } }
}
