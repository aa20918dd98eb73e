import Glibc

/// A failed system call: which call on what object, and the errno it left behind.
public struct SystemError: Error, Hashable, Sendable, CustomStringConvertible {
    public var call: String
    public var code: Int32

    public init(call: String, code: Int32) {
        self.call = call
        self.code = code
    }

    public var description: String { "\(call): \(String(cString: strerror(code))) (errno \(code))" }
}

/// Runs `body`, retries on EINTR, throws `SystemError` when it returns -1.
/// `call` is only built on failure.
@discardableResult
func sys<T: FixedWidthInteger>(_ call: @autoclosure () -> String, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let rc = body()
        if rc != -1 { return rc }
        if errno != EINTR { throw SystemError(call: call(), code: errno) }
    }
}
