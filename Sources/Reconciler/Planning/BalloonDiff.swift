import Resources

/// The balloon of one running sandbox: sized by its BalloonPolicy from what the guest uses
/// (docs/guest-agent.md §3), and deflated once no policy applies.
enum BalloonDiff {
    /// Inflating by less is not worth a resize every interval.
    static let inflateStep = Quantity.mebibytes(64)
    /// Deflating by less is noise: the policy's buffer already covers it.
    static let deflateStep = Quantity.mebibytes(16)

    /// The balloon action, if the balloon is far enough from where the policy wants it.
    /// - Parameters:
    ///   - policy: the named policy's spec, nil when the sandbox names none.
    static func action(id: ResourceID, policyName: String?, policy: BalloonPolicySpec?, observed: ObservedSandbox) -> Action? {
        // A paused guest cannot answer and a stopped one has no balloon.
        guard observed.vm == .running, let balloon = observed.balloon else { return nil }
        // The guest's driver reaches a new size over time: compare with what was asked.
        let current = balloon.target ?? balloon.size
        guard let policyName, let policy else {
            guard current.bytes > 0 || balloon.size.bytes > 0 else { return nil }
            return Action(id, .balloon, reason: "no BalloonPolicy applies; giving the memory back",
                          changes: [Change("balloon", from: "\(current)", to: "0")], balloon: Quantity(bytes: 0))
        }
        guard let used = balloon.guestUsed else { return nil }
        // What the guest really has (its MemTotal) is what the policy's target must fit in:
        // the kernel's reserve, or memory not plugged, must not eat the buffer.
        let capacity = min(balloon.allocated, balloon.guestCapacity ?? balloon.allocated)
        let wanted = desiredSize(policy: policy, capacity: capacity, used: used)
        let grows = wanted.bytes - current.bytes >= inflateStep.bytes
        let shrinks = current.bytes - wanted.bytes >= deflateStep.bytes || (wanted.bytes == 0 && current.bytes > 0)
        guard grows || shrinks else { return nil }
        let reason = "the guest uses \(used.mebibytes)Mi of \(capacity.mebibytes)Mi; policy \(policyName) keeps \(Quantity.mebibytes(capacity.mebibytes - wanted.mebibytes)) for it"
        return Action(id, .balloon, reason: reason, changes: [Change("balloon", from: "\(current)", to: "\(wanted)")], balloon: wanted)
    }

    /// The policy's balloon for a guest of `capacity`, whole MiB (the balloon's granularity
    /// is a page; a MiB keeps the figures readable), rounded down.
    static func desiredSize(policy: BalloonPolicySpec, capacity: Quantity, used: Quantity) -> Quantity {
        let raw = policy.balloon(allocated: capacity, used: used)
        return .mebibytes(raw.mebibytes)
    }
}
