/// Limits a sandbox spec must respect, per runtime: every rule that depends on the
/// runtime is here, so validation and config resolution never test a runtime by name.
public enum SandboxRules {
    /// Hotplugged memory comes in blocks (CH's virtio-mem, QEMU's pc-dimm): memory is
    /// rounded up to this unit, nil where it is taken as written (Cuttlefish, in MB).
    public static func memoryUnit(_ runtime: Runtime) -> Quantity? {
        switch runtime {
        case .cloudHypervisor, .qemu: .mebibytes(128)
        case .cuttlefish: nil
        }
    }

    /// PCI passthrough (`devices.gpus`) is wired for Cloud Hypervisor only.
    public static func supportsGPUs(_ runtime: Runtime) -> Bool { runtime == .cloudHypervisor }

    /// CH rounds memory to 128 MiB and needs at least 1 GiB (runner-ch's floor).
    public static func minimumMemory(_ runtime: Runtime) -> Quantity {
        switch runtime {
        case .cloudHypervisor: .gibibytes(1)
        case .cuttlefish: .gibibytes(2)
        case .qemu: .mebibytes(128)
        }
    }

    public static let maximumMemory = Quantity.gibibytes(4096)
    public static let minimumDisk = Quantity.gibibytes(1)
    public static let maximumDisk = Quantity.gibibytes(64 * 1024)

    /// `0000:41:00.0`: domain, bus, device, function, in lowercase hex.
    public static func isPCIAddress(_ text: String) -> Bool {
        let hex = Set("0123456789abcdef")
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2,
              parts[0].allSatisfy(hex.contains), parts[1].allSatisfy(hex.contains) else { return false }
        let df = parts[2].split(separator: ".", omittingEmptySubsequences: false)
        guard df.count == 2, df[0].count == 2, df[0].allSatisfy(hex.contains), df[1].count == 1,
              let fn = Int(df[1]), (0...7).contains(fn) else { return false }
        return true
    }
}

/// Name rules: names reach file paths, sockets and interface names, so they are
/// DNS labels (Snapshots may also hold dots, as in `ubuntu-base.2`).
public enum NameRules {
    public static let maximumLength = 63

    /// Why `name` is not acceptable, or nil.
    public static func problem(with name: String, allowDots: Bool = false) -> String? {
        if name.isEmpty { return "is empty" }
        if name.utf8.count > maximumLength { return "is \(name.utf8.count) characters long; at most \(maximumLength) are allowed" }
        let allowed: (UInt8) -> Bool = { c in
            (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x2d || (allowDots && c == 0x2e)
        }
        let hint = allowDots ? "lowercase letters, digits, '-' and '.'" : "lowercase letters, digits and '-'"
        guard name.utf8.allSatisfy(allowed) else { return "must contain only \(hint)" }
        let alnum: (UInt8) -> Bool = { c in (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) }
        guard alnum(name.utf8.first!), alnum(name.utf8.last!) else { return "must start and end with a lowercase letter or digit" }
        // Bytes, not `String.contains`: Foundation's substring search costs a spec load dearly.
        var previous: UInt8 = 0
        for c in name.utf8 {
            if (previous == 0x2e && (c == 0x2e || c == 0x2d)) || (previous == 0x2d && c == 0x2e) { return "must not contain '..', '.-' or '-.'" }
            previous = c
        }
        return nil
    }

    /// Why `text` cannot name a base image: a plain name (letters, digits, `.`, `_`, `-`)
    /// looked up in the images directory, or an absolute path.
    public static func imageProblem(_ text: String) -> String? {
        if text.hasPrefix("/") {
            return text.split(separator: "/").contains("..") ? "must not contain '..'" : nil
        }
        if text.isEmpty || text.count > 128 { return "must be 1 to 128 characters" }
        let plain: (UInt8) -> Bool = { c in
            (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c == 0x2e || c == 0x5f || c == 0x2d
        }
        let bytes = Array(text.utf8)
        guard bytes.allSatisfy(plain), bytes[0] != 0x2e, !zip(bytes, bytes.dropFirst()).contains(where: { $0 == 0x2e && $1 == 0x2e })
        else { return "must be an image name (letters, digits, '.', '_', '-') or an absolute path" }
        return nil
    }
}
