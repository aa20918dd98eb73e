"""Tests for the stand-in Daytona control plane and the v0 client.

Run: python3 -m unittest discover -s Tools/daytona-standin -p 'test_*.py' -v

Each test class starts standin.py as a subprocess (port 0), reads the URL
from its first stdout line, and stops it by pid in tearDownClass (and via
addClassCleanup, so a failing setUp still cleans up).
"""

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import v0client  # noqa: E402

TOKEN = "test-runner-token"


def start_standin(*extra):
    url_file = tempfile.NamedTemporaryFile(prefix="standin-url-", delete=False)
    url_file.close()
    os.unlink(url_file.name)
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "standin.py"), "--token", TOKEN,
                             "--url-file", url_file.name] + list(extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, url_file.name


def stop_process(proc):
    if proc.poll() is None:
        proc.terminate()          # SIGTERM to this pid only
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    for f in (proc.stdout, proc.stderr):
        if f:
            f.close()


class Http:
    """Plain urllib calls; returns (status, parsed-or-raw body)."""

    def __init__(self, base):
        self.base = base

    def call(self, method, path, body=None, headers=None, raw=None, timeout=30):
        h = dict(headers or {})
        data = None
        if raw is not None:
            data = raw
        elif body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, text = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text

    # a correct runner's headers (§3.3)
    def runner(self, method, path, body=None, token=TOKEN, timeout=30):
        return self.call(method, path, body, {"Authorization": "Bearer %s" % token,
                                              "X-Daytona-Source": "runner"}, timeout=timeout)

    def admin(self, method, path, body=None):
        return self.call(method, "/_standin" + path, body)


class StandInCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc, cls.url_file = start_standin()
        cls.addClassCleanup(stop_process, cls.proc)
        first = cls.proc.stdout.readline().strip()
        assert first.startswith("listening http://127.0.0.1:"), first
        cls.url = first.split(" ", 1)[1]
        cls.http = Http(cls.url)

    @classmethod
    def tearDownClass(cls):
        stop_process(cls.proc)
        if os.path.exists(cls.url_file):
            os.unlink(cls.url_file)

    def setUp(self):
        self.assertEqual(self.http.admin("POST", "/reset")[0], 200)

    # helpers
    def enqueue(self, jtype, resource_id=None, **kw):
        body = {"type": jtype}
        if resource_id:
            body["resourceId"] = resource_id
        body.update(kw)
        st, job = self.http.admin("POST", "/jobs", body)
        self.assertEqual(st, 201, job)
        return job

    def poll(self, timeout=2, limit=10):
        st, body = self.http.runner("GET", "/api/jobs/poll?timeout=%s&limit=%s" % (timeout, limit),
                                    timeout=timeout + 10)
        self.assertEqual(st, 200, body)
        return body["jobs"]

    def report(self, job_id, body, token=TOKEN):
        return self.http.runner("POST", "/api/jobs/%s/status" % job_id, body, token=token)

    def violations(self, **q):
        qs = "&".join("%s=%s" % kv for kv in q.items())
        return self.http.admin("GET", "/violations" + ("?" + qs if qs else ""))[1]["violations"]


class TestStartup(StandInCase):
    def test_url_file_matches_first_line(self):
        with open(self.url_file) as f:
            self.assertEqual(f.read().strip(), self.url)

    def test_admin_help(self):
        st, body = self.http.admin("GET", "/help")
        self.assertEqual(st, 200)
        self.assertIn("POST /_standin/jobs", body["admin"])


class TestPolling(StandInCase):
    def test_long_poll_returns_job_enqueued_while_waiting(self):
        result = {}

        def poller():
            t0 = time.time()
            result["jobs"] = self.poll(timeout=10)
            result["elapsed"] = time.time() - t0
        th = threading.Thread(target=poller)
        th.start()
        time.sleep(0.5)
        job = self.enqueue("CREATE_SANDBOX", "sb-poll",
                           payload={"id": "sb-poll", "userId": "org", "snapshot": "img:1", "osUser": "daytona",
                                    "cpuQuota": 2, "memoryQuota": 4, "storageQuota": 10,
                                    "sandboxClass": "linux-vm"})
        th.join(15)
        self.assertFalse(th.is_alive())
        self.assertLess(result["elapsed"], 5)
        jobs = result["jobs"]
        self.assertEqual(len(jobs), 1)
        j = jobs[0]
        self.assertEqual(j["id"], job["id"])
        self.assertEqual(j["status"], "IN_PROGRESS")          # delivered already IN_PROGRESS
        self.assertEqual(j["type"], "CREATE_SANDBOX")
        self.assertEqual(j["resourceType"], "SANDBOX")
        self.assertEqual(j["resourceId"], "sb-poll")
        self.assertIsInstance(j["payload"], str)              # JSON-encoded string
        self.assertEqual(json.loads(j["payload"])["cpuQuota"], 2)
        self.assertTrue(j["createdAt"].endswith("Z"))
        self.assertEqual(set(j), {"id", "type", "status", "resourceType", "resourceId", "payload",
                                  "createdAt", "updatedAt"})

    def test_pending_job_is_returned_immediately_and_only_once(self):
        self.enqueue("STOP_SANDBOX", "sb-a")
        t0 = time.time()
        self.assertEqual(len(self.poll(timeout=5)), 1)
        self.assertLess(time.time() - t0, 2)
        t0 = time.time()
        self.assertEqual(self.poll(timeout=1), [])            # empty after the timeout
        self.assertGreaterEqual(time.time() - t0, 0.9)

    def test_limit_and_order(self):
        ids = [self.enqueue("DESTROY_SANDBOX", "sb-%d" % i)["id"] for i in range(5)]
        first = self.poll(timeout=1, limit=2)
        second = self.poll(timeout=1, limit=10)
        self.assertEqual([j["id"] for j in first], ids[:2])
        self.assertEqual([j["id"] for j in second], ids[2:])
        self.assertNotIn("payload", first[0])                 # DESTROY carries no payload

    def test_in_progress_listing(self):
        a = self.enqueue("START_SANDBOX", "sb-1")
        self.enqueue("START_SANDBOX", "sb-2")
        self.poll(timeout=1, limit=1)
        st, page = self.http.runner("GET", "/api/jobs?status=IN_PROGRESS")
        self.assertEqual(st, 200)
        self.assertEqual(set(page), {"items", "total", "page", "totalPages"})
        self.assertEqual([j["id"] for j in page["items"]], [a["id"]])
        self.assertEqual((page["total"], page["page"], page["totalPages"]), (1, 1, 1))
        st, page = self.http.runner("GET", "/api/jobs?status=PENDING")
        self.assertEqual(page["total"], 1)
        st, err = self.http.runner("GET", "/api/jobs?status=RUNNING")
        self.assertEqual(st, 400)
        self.assertEqual(err["statusCode"], 400)
        self.assertTrue(any(v["kind"] == "enum" for v in self.violations(rejected="true")))

    def test_get_job(self):
        a = self.enqueue("PAUSE_SANDBOX", "sb-p")
        st, j = self.http.runner("GET", "/api/jobs/%s" % a["id"])
        self.assertEqual((st, j["status"]), (200, "PENDING"))
        self.assertEqual(json.loads(j["payload"]), {"sandboxId": "sb-p"})
        st, err = self.http.runner("GET", "/api/jobs/nope")
        self.assertEqual((st, err["message"]), (404, "Job not found"))

    def test_slow_polls(self):
        self.http.admin("POST", "/config", {"pollDelaySeconds": 0.8})
        self.enqueue("STOP_SANDBOX", "sb-s")
        t0 = time.time()
        self.assertEqual(len(self.poll(timeout=5)), 1)
        self.assertGreaterEqual(time.time() - t0, 0.75)

    def test_poll_query_violations(self):
        self.poll(timeout=0.2)  # fine (no violation for a number)
        st, _ = self.http.runner("GET", "/api/jobs/poll?timeout=1&limit=500&wait=3")
        self.assertEqual(st, 200)
        details = [v["detail"] for v in self.violations(kind="query")]
        self.assertTrue(any("limit=500" in d for d in details), details)
        self.assertTrue(any("'wait'" in d for d in details), details)

    def test_unknown_job_type_is_delivered(self):
        j = self.enqueue("MIGRATE_SANDBOX", "sb-u", payload={"x": 1})
        self.assertTrue(j["notes"])
        got = self.poll(timeout=1)
        self.assertEqual(got[0]["type"], "MIGRATE_SANDBOX")
        st, _ = self.report(got[0]["id"], {"status": "FAILED", "errorMessage": "unknown job type: MIGRATE_SANDBOX"})
        self.assertEqual(st, 201)
        self.assertEqual(self.violations(), [])

    def test_conflicting_incomplete_job_is_refused(self):
        self.enqueue("CREATE_SANDBOX", "sb-c")
        st, err = self.http.admin("POST", "/jobs", {"type": "DESTROY_SANDBOX", "resourceId": "sb-c"})
        self.assertEqual(st, 409)
        self.enqueue("CREATE_BACKUP", "sb-c")                      # backup jobs have their own slot
        self.enqueue("DESTROY_SANDBOX", "sb-c", allowConflict=True)


class TestReports(StandInCase):
    def delivered(self, jtype, rid="sb-r", **kw):
        job = self.enqueue(jtype, rid, **kw)
        got = self.poll(timeout=1)
        self.assertEqual(got[0]["id"], job["id"])
        return job["id"]

    def test_correct_runner_create_and_duplicate(self):
        jid = self.delivered("CREATE_SANDBOX")
        body = {"status": "COMPLETED", "resultMetadata": json.dumps({"daemonVersion": "0.1.0"})}
        st, dto = self.report(jid, body)
        self.assertEqual(st, 201)
        self.assertEqual(dto["status"], "COMPLETED")
        st, _ = self.report(jid, body)                          # retry after a lost answer
        self.assertEqual(st, 201)
        st, err = self.report(jid, {"status": "FAILED", "errorMessage": "late"})
        self.assertEqual(st, 409)
        self.assertEqual(err["message"], "Invalid job status transition from COMPLETED to FAILED for job %s" % jid)
        st, job = self.http.admin("GET", "/jobs/%s" % jid)
        self.assertEqual([h["status"] for h in job["history"]], ["PENDING", "IN_PROGRESS", "COMPLETED"])
        self.assertEqual(job["resultMetadataParsed"], {"daemonVersion": "0.1.0"})
        self.assertEqual(len(job["reports"]), 3)
        self.assertEqual([v["kind"] for v in self.violations()], ["transition"])
        st, sbs = self.http.admin("GET", "/sandboxes/sb-r")
        self.assertEqual((sbs["state"], sbs["daemonVersion"]), ("started", "0.1.0"))

    def test_result_metadata_per_type_ok(self):
        good = {
            "START_SANDBOX": {"daemonVersion": "v"},
            "FORK_SANDBOX": {"daemonVersion": "v"},
            "PULL_SNAPSHOT": {"name": "img:1", "sizeGB": 1.5, "entrypoint": ["/bin/sh"], "cmd": [], "hash": "abc"},
            "BUILD_SNAPSHOT": {"name": "img:2", "sizeGB": 2, "entrypoint": [], "cmd": ["x"], "hash": "def"},
            "INSPECT_SNAPSHOT_IN_REGISTRY": {"hash": "abc", "sizeGB": 0.3},
            "SNAPSHOT_SANDBOX": {"ref": "reg/snap:1", "hash": "h", "sizeGB": 3},
            "PAUSE_SANDBOX": {},
        }
        for i, (t, meta) in enumerate(good.items()):
            jid = self.delivered(t, "res-%d" % i)
            st, _ = self.report(jid, {"status": "COMPLETED", "resultMetadata": json.dumps(meta)})
            self.assertEqual(st, 201, t)
        for i, t in enumerate(("STOP_SANDBOX", "DESTROY_SANDBOX", "RESIZE_SANDBOX", "REMOVE_SNAPSHOT")):
            jid = self.delivered(t, "none-%d" % i)
            self.assertEqual(self.report(jid, {"status": "COMPLETED"})[0], 201)
        self.assertEqual(self.violations(), [])

    def test_result_metadata_wrong_shapes_are_recorded_but_accepted(self):
        cases = [
            ("CREATE_SANDBOX", None),                                    # missing daemonVersion
            ("START_SANDBOX", {"daemon_version": "v"}),                  # wrong spelling
            ("PULL_SNAPSHOT", {"name": "x", "sizeGB": 1, "hash": "sha256:abc"}),
            ("INSPECT_SNAPSHOT_IN_REGISTRY", {"hash": "abc", "sizeGB": "1"}),
            ("STOP_SANDBOX", {"stopped": True}),
        ]
        for i, (t, meta) in enumerate(cases):
            jid = self.delivered(t, "bad-%d" % i)
            body = {"status": "COMPLETED"}
            if meta is not None:
                body["resultMetadata"] = json.dumps(meta)
            st, _ = self.report(jid, body)
            self.assertEqual(st, 201, t)                             # the API accepts any string
        vs = self.violations()
        self.assertEqual(len({v["jobId"] for v in vs}), len(cases), vs)   # every case flagged
        self.assertTrue(all(v["kind"] == "resultMetadata" and not v["rejected"] for v in vs))

    def test_rejected_shapes(self):
        jid = self.delivered("CREATE_SANDBOX")
        for body in ({"status": "completed"}, {"status": "DONE"}, {},
                     {"status": "COMPLETED", "resultMetadata": {"daemonVersion": "v"}},
                     {"status": "FAILED", "errorMessage": 42}):
            st, err = self.report(jid, body)
            self.assertEqual(st, 400, body)
            self.assertEqual(set(err), {"statusCode", "timestamp", "path", "error", "message"})
            self.assertIsInstance(err["message"], list)
        self.assertEqual(len(self.violations(rejected="true")), 5)
        # not JSON at all
        st, _ = self.http.call("POST", "/api/jobs/%s/status" % jid, raw=b"{oops",
                               headers={"Authorization": "Bearer " + TOKEN, "X-Daytona-Source": "runner",
                                        "Content-Type": "application/json"})
        self.assertEqual(st, 400)
        # job still IN_PROGRESS
        self.assertEqual(self.http.admin("GET", "/jobs/%s" % jid)[1]["status"], "IN_PROGRESS")

    def test_advisory_checks(self):
        jid = self.delivered("STOP_SANDBOX")
        self.assertEqual(self.report(jid, {"status": "IN_PROGRESS"})[0], 201)   # allowed, but runner never sends it
        self.assertEqual(self.report(jid, {"status": "FAILED"})[0], 201)        # no errorMessage
        kinds = [v["detail"] for v in self.violations()]
        self.assertTrue(any("IN_PROGRESS" in d for d in kinds), kinds)
        self.assertTrue(any("without errorMessage" in d for d in kinds), kinds)
        # missing content type -> empty body -> 400, plus a header violation
        jid2 = self.delivered("DESTROY_SANDBOX", "sb-x")
        st, _ = self.http.call("POST", "/api/jobs/%s/status" % jid2, raw=b'{"status":"COMPLETED"}',
                               headers={"Authorization": "Bearer " + TOKEN, "X-Daytona-Source": "runner",
                                        "Content-Type": "text/plain"})
        self.assertEqual(st, 400)

    def test_report_on_unknown_or_pending_job(self):
        st, err = self.report("no-such-job", {"status": "COMPLETED"})
        self.assertEqual((st, err["message"]), (404, "Job not found"))
        j = self.enqueue("STOP_SANDBOX", "sb-pend")
        st, err = self.report(j["id"], {"status": "COMPLETED"})
        self.assertEqual(st, 409)
        self.assertIn("from PENDING to COMPLETED", err["message"])

    def test_failed_with_recoverable_error_marks_sandbox(self):
        jid = self.delivered("CREATE_SANDBOX", "sb-f")
        msg = json.dumps({"errorReason": "no space left on device - you may attempt a recovery action",
                          "recoverable": True})
        self.assertEqual(self.report(jid, {"status": "FAILED", "errorMessage": msg})[0], 201)
        sb = self.http.admin("GET", "/sandboxes/sb-f")[1]
        self.assertEqual((sb["state"], sb["recoverable"]), ("error", True))

    def test_stale_job_times_out(self):
        self.http.admin("POST", "/config", {"staleTimeoutSeconds": {"STOP_SANDBOX": 0.5}})
        jid = self.delivered("STOP_SANDBOX", "sb-stale")
        st, job = self.http.admin("GET", "/jobs/%s/wait?status=FAILED&timeout=5" % jid)
        self.assertEqual(st, 200, job)
        self.assertTrue(job["errorMessage"].startswith("Job timed out - no update received for"))
        st, err = self.report(jid, {"status": "COMPLETED"})
        self.assertEqual(st, 409)


class TestAuth(StandInCase):
    def test_auth_failures(self):
        cases = [
            {},                                                  # no header
            {"Authorization": "Bearer wrong"},
            {"Authorization": "bearer " + TOKEN},
            {"Authorization": TOKEN},
            {"Authorization": "Bearer  " + TOKEN},
            {"X-Daytona-Authorization": "Bearer " + TOKEN},      # the runner's own header, not the API's
        ]
        for h in cases:
            st, err = self.http.call("GET", "/api/jobs/poll?timeout=1", headers=h)
            self.assertEqual(st, 401, h)
            self.assertEqual(err["statusCode"], 401)
            self.assertEqual(err["message"], "Unauthorized")
            self.assertEqual(err["path"], "/api/jobs/poll?timeout=1")
        vs = self.violations(kind="auth")
        self.assertEqual(len(vs), len(cases))
        self.assertTrue(all(v["rejected"] and v["status"] == 401 for v in vs))

    def test_token_rotation(self):
        self.http.admin("POST", "/token", {"token": "rotated"})
        self.assertEqual(self.http.runner("GET", "/api/runners/me")[0], 401)
        st, me = self.http.runner("GET", "/api/runners/me", token="rotated")
        self.assertEqual(st, 200)
        self.assertEqual(me["apiVersion"], "2")

    def test_missing_source_header_is_advisory(self):
        st, _ = self.http.call("GET", "/api/jobs?status=PENDING", headers={"Authorization": "Bearer " + TOKEN})
        self.assertEqual(st, 200)
        vs = self.violations(kind="header")
        self.assertEqual(len(vs), 1)
        self.assertFalse(vs[0]["rejected"])

    def test_unknown_route_and_wrong_method(self):
        st, err = self.http.runner("GET", "/api/jobs/x/status")
        self.assertEqual(st, 404)
        self.assertEqual(err["message"], "Cannot GET /api/jobs/x/status")
        st, _ = self.http.runner("POST", "/api/jobs/poll", {})
        self.assertEqual(st, 404)
        self.assertEqual(len(self.violations(kind="route")), 2)


class TestHealthAndSandboxes(StandInCase):
    METRICS = {"currentCpuLoadAverage": 0.1, "currentCpuUsagePercentage": 1.0,
               "currentMemoryUsagePercentage": 2.0, "currentDiskUsagePercentage": 3.0,
               "currentAllocatedCpu": 2, "currentAllocatedMemoryGiB": 4, "currentAllocatedDiskGiB": 20,
               "currentSnapshotCount": 1, "currentStartedSandboxes": 1, "cpu": 8, "memoryGiB": 16,
               "diskGiB": 100}

    def hc(self, body):
        return self.http.runner("POST", "/api/runners/healthcheck", body)

    def test_healthcheck_good(self):
        st, body = self.hc({"appVersion": "0.1.0", "domain": "127.0.0.1", "apiUrl": "http://127.0.0.1:8080",
                            "proxyUrl": "http://127.0.0.1:8080", "metrics": self.METRICS,
                            "serviceHealth": [{"serviceName": "vmm", "healthy": True}]})
        self.assertEqual((st, body), (201, None))
        me = self.http.runner("GET", "/api/runners/me")[1]
        self.assertEqual(me["state"], "ready")
        self.assertEqual(me["appVersion"], "0.1.0")
        self.assertEqual(self.violations(), [])

    def test_healthcheck_bad(self):
        st, err = self.hc({"metrics": self.METRICS})
        self.assertEqual(st, 400)
        self.assertEqual(err["message"], ["appVersion must be a string"])
        m = dict(self.METRICS)
        del m["diskGiB"]
        st, _ = self.hc({"appVersion": "x", "metrics": m, "serviceHealth": [{"serviceName": "vmm", "healthy": False,
                                                                             "errorReason": "down"}]})
        self.assertEqual(st, 201)
        self.assertEqual(self.http.runner("GET", "/api/runners/me")[1]["state"], "unresponsive")
        details = [v["detail"] for v in self.violations(rejected="false")]
        self.assertTrue(any("diskGiB" in d for d in details), details)

    def test_for_runner_and_state_push(self):
        jid = self.enqueue("CREATE_SANDBOX", "sb-d")["id"]
        self.poll(timeout=1)
        self.report(jid, {"status": "COMPLETED", "resultMetadata": '{"daemonVersion":"v"}'})
        st, sbs = self.http.runner("GET", "/api/sandbox/for-runner?states=started&skipReconcilingSandboxes=true")
        self.assertEqual(st, 200)
        self.assertEqual([s["id"] for s in sbs], ["sb-d"])
        st, _ = self.http.runner("GET", "/api/sandbox/for-runner?states=creating")
        self.assertEqual(st, 400)
        st, _ = self.http.runner("PUT", "/api/sandbox/sb-d/state", {"state": "stopped"})
        self.assertEqual(st, 200)
        self.assertEqual(self.http.admin("GET", "/sandboxes/sb-d")[1]["desiredState"], "stopped")
        st, _ = self.http.runner("PUT", "/api/sandbox/sb-d/state", {"state": "halted"})
        self.assertEqual(st, 400)
        st, _ = self.http.runner("PUT", "/api/sandbox/nope/state", {"state": "stopped"})
        self.assertEqual(st, 404)


class TestFaults(StandInCase):
    def test_status_fault_then_recovery_and_counts(self):
        self.http.admin("POST", "/faults", {"mode": "status", "status": 503, "count": 2, "routes": ["pollJobs"]})
        self.assertEqual(self.http.runner("GET", "/api/jobs/poll?timeout=1")[0], 503)
        st, err = self.http.runner("GET", "/api/jobs/poll?timeout=1")
        self.assertEqual((st, err["statusCode"]), (503, 503))
        self.assertEqual(self.http.runner("GET", "/api/runners/me")[0], 200)   # other routes unaffected
        self.assertEqual(self.http.runner("GET", "/api/jobs/poll?timeout=0.2")[0], 200)
        reqs = self.http.admin("GET", "/requests?lastSeconds=60")[1]
        self.assertEqual(reqs["counts"]["pollJobs"], 3)
        self.assertEqual(reqs["window"]["pollJobs"], 3)
        self.assertLess(reqs["minGapSeconds"]["pollJobs"], 1.5)
        self.assertEqual([r.get("fault") for r in reqs["log"] if r["route"] == "pollJobs"], ["status", "status", None])

    def test_drop_fault_for_a_while(self):
        self.http.admin("POST", "/faults", {"mode": "drop", "seconds": 1})
        with self.assertRaises((urllib.error.URLError, http.client.HTTPException, ConnectionError)):
            self.http.runner("GET", "/api/runners/me")
        time.sleep(1.1)
        self.assertEqual(self.http.runner("GET", "/api/runners/me")[0], 200)

    def test_delay_fault(self):
        self.http.admin("POST", "/faults", {"mode": "delay", "delaySeconds": 0.6, "count": 1})
        t0 = time.time()
        self.assertEqual(self.http.runner("GET", "/api/runners/me")[0], 200)
        self.assertGreaterEqual(time.time() - t0, 0.55)


class TestRefuse(StandInCase):
    def test_unreachable_then_back(self):
        outcome = {}

        def poller():  # an in-flight long poll breaks when the API goes away
            try:
                outcome["result"] = self.http.runner("GET", "/api/jobs/poll?timeout=20", timeout=30)
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError) as e:
                outcome["error"] = e
        th = threading.Thread(target=poller)
        th.start()
        time.sleep(0.3)
        st, _ = self.http.admin("POST", "/faults", {"mode": "refuse", "seconds": 1.5})
        self.assertEqual(st, 200)
        time.sleep(0.4)
        th.join(5)
        self.assertFalse(th.is_alive())
        self.assertIn("error", outcome)
        port = int(self.url.rsplit(":", 1)[1])
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        deadline = time.time() + 10
        while True:
            try:
                st, _ = self.http.runner("GET", "/api/runners/me", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError):
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        self.assertEqual(st, 200)
        events = [e["event"] for e in self.http.admin("GET", "/events")[1]["events"]]
        self.assertIn("listening-again", events)


