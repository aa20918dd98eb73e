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
        guard let policyName, let policy else {
            guard balloon.size.bytes > 0 else { return nil }
            return Action(id, .balloon, reason: "no BalloonPolicy applies; giving the memory back",
                          changes: [Change("balloon", from: "\(balloon.size)", to: "0")], balloon: Quantity(bytes: 0))
        }
        guard let used = balloon.guestUsed else { return nil }
        let wanted = desiredSize(policy: policy, allocated: balloon.allocated, used: used)
        let grows = wanted.bytes - balloon.size.bytes >= inflateStep.bytes
        let shrinks = balloon.size.bytes - wanted.bytes >= deflateStep.bytes || (wanted.bytes == 0 && balloon.size.bytes > 0)
        guard grows || shrinks else { return nil }
        let reason = "the guest uses \(used.mebibytes)Mi of \(balloon.allocated); policy \(policyName) keeps \(Quantity(bytes: balloon.allocated.bytes - wanted.bytes)) for it"
        return Action(id, .balloon, reason: reason, changes: [Change("balloon", from: "\(balloon.size)", to: "\(wanted)")], balloon: wanted)
    }

    /// The policy's balloon for this guest, whole MiB (the balloon's granularity is a page;
    /// a MiB keeps the figures readable).
    static func desiredSize(policy: BalloonPolicySpec, allocated: Quantity, used: Quantity) -> Quantity {
        let raw = policy.balloon(allocated: allocated, used: used)
        return .mebibytes(raw.mebibytes)
    }
}
