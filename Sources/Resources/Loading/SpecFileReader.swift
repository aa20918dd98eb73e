import Foundation

/// Reads one spec file within `SpecLimits.maximumFileBytes`, without blocking on a file
/// that is not regular (a FIFO swapped in after the tree was listed).
enum SpecFileReader {
    /// The file's text, or a diagnostic at 1:1 that says why it cannot be used.
    /// - Parameter shown: the path diagnostics name (the one the user gave).
    static func contents(of path: String, shownAs shown: String? = nil) -> Result<String, Diagnostic> {
        func failure(_ reason: String) -> Result<String, Diagnostic> {
            .failure(Diagnostic(file: shown ?? path, mark: .start, message: reason))
        }
        // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
        let fd = retrying { open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK) }
        guard fd >= 0 else { return failure("cannot read this file: \(String(cString: strerror(errno))); check that it exists and its permissions") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return failure("cannot read this file: \(String(cString: strerror(errno)))") }
        guard st.st_mode & S_IFMT == S_IFREG else {
            return failure("cannot read this file: it is \(SpecTree.fileType(st.st_mode)), not a regular file; a spec must be a regular file")
        }
        guard Int(st.st_size) <= SpecLimits.maximumFileBytes else { return failure(tooLarge(Int(st.st_size))) }

        // The file may grow between fstat and read: stop one chunk past the limit.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(st.st_size) + 1)
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while bytes.count <= SpecLimits.maximumFileBytes {
            let n = chunk.withUnsafeMutableBytes { buffer in retrying { read(fd, buffer.baseAddress, buffer.count) } }
            if n < 0 { return failure("cannot read this file: \(String(cString: strerror(errno))); check the disk and its permissions") }
            if n == 0 { break }
            bytes += chunk[..<n]
        }
        guard bytes.count <= SpecLimits.maximumFileBytes else { return failure(tooLarge(bytes.count)) }
        return .success(String(decoding: bytes, as: UTF8.self))
    }

    private static func tooLarge(_ size: Int) -> String {
        let mib = Double(SpecLimits.maximumFileBytes) / 1_048_576
        return "this file is \(size) bytes; a spec file may hold at most \(SpecLimits.maximumFileBytes) bytes (\(mib) MiB): split it into several files"
    }

    /// Runs `call` again while it fails with EINTR.
    private static func retrying<T: FixedWidthInteger>(_ call: () -> T) -> T {
        while true {
            let rc = call()
            if rc != -1 || errno != EINTR { return rc }
        }
    }
}