# ---------------------------------------------------------------- v0 client


class FakeRunner:
    """A tiny in-process runner REST server (§1) used to test v0client.
    `wrong=True` makes it answer 404 for unknown ids, skip the error shape and
    return 200 on create."""

    def __init__(self, token, wrong=False):
        self.token, self.wrong, self.sandboxes = token, wrong, {}
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, status, obj, ctype="application/json"):
                raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def err(self, status, msg, code):
                if outer.wrong:
                    return self.reply(status, {"error": msg})
                self.reply(status, {"statusCode": status, "message": msg, "code": code,
                                    "timestamp": "2026-01-01T00:00:00Z", "path": self.path.split("?")[0],
                                    "method": self.command})

            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                path = self.path.split("?")[0]
                if path == "/" and self.command == "GET":
                    return self.reply(200, {"status": "ok", "version": "0.0.1"})
                a = self.headers.get("X-Daytona-Authorization") or self.headers.get("Authorization")
                if not a:
                    return self.err(401, "authorization header required", "UNAUTHORIZED")
                p = a.split(" ")
                if len(p) != 2 or p[0] != "Bearer":
                    return self.err(401, "invalid authorization header format", "UNAUTHORIZED")
                if p[1] != outer.token:
                    return self.err(401, "invalid token", "UNAUTHORIZED")
                if path == "/info":
                    return self.reply(200, {"serviceHealth": [{"serviceName": "docker", "healthy": True}],
                                            "metrics": {"currentCpuLoadAverage": 0.1}, "appVersion": "0.0.1"})
                if path == "/metrics":
                    return self.reply(200, b"# HELP x y\nx 1\n", "text/plain; version=0.0.4")
                parts = [x for x in path.split("/") if x]
                if parts[:1] != ["sandboxes"]:
                    return self.err(404, "not found", "NOT_FOUND")
                if len(parts) == 1 and self.command == "POST":
                    dto = json.loads(body)
                    outer.sandboxes[dto["id"]] = "started"
                    return self.reply(200 if outer.wrong else 201, {"daemonVersion": "0.1"})
                sid = parts[1]
                if len(parts) == 2:
                    st = outer.sandboxes.get(sid, "destroyed")
                    if outer.wrong and sid not in outer.sandboxes:
                        return self.err(404, "sandbox not found", "NOT_FOUND")
                    out = {"state": st, "backupState": "NONE", "recoverable": False}
                    if st == "started":
                        out["daemonVersion"] = "0.1"
                    return self.reply(200, out)
                action = parts[2]
                if action == "start":
                    try:
                        json.loads(body)
                    except ValueError:
                        return self.err(400, "invalid request body", "INVALID_REQUEST_BODY")
                    outer.sandboxes[sid] = "started"
                    return self.reply(200, {"daemonVersion": "0.1"})
                if action == "stop":
                    outer.sandboxes[sid] = "stopped"
                    return self.reply(200, "Sandbox stopped")
                if action == "destroy":
                    outer.sandboxes[sid] = "destroyed"
                    return self.reply(200, "Sandbox destroyed")
                if action == "resize":
                    return self.reply(200, "Sandbox resized")
                return self.err(404, "not found", "NOT_FOUND")

            do_GET = do_POST = handle_any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class TestV0Client(unittest.TestCase):
    def test_smoke_against_correct_runner(self):
        r = FakeRunner("tok")
        self.addCleanup(r.close)
        rep = v0client.smoke(r.url, "tok", timeout=5)
        self.assertTrue(rep["ok"], rep["problems"])
        self.assertIn("get unknown id", [s["step"] for s in rep["steps"]])

    def test_smoke_flags_wrong_runner(self):
        r = FakeRunner("tok", wrong=True)
        self.addCleanup(r.close)
        rep = v0client.smoke(r.url, "tok", timeout=1)
        self.assertFalse(rep["ok"])
        text = "\n".join(rep["problems"])
        self.assertIn("get unknown id", text)                 # 404 instead of destroyed
        self.assertIn("expected 201", text)                    # create answered 200
        self.assertIn("field 'code' missing", text)            # error shape

    def test_cli(self):
        r = FakeRunner("tok")
        self.addCleanup(r.close)
        out = subprocess.run([sys.executable, os.path.join(HERE, "v0client.py"), "smoke", "--url", r.url,
                              "--token", "tok", "--timeout", "5"], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertTrue(out.stdout.strip().endswith("OK"))


if __name__ == "__main__":
    unittest.main()
