import Foundation

/// Protocol v2 (reference §3): long-polls jobs, resumes this runner's IN_PROGRESS jobs
/// at start-up, runs every job concurrently (a long one blocks no other), reports each
/// once, and pushes healthchecks. `run()` returns when its task is cancelled.
public struct V2Runner: Sendable {
    public struct Settings: Sendable {
        /// POLL_TIMEOUT in seconds (the API caps it at 60) and POLL_LIMIT (1...100).
        public var pollTimeout = 30
        public var pollLimit = 10
        /// HEALTHCHECK_INTERVAL in seconds (the runner's default 30, at least 10).
        public var healthInterval = 30.0
        /// Reported as `apiUrl`/`proxyUrl` when the v0 REST server runs too.
        public var advertisedURL: String?
        public var version: String

        public init(version: String) { self.version = version }
    }

    var api: ControlPlane
    var executor: JobExecutor
    var status: ObservedStatus
    var settings: Settings
    var log: @Sendable (String) -> Void

    public init(api: ControlPlane, executor: JobExecutor, status: ObservedStatus, settings: Settings, log: @escaping @Sendable (String) -> Void) {
        self.api = api
        self.executor = executor
        self.status = status
        self.settings = settings
        self.log = log
    }

    public func run() async {
        let tracker = JobTracker()
        let (jobs, sink) = AsyncStream.makeStream(of: Daytona.Job.self)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await pollLoop(sink, tracker)
                sink.finish()
            }
            group.addTask { await healthLoop() }
            for await job in jobs {
                guard await tracker.claim(job.id) else { continue }
                group.addTask { await execute(job, tracker) }
            }
            group.cancelAll()
        }
    }

    // MARK: - Polling

    private func pollLoop(_ sink: AsyncStream<Daytona.Job>.Continuation, _ tracker: JobTracker) async {
        var resumed = false
        var failures = 0
        var problem: String?
        while !Task.isCancelled {
            do {
                if !resumed {
                    let jobs = try await api.inProgressJobs()
                    if !jobs.isEmpty { log("resuming \(jobs.count) IN_PROGRESS job(s) of this runner") }
                    jobs.forEach { sink.yield($0) }
                    resumed = true
                }
                let jobs = try await api.poll(timeout: settings.pollTimeout, limit: settings.pollLimit)
                if problem != nil { log("control plane answers again; polling resumed") }
                problem = nil
                failures = 0
                for (id, update) in await tracker.takeDeferred() { await report(id, update, tracker, attempts: 1) }
                jobs.forEach { sink.yield($0) }
            } catch is CancellationError {
                return
            } catch {
                failures += 1
                let unauthorized = (error as? ControlPlaneError)?.isUnauthorized == true
                // A wrong token is said once and retried slowly: the same request cannot succeed
                // until someone fixes it (the token file is read again on every try).
                let text = unauthorized
                    ? "the control plane refused the runner token (HTTP 401): check DAYTONA_RUNNER_TOKEN or the --token-file; retrying slowly"
                    : "cannot poll the control plane: \(error); retrying"
                if text != problem { log(text) }
                problem = text
                let delay = unauthorized ? min(60, 5 * pow(2, Double(min(failures - 1, 4)))) : min(5, pow(2, Double(failures - 1)))
                do { try await Task.sleep(for: .seconds(delay)) } catch { return }
            }
        }
    }

    // MARK: - Jobs

    private func execute(_ job: Daytona.Job, _ tracker: JobTracker) async {
        let started = Date()
        log("job \(job.id) \(job.type) \(job.resourceId): running")
        let outcome: JobOutcome
        do { outcome = try await executor.run(job) } catch {
            await tracker.release(job.id)
            return
        }
        let seconds = String(format: "%.3f", Date().timeIntervalSince(started))
        let update: Daytona.UpdateJobStatus
        switch outcome {
        case .completed(let metadata):
            update = Daytona.UpdateJobStatus(status: .completed, errorMessage: nil, resultMetadata: metadata)
            log("job \(job.id) \(job.type) \(job.resourceId): COMPLETED in \(seconds)s")
        case .failed(let message):
            update = Daytona.UpdateJobStatus(status: .failed, errorMessage: String(message.prefix(10_000)), resultMetadata: nil)
            log("job \(job.id) \(job.type) \(job.resourceId): FAILED in \(seconds)s: \(message)")
        }
        await report(job.id, update, tracker, attempts: 6)
        await tracker.finish(job.id)
    }

    /// Reports with exponential backoff (100 ms doubling to 5 s; reference §3.5); a 4xx is
    /// final. A report that still finds no control plane is sent again after the next poll.
    private func report(_ id: String, _ update: Daytona.UpdateJobStatus, _ tracker: JobTracker, attempts: Int) async {
        var delay = 0.1
        for attempt in 1...attempts {
            do {
                try await api.report(id, update)
                return
            } catch let error as ControlPlaneError where error.isClientError {
                log("job \(id): the control plane refused the \(update.status.rawValue) report: \(error)")
                return
            } catch is CancellationError {
                return
            } catch {
                if attempt == attempts {
                    log("job \(id): \(update.status.rawValue) report not delivered (\(error)); it is sent again once the control plane answers")
                    break
                }
                do { try await Task.sleep(for: .seconds(delay)) } catch { return }
                delay = min(5, delay * 2)
            }
        }
        await tracker.defer_(id, update)
    }

    // MARK: - Health

    /// Sends one healthcheck at once, then every interval; sooner when `converge run`
    /// comes or goes, so the runner's state never lags the reconciler's by a whole interval.
    private func healthLoop() async {
        var problem: String?
        var lastSent: Date?
        var lastHealthy: Bool?
        while !Task.isCancelled {
            let body = Healthcheck.collect(status, version: settings.version, apiUrl: settings.advertisedURL)
            let healthy = body.serviceHealth.allSatisfy(\.healthy)
            if lastSent.map({ Date().timeIntervalSince($0) >= settings.healthInterval }) ?? true || healthy != lastHealthy {
                lastSent = Date()
                lastHealthy = healthy  // a failed send is retried at the interval, not every tick
                do {
                    try await api.healthcheck(try JSONEncoder().encode(body))
                    problem = nil
                } catch is CancellationError {
                    return
                } catch {
                    // The poll loop already says when the control plane is away or refuses the token.
                    let text = "\(error)"
                    if text != problem, let e = error as? ControlPlaneError, e.isClientError, !e.isUnauthorized { log("healthcheck refused: \(text)") }
                    problem = text
                }
            }
            do { try await Task.sleep(for: .seconds(min(2, settings.healthInterval))) } catch { return }
        }
    }
}
