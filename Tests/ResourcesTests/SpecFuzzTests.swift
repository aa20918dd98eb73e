import Foundation
import Testing
@testable import Resources
import TestSupport

/// Mutates the example specs (truncation, byte flips and insertions, duplicated and
/// nested blocks, deep brackets, many documents) and loads each result. A fixed seed and
/// a fixed iteration count keep it deterministic and inside CI's time budget; set
/// `CONVERGE_FUZZ_SEED` to explore other inputs.
@Suite("Spec fuzzing")
struct SpecFuzzTests {
    static let iterations = 1500

    @Test("mutated examples never crash the loader, and every diagnostic has a position and a message")
    func mutatedExamples() throws {
        let seed = ProcessInfo.processInfo.environment["CONVERGE_FUZZ_SEED"].flatMap { UInt64($0) } ?? 20_260_601
        print("SpecFuzzTests seed: \(seed) (set CONVERGE_FUZZ_SEED to change it)")
        var random = SplitMix64(seed: seed)
        let examples = try exampleSpecs()
        try #require(examples.count >= 3, "expected the example specs under examples/")

        let f = SpecFixture()
        for (name, text) in examples { f.write(name, text) }
        var invalidRuns = 0
        for iteration in 0..<Self.iterations {
            let (name, original) = examples[Int(random.next(below: UInt64(examples.count)))]
            var bytes = Array(original.utf8)
            for _ in 0...random.next(below: 3) { mutate(&bytes, &random) }
            let path = "\(f.directory)/\(name)"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let specs = try f.load()
            let text = String(decoding: bytes, as: UTF8.self)
            for d in specs.diagnostics {
                let context = "iteration \(iteration), seed \(seed): \(d)"
                #expect(!d.file.isEmpty && !d.message.isEmpty, "\(context)")
                #expect(d.mark.line >= 1 && d.mark.column >= 1, "\(context)")
                // The mark is a line of the file: the diagnostic renders with its source line.
                if d.file == path { #expect(d.rendered(source: text).hasSuffix("^"), "\(context)") }
            }
            #expect(specs.renderedDiagnostics.count == specs.diagnostics.count)
            #expect(specs.resources.values.allSatisfy { !specs.invalidFiles.contains($0.origin.file) })
            if !specs.isValid { invalidRuns += 1 }
            f.write(name, original)
        }
        // Most mutations break a spec; if none did, the mutator is not doing its job.
        #expect(invalidRuns > Self.iterations / 2)
        #expect(try f.load().diagnostics.isEmpty, "the restored examples are valid")
    }

    /// `examples/quickstart/**/*.yaml` (one spec tree: other examples declare the same
    /// names, and real-vm holds a host configuration), as (relative name, text).
    private func exampleSpecs() throws -> [(String, String)] {
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let root = package.appendingPathComponent("examples/quickstart").path
        let names = try FileManager.default.subpathsOfDirectory(atPath: root).filter(SpecLoader.isSpecFile).sorted()
        return try names.map { name in
            (name.replacingOccurrences(of: "/", with: "-"), try String(contentsOfFile: "\(root)/\(name)", encoding: .utf8))
        }
    }

    // MARK: - Mutations

    private static let alphabet = Array("[]{}:,-#&*!|>'\"?%@ \t\n\r~.0123456789abcxyz/\\".utf8)

    private func mutate(_ bytes: inout [UInt8], _ random: inout SplitMix64) {
        let position = Int(random.next(below: UInt64(bytes.count + 1)))
        switch random.next(below: 7) {
        case 0:  // truncation, as a writer that stopped half-way leaves it
            bytes.removeSubrange(position...)
        case 1:  // a flipped byte, any value
            if position < bytes.count { bytes[position] = UInt8(truncatingIfNeeded: random.next()) }
        case 2:  // inserted YAML punctuation
            let count = Int(random.next(below: 8)) + 1
            bytes.insert(contentsOf: (0..<count).map { _ in Self.alphabet[Int(random.next(below: UInt64(Self.alphabet.count)))] }, at: position)
        case 3:  // a block of lines repeated elsewhere (duplicate keys and names)
            let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
            let start = Int(random.next(below: UInt64(lines.count)))
            let end = min(lines.count, start + Int(random.next(below: 6)) + 1)
            let block = Array(lines[start..<end].joined(separator: [0x0A])) + [0x0A]
            let at = lineStart(in: bytes, near: position)
            bytes.insert(contentsOf: block, at: at)
        case 4:  // a block of lines nested one level deeper under a new key
            let at = lineStart(in: bytes, near: position)
            let tail = bytes[at...].split(separator: 0x0A, omittingEmptySubsequences: false).prefix(Int(random.next(below: 6)) + 1)
            let nested = Array("nested:\n".utf8) + tail.flatMap { Array("  ".utf8) + $0 + [0x0A] }
            bytes.replaceSubrange(at..<min(bytes.count, at + tail.reduce(0) { $0 + $1.count + 1 }), with: nested)
        case 5:  // deep brackets, around and past the depth limit
            let depth = Int(random.next(below: 2 * UInt64(SpecLimits.maximumDepth))) + 1
            bytes.insert(contentsOf: Array(repeating: UInt8(ascii: "["), count: depth), at: position)
        default:  // many documents, around the per-file limit
            let copies = Int(random.next(below: UInt64(SpecLimits.maximumDocumentsPerFile) + 20))
            bytes += Array(repeating: Array("\n---\n".utf8) + bytes.prefix(200), count: copies).flatMap { $0 }
        }
    }

    /// The start of the line that holds `position`.
    private func lineStart(in bytes: [UInt8], near position: Int) -> Int {
        var at = min(position, bytes.count)
        while at > 0, bytes[at - 1] != 0x0A { at -= 1 }
        return at
    }
}

