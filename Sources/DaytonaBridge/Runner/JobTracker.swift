/// Which jobs this bridge runs or has finished, so a job delivered twice (the start-up
/// list of IN_PROGRESS jobs and a poll) runs once; and reports the control plane did not
/// take yet, to send again once it answers.
actor JobTracker {
    private var running: Set<String> = []
    private var finished: Set<String> = []
    private var finishedOrder: [String] = []
    private var deferred: [(String, Daytona.UpdateJobStatus)] = []

    /// True when `id` is neither running nor finished: the caller runs it.
    func claim(_ id: String) -> Bool {
        guard !running.contains(id), !finished.contains(id) else { return false }
        running.insert(id)
        return true
    }

    /// The job ended (reported, or its report deferred).
    func finish(_ id: String) {
        running.remove(id)
        finished.insert(id)
        finishedOrder.append(id)
        // Bounded memory: only recent ids can be delivered again.
        if finishedOrder.count > 10_000 { finished.remove(finishedOrder.removeFirst()) }
    }

    /// The job was interrupted (shutdown): it may run again.
    func release(_ id: String) { running.remove(id) }

    var runningCount: Int { running.count }

    func defer_(_ id: String, _ update: Daytona.UpdateJobStatus) { deferred.append((id, update)) }

    func takeDeferred() -> [(String, Daytona.UpdateJobStatus)] {
        defer { deferred.removeAll() }
        return deferred
    }
}
