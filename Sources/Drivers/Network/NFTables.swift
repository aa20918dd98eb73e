import CNFTables
import Dispatch
import Synchronization

/// nftables through libnftables, in the calling thread's network namespace: the same
/// language as `nft -f`, one atomic transaction per call, no process spawned.
enum NFTables {
    private static let warmUp = Mutex(false)

    struct Failure: Error, CustomStringConvertible {
        var commands: String
        var message: String
        var description: String { "nftables: \(message.trimmingCharacters(in: .whitespacesAndNewlines))" }
    }

    /// Runs `commands` (nft syntax) and returns what nft printed.
    @discardableResult
    static func run(_ commands: String) throws -> String {
        // Some libnftables versions do one-time global setup in the first nft_ctx_new
        // without a lock; the first context is made alone.
        warmUp.withLock { done in
            if !done, let first = nft_ctx_new(0) { nft_ctx_free(first) }
            done = true
        }
        guard let context = nft_ctx_new(0) else { throw Failure(commands: commands, message: "cannot create a libnftables context") }
        // Freeing closes the context's netlink socket, which blocks ~20 ms in the kernel
        // (measured with strace -T): done off the caller's path.
        defer { ContextRelease.later(context) }
        nft_ctx_buffer_output(context)
        nft_ctx_buffer_error(context)
        let rc = nft_run_cmd_from_buffer(context, commands)
        let output = nft_ctx_get_output_buffer(context).map { String(cString: $0) } ?? ""
        guard rc == 0 else {
            let error = nft_ctx_get_error_buffer(context).map { String(cString: $0) } ?? "failed"
            throw Failure(commands: commands, message: error)
        }
        return output
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: Set<Character>) -> String {
        String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
    fileprivate static let whitespacesAndNewlines: Set<Character> = [" ", "\n", "\t", "\r"]
}

/// Frees libnftables contexts on a background queue.
private enum ContextRelease {
    struct Box: @unchecked Sendable { let context: OpaquePointer }
    static func later(_ context: OpaquePointer) {
        let box = Box(context: context)
        DispatchQueue.global(qos: .utility).async { nft_ctx_free(box.context) }
    }
}
