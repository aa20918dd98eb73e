/// The runner `SandboxState` (reference §2) of a sandbox, read from its status file, as
/// `GET /sandboxes/:id` answers it. An unknown id is `destroyed`, never a 404 (§1.4).
enum V0State {
    static func state(_ row: StatusRow?) -> String {
        guard let row else { return "destroyed" }
        let observed = row.observedState ?? "absent"
        guard let desired = row.desiredState else { return observed == "absent" ? "destroyed" : "destroying" }
        if row.degradation != nil { return "error" }
        switch (desired, observed) {
        case (_, "absent"): return "creating"
        case ("running", "running"): return "started"
        case ("running", _): return "starting"
        case (_, "running"): return "stopping"
        // Docker's `paused` is the runner's `stopped`; so are Converge's paused and suspended.
        case (_, "stopped"), (_, "paused"), (_, "suspended"): return "stopped"
        default: return "unknown"
        }
    }

    static func info(_ status: ObservedStatus, name: String, daemonVersion: String) -> Daytona.SandboxInfoResponse {
        let state = state(status.row("Sandbox", name))
        return Daytona.SandboxInfoResponse(state: state, backupState: "NONE", daemonVersion: state == "started" ? daemonVersion : nil,
                                           recoverable: false)
    }
}
