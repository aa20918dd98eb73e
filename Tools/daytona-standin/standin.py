#!/usr/bin/env python3
"""Stand-in Daytona control plane (API) for testing a v2 Daytona runner.

It serves the endpoints a v2 runner calls (/api/jobs/poll, /api/jobs,
/api/jobs/{id}, /api/jobs/{id}/status, /api/runners/healthcheck,
/api/runners/me, /api/sandbox/for-runner, /api/sandbox/{id}/state), checks
every request against the contract in daytona-runner-api.md, records
violations, and offers an admin API under /_standin/ for tests.

Usage:  standin.py [--port 0] [--token TOKEN] [--url-file PATH]
The first line on stdout is "listening http://127.0.0.1:PORT".
The runner's API base URL is that URL + "/api".
"""

import argparse
import datetime
import json
import os
import select
import signal
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit, unquote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import contract as C  # noqa: E402

DEFAULT_TOKEN = "standin-runner-token"
REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict",
           429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}


def now_iso(t=None):
    t = time.time() if t is None else t
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


class ApiError(Exception):
    def __init__(self, status, message, kind=None, detail=None):
        super().__init__(message)
        self.status = status
        self.message = message          # str or list of str (ValidationPipe)
        self.kind = kind                # violation kind to record (None = not a violation)
        self.detail = detail


# ------------------------------------------------------------------ state


class State:
    """Everything the stand-in knows.  One lock; one condition for pollers."""

    def __init__(self, token, runner_id):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.initial_token = token
        self.runner_id = runner_id
        self.reset()

    def reset(self):
        with self.lock:
            self.token = self.initial_token
            self.jobs = {}            # id -> job dict (internal)
            self.order = []           # job ids in creation order
            self.sandboxes = {}
            self.violations = []
            self.events = []
            self.requests = []        # log of API requests
            self.counts = {}
            self.faults = []
            self.poll_delay = 0.0
            self.stale_seconds = {}   # job type or "default" -> seconds (overrides)
            self.generation = getattr(self, "generation", 0) + 1
            self.runner = {
                "id": self.runner_id, "name": "standin-runner", "regionId": "us",
                "state": "initializing", "apiVersion": "2", "sandboxClass": "linux-vm",
                "domain": None, "apiUrl": None, "proxyUrl": None, "appVersion": None,
                "lastChecked": None, "serviceHealth": None, "metrics": None,
                "cpu": None, "memoryGiB": None, "diskGiB": None,
            }
            self.healthchecks = []
            self.cond.notify_all()

    # -- recording
    def violation(self, op, method, path, kind, detail, rejected, status, job_id=None):
        with self.lock:
            v = {"seq": len(self.violations) + 1, "at": now_iso(), "route": op, "method": method,
                 "path": path, "kind": kind, "detail": detail, "rejected": rejected,
                 "status": status}
            if job_id:
                v["jobId"] = job_id
            self.violations.append(v)
            return v

    def event(self, what, **kw):
        with self.lock:
            e = {"at": now_iso(), "event": what}
            e.update(kw)
            self.events.append(e)

    # -- jobs
    def stale_timeout(self, job_type):
        if job_type in self.stale_seconds:
            return float(self.stale_seconds[job_type])
        if "default" in self.stale_seconds:      # a test override covers every type not named
            return float(self.stale_seconds["default"])
        return 60.0 * C.STALE_MINUTES.get(job_type, C.STALE_MINUTES_DEFAULT)

    def add_history(self, job, status, by, **kw):
        h = {"status": status, "at": now_iso(), "by": by}
        h.update({k: v for k, v in kw.items() if v is not None})
        job["history"].append(h)

    def claim(self, limit):
        """Claim PENDING jobs, oldest first (§3.4).  Caller holds the lock."""
        out = []
        for jid in self.order:
            if len(out) >= limit:
                break
            job = self.jobs[jid]
            if job["status"] == "PENDING":
                t = time.time()
                job["status"] = "IN_PROGRESS"
                job["startedAt"] = t
                job["updatedAt"] = t
                job["deliveries"] += 1
                self.add_history(job, "IN_PROGRESS", "poll")
                out.append(job)
        return out

    def sweep_stale(self):
        with self.lock:
            t = time.time()
            for jid in self.order:
                job = self.jobs[jid]
                if job["status"] != "IN_PROGRESS":
                    continue
                limit = self.stale_timeout(job["type"])
                if t - job["updatedAt"] > limit:
                    minutes = limit / 60.0
                    n = int(minutes) if minutes == int(minutes) else round(minutes, 3)
                    msg = "Job timed out - no update received for %s minutes" % n
                    job["status"] = "FAILED"
                    job["errorMessage"] = msg
                    job["updatedAt"] = t
                    job["completedAt"] = t
                    self.add_history(job, "FAILED", "stale-sweeper", errorMessage=msg)
                    self.event("job-timed-out", jobId=jid, type=job["type"])
                    self.apply_completion(job)
                    self.cond.notify_all()

    # -- sandbox bookkeeping (§3.7, simplified)
    def sandbox(self, sid, create=False):
        sb = self.sandboxes.get(sid)
        if sb is None and create:
            sb = {"id": sid, "name": sid, "organizationId": "org-standin", "state": "unknown",
                  "desiredState": "started", "runnerId": self.runner_id, "cpu": 1, "gpu": 0,
                  "memory": 1, "disk": 3, "errorReason": None, "recoverable": False,
                  "daemonVersion": None, "backupState": "None", "snapshot": None,
                  "sandboxClass": "linux-vm"}
            self.sandboxes[sid] = sb
        return sb

    def apply_enqueue(self, job, payload):
        if job["resourceType"] != "SANDBOX":
            return
        t = job["type"]
        sid = job["resourceId"]
        sb = self.sandbox(sid, create=t in ("CREATE_SANDBOX", "FORK_SANDBOX"))
        if sb is None:
            return
        job["prevState"] = sb["state"]
        p = payload if isinstance(payload, dict) else {}
        if t == "CREATE_SANDBOX":
            sb.update(state="creating", desiredState="started")
            for k_src, k_dst in (("cpuQuota", "cpu"), ("gpuQuota", "gpu"), ("memoryQuota", "memory"),
                                 ("storageQuota", "disk"), ("snapshot", "snapshot"),
                                 ("sandboxClass", "sandboxClass"), ("organizationId", "organizationId")):
                if p.get(k_src) is not None:
                    sb[k_dst] = p[k_src]
            if isinstance(p.get("metadata"), dict) and p["metadata"].get("sandboxName"):
                sb["name"] = p["metadata"]["sandboxName"]
        elif t == "START_SANDBOX":
            sb.update(state="starting", desiredState="started")
        elif t == "STOP_SANDBOX":
            sb.update(state="stopping", desiredState="stopped")
        elif t == "DESTROY_SANDBOX":
            sb.update(state="destroying", desiredState="destroyed")
        elif t == "PAUSE_SANDBOX":
            sb.update(state="pausing", desiredState="paused")
        elif t == "RESIZE_SANDBOX":
            sb.update(state="resizing")
        elif t == "SNAPSHOT_SANDBOX":
            sb.update(state="snapshotting")
        elif t == "RECOVER_SANDBOX":
            sb.update(desiredState="stopped" if p.get("skipStart") else "started")
        elif t == "FORK_SANDBOX":
            sb.update(state="creating", desiredState="started")
            src = self.sandbox(p.get("sourceSandboxId") or "")
            if src is not None:
                job["sourcePrevState"] = src["state"]
                src["state"] = "forking"

    def apply_completion(self, job):
        if job["resourceType"] != "SANDBOX":
            return
        sb = self.sandbox(job["resourceId"])
        if sb is None:
            return
        ok = job["status"] == "COMPLETED"
        t = job["type"]
        meta = {}
        try:
            meta = json.loads(job.get("resultMetadata") or "null") or {}
            if not isinstance(meta, dict):
                meta = {}
        except ValueError:
            meta = {}

        def fail():
            reason, recoverable = job.get("errorMessage") or "Failed", False
            try:
                j = json.loads(reason)
                if isinstance(j, dict) and "errorReason" in j:
                    reason, recoverable = j.get("errorReason"), bool(j.get("recoverable"))
            except ValueError:
                pass
            sb.update(state="error", errorReason=reason, recoverable=recoverable)

        guard_desired = {"CREATE_SANDBOX": "started", "START_SANDBOX": "started",
                         "STOP_SANDBOX": "stopped", "DESTROY_SANDBOX": "destroyed"}
        if t in guard_desired and sb["desiredState"] != guard_desired[t]:
            self.event("completion-ignored", jobId=job["id"], reason="desiredState is %s" % sb["desiredState"])
            return
        if t in ("CREATE_SANDBOX", "START_SANDBOX", "FORK_SANDBOX"):
            if ok:
                sb.update(state="started", errorReason=None, daemonVersion=meta.get("daemonVersion"))
            else:
                fail()
            if t == "FORK_SANDBOX":
                try:
                    src = self.sandbox(json.loads(job["payload"] or "{}").get("sourceSandboxId") or "")
                except (ValueError, AttributeError):
                    src = None
                if src is not None and src["state"] == "forking":
                    src["state"] = job.get("sourcePrevState") or "started"
        elif t == "STOP_SANDBOX":
            sb.update(state="stopped") if ok else fail()
        elif t == "DESTROY_SANDBOX":
            sb.update(state="destroyed") if ok else fail()
        elif t == "PAUSE_SANDBOX":
            if sb["state"] == "pausing":
                sb.update(state="paused") if ok else fail()
        elif t == "RESIZE_SANDBOX":
            if sb["state"] == "resizing":
                if ok:
                    try:
                        p = json.loads(job["payload"] or "{}")
                    except ValueError:
                        p = {}
                    for k in ("cpu", "memory", "disk"):
                        if isinstance(p, dict) and p.get(k):
                            sb[k] = p[k]
                    sb["state"] = "stopped" if sb["desiredState"] == "stopped" else "started"
                else:
                    sb["state"] = job.get("prevState") or "started"
        elif t == "RECOVER_SANDBOX":
            if ok:
                sb.update(state="stopped", recoverable=False)
            else:
                fail()
        elif t == "SNAPSHOT_SANDBOX":
            if sb["state"] == "snapshotting":
                sb["state"] = job.get("prevState") or "started"


# ------------------------------------------------------------------ routes

API_ROUTES = [
    # (method, pattern parts, operationId)
    ("GET", ("api", "jobs", "poll"), "pollJobs"),
    ("GET", ("api", "jobs"), "listJobs"),
    ("GET", ("api", "jobs", "{jobId}"), "getJob"),
    ("POST", ("api", "jobs", "{jobId}", "status"), "updateJobStatus"),
    ("POST", ("api", "runners", "healthcheck"), "runnerHealthcheck"),
    ("GET", ("api", "runners", "me"), "getInfoForAuthenticatedRunner"),
    ("GET", ("api", "sandbox", "for-runner"), "getSandboxesForRunner"),
    ("PUT", ("api", "sandbox", "{sandboxId}", "state"), "updateSandboxState"),
]
ALLOWED_QUERY = {
    "pollJobs": ("timeout", "limit"),
    "listJobs": ("status", "page", "limit"),
    "getSandboxesForRunner": ("states", "skipReconcilingSandboxes"),
}
HAS_BODY = ("updateJobStatus", "runnerHealthcheck", "updateSandboxState")


def match_route(method, path):
    parts = tuple(p for p in path.split("/") if p)
    path_match = None
    for m, pat, op in API_ROUTES:
        if len(pat) != len(parts):
            continue
        params = {}
        ok = True
        for a, b in zip(pat, parts):
            if a.startswith("{"):
                params[a[1:-1]] = unquote(b)
            elif a != b:
                ok = False
                break
        if not ok:
            continue
        # "poll" is a literal route registered before ":jobId" (NestJS order)
        if op == "getJob" and parts[2] == "poll":
            continue
        if m == method:
            return op, params
        path_match = path_match or op
    return None, {"pathMatchedOtherMethod": path_match}


def job_dto(job):
    d = {"id": job["id"], "type": job["type"], "status": job["status"],
         "resourceType": job["resourceType"], "resourceId": job["resourceId"]}
    if job["payload"]:
        d["payload"] = job["payload"]
    if job.get("traceContext"):
        d["traceContext"] = job["traceContext"]
    if job.get("errorMessage"):
        d["errorMessage"] = job["errorMessage"]
    d["createdAt"] = now_iso(job["createdAt"])
    d["updatedAt"] = now_iso(job["updatedAt"])
    return d


def job_admin(job):
    d = job_dto(job)
    d["resultMetadata"] = job.get("resultMetadata")
    try:
        d["resultMetadataParsed"] = json.loads(job["resultMetadata"]) if job.get("resultMetadata") else None
    except ValueError:
        d["resultMetadataParsed"] = None
    d["errorMessage"] = job.get("errorMessage")
    d["startedAt"] = now_iso(job["startedAt"]) if job.get("startedAt") else None
    d["completedAt"] = now_iso(job["completedAt"]) if job.get("completedAt") else None
    d["history"] = list(job["history"])
    d["reports"] = list(job["reports"])
    d["deliveries"] = job["deliveries"]
    d["knownType"] = job["type"] in C.JOB_TYPES
    return d


def sandbox_dto(sb):
    d = {k: sb[k] for k in ("id", "organizationId", "name", "state", "desiredState", "runnerId",
                            "cpu", "gpu", "memory", "disk", "backupState", "recoverable")}
    for k in ("errorReason", "daemonVersion", "snapshot"):
        if sb.get(k) is not None:
            d[k] = sb[k]
    d["class"] = sb.get("sandboxClass")
    return d


def runner_full(r):
    return {k: v for k, v in r.items() if v is not None or k in ("lastChecked",)}


# ------------------------------------------------------------------ HTTP handler


class DropConnection(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "daytona-standin/1"
    sys_version = ""

    # set by the server factory
    standin = None

    def setup(self):
        super().setup()
        with self.standin.conn_lock:
            self.standin.connections.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            with self.standin.conn_lock:
                self.standin.connections.discard(self.connection)

    def log_message(self, fmt, *args):
        if self.standin.verbose:
            sys.stderr.write("standin: %s - %s\n" % (self.address_string(), fmt % args))

    # -- plumbing
    def _read_body(self):
        n = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                line = self.rfile.readline()
                size = int(line.strip().split(b";")[0] or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
            return data
        if n:
            return self.rfile.read(int(n))
        return b""

    def _send(self, status, obj=None, raw=None, ctype="application/json; charset=utf-8"):
        if raw is None:
            raw = b"" if obj is None else json.dumps(obj).encode()
        self.send_response(status)
        if raw:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if raw:
            self.wfile.write(raw)
        self._status = status

    def _send_error(self, status, message, path):
        self._send(status, {"statusCode": status, "timestamp": now_iso(), "path": path,
                            "error": REASONS.get(status, "Http Exception"), "message": message})

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def _dispatch(self, method):
        self._status = None
        url = urlsplit(self.path)
        body = self._read_body()
        try:
            if url.path.startswith("/_standin/") or url.path == "/_standin":
                self._admin(method, url, body)
            else:
                self._api(method, url, body)
        except DropConnection:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # ================================================================ API
    def _api(self, method, url, body):
        st = self.standin.state
        op, params = match_route(method, url.path)
        t_req = time.time()
        rec = {"at": now_iso(t_req), "t": round(t_req, 4), "method": method, "path": self.path,
               "route": op or "unmatched"}
        with st.lock:
            st.requests.append(rec)
            key = op or "unmatched"
            st.counts[key] = st.counts.get(key, 0) + 1
        try:
            fault = self._fault(op)
            if fault is not None:
                rec["fault"] = fault["mode"]
                if fault["mode"] == "drop":
                    rec["status"] = "dropped"
                    raise DropConnection()
                if fault["mode"] == "status":
                    rec["status"] = fault["status"]
                    self._send_error(fault["status"], fault.get("message") or REASONS.get(fault["status"], "Error"),
                                     self.path)
                    return
                if fault["mode"] == "delay":
                    time.sleep(fault["delaySeconds"])
            status, obj = self._api_inner(method, url, body, op, params)
            self._send(status, obj)
            rec["status"] = status
        except ApiError as e:
            if e.kind:
                st.violation(op or "unmatched", method, self.path, e.kind, e.detail or e.message, True, e.status,
                             params.get("jobId"))
            rec["status"] = e.status
            self._send_error(e.status, e.message, self.path)

    def _fault(self, op):
        st = self.standin.state
        with st.lock:
            t = time.time()
            for f in list(st.faults):
                if f.get("until") is not None and t >= f["until"]:
                    st.faults.remove(f)
                    continue
                if f.get("routes") and (op or "unmatched") not in f["routes"]:
                    continue
                if f.get("remaining") is not None:
                    f["remaining"] -= 1
                    if f["remaining"] <= 0:
                        st.faults.remove(f)
                f["hits"] = f.get("hits", 0) + 1
                return dict(f)
        return None

    def _contract(self, op, method, kind, detail, status=None, job_id=None):
        self.standin.state.violation(op, method, self.path, kind, detail, False, status, job_id)

    def _api_inner(self, method, url, body, op, params):
        st = self.standin.state
        if op is None:
            other = params.get("pathMatchedOtherMethod")
            detail = ("%s not allowed on this path (the API routes it as %s)" % (method, other)) if other \
                else "no such API route"
            raise ApiError(404, "Cannot %s %s" % (method, url.path), "route", detail)
        params.pop("pathMatchedOtherMethod", None)

        # -- auth (§3.3): Authorization: Bearer <runner token>
        auth = self.headers.get("Authorization")
        token = None
        if auth is None:
            raise ApiError(401, "Unauthorized", "auth", "Authorization header missing")
        parts = auth.split(" ")
        if len(parts) != 2 or parts[0] != "Bearer" or not parts[1]:
            raise ApiError(401, "Unauthorized", "auth",
                           "Authorization header is not exactly 'Bearer <token>': %r" % auth[:60])
        token = parts[1]
        with st.lock:
            valid = st.token
        if token != valid:
            raise ApiError(401, "Unauthorized", "auth", "unknown runner token")

        # -- advisory header / query checks (the API accepts these)
        if self.headers.get("X-Daytona-Source") != "runner":
            self._contract(op, method, "header", "X-Daytona-Source: runner missing or wrong (got %r)"
                           % self.headers.get("X-Daytona-Source"))
        q = parse_qs(url.query, keep_blank_values=True)
        allowed = ALLOWED_QUERY.get(op, ())
        for name in q:
            if name not in allowed:
                self._contract(op, method, "query", "unknown query parameter %r (allowed: %s)"
                               % (name, ", ".join(allowed) or "none"))
        for name, vals in q.items():
            if len(vals) > 1:
                self._contract(op, method, "query", "query parameter %r repeated" % name)
        qv = {k: v[-1] for k, v in q.items()}

        data = None
        if op in HAS_BODY:
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype != "application/json":
                self._contract(op, method, "header", "Content-Type is %r, not application/json "
                               "(the API then sees an empty body)" % ctype)
                data = {}
            else:
                try:
                    data = json.loads(body.decode("utf-8")) if body else {}
                except (ValueError, UnicodeDecodeError) as e:
                    raise ApiError(400, "Invalid JSON body: %s" % e, "body", "body is not JSON")
        elif body:
            self._contract(op, method, "body", "%s %s takes no body, got %d bytes" % (method, op, len(body)))

        return getattr(self, "op_" + op)(method, qv, params, data)

    # -- GET /api/jobs/poll
    def op_pollJobs(self, method, q, params, data):
        st = self.standin.state
        timeout = self._num_query(q, "timeout", "pollJobs")
        limit = self._num_query(q, "limit", "pollJobs")
        # controller: timeout ? min(timeout, 60) : 30 ; limit ? min(limit, 100) : 10
        if timeout is not None and timeout > 60:
            self._contract("pollJobs", method, "query", "timeout=%s above the API's cap of 60 (capped)" % timeout)
        if limit is not None and limit > 100:
            self._contract("pollJobs", method, "query", "limit=%s above the API's cap of 100 (capped)" % limit)
        if limit is not None and limit < 1:
            self._contract("pollJobs", method, "query", "limit=%s below 1 (the API then uses 10)" % limit)
        timeout_s = min(timeout, 60) if timeout else 30
        limit_n = int(min(limit, 100)) if limit and limit >= 1 else 10
        with st.lock:
            delay = st.poll_delay
            gen = st.generation
        if delay:
            time.sleep(delay)
        deadline = time.time() + max(0.0, timeout_s)
        with st.lock:
            while True:
                if st.generation != gen:
                    return 200, {"jobs": []}
                if self._client_gone():
                    st.event("poll-abandoned", reason="client disconnected")
                    return 200, {"jobs": []}
                jobs = st.claim(limit_n)
                if jobs:
                    st.event("poll-delivered", jobIds=[j["id"] for j in jobs])
                    return 200, {"jobs": [job_dto(j) for j in jobs]}
                left = deadline - time.time()
                if left <= 0:
                    return 200, {"jobs": []}
                st.cond.wait(min(left, 0.25))

    def _client_gone(self):
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if r:
                return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True
        return False

    def _num_query(self, q, name, op):
        if name not in q:
            return None
        raw = q[name]
        try:
            v = float(raw)
        except ValueError:
            self._contract(op, "GET", "query", "%s=%r is not a number (the API then uses its default)" % (name, raw))
            return None
        if v != int(v):
            self._contract(op, "GET", "query", "%s=%r is not an integer" % (name, raw))
        return v

    # -- GET /api/jobs
    def op_listJobs(self, method, q, params, data):
        st = self.standin.state
        status = q.get("status")
        if status is not None and status not in C.JOB_STATUSES:
            raise ApiError(400, ["status must be one of the following values: " + ", ".join(C.JOB_STATUSES)],
                           "enum", "status=%r is not a JobStatus" % status)
        page, limit = 1, 100
        msgs = []
        if "page" in q:
            try:
                page = int(q["page"])
                if page < 1:
                    msgs.append("page must not be less than 1")
            except ValueError:
                msgs.append("page must be an integer number")
        if "limit" in q:
            try:
                limit = int(q["limit"])
                if limit < 1:
                    msgs.append("limit must not be less than 1")
            except ValueError:
                msgs.append("limit must be an integer number")
        if msgs:
            raise ApiError(400, msgs, "query", "; ".join(msgs))
        with st.lock:
            items = [st.jobs[j] for j in st.order if status is None or st.jobs[j]["status"] == status]
            total = len(items)
            sel = items[(page - 1) * limit: page * limit]
            return 200, {"items": [job_dto(j) for j in sel], "total": total, "page": page,
                         "totalPages": (total + limit - 1) // limit}

    # -- GET /api/jobs/{id}
    def op_getJob(self, method, q, params, data):
        st = self.standin.state
        with st.lock:
            job = st.jobs.get(params["jobId"])
            if job is None:
                raise ApiError(404, "Job not found", "job", "unknown job id %r" % params["jobId"])
            return 200, job_dto(job)

    # -- POST /api/jobs/{id}/status
    def op_updateJobStatus(self, method, q, params, data):
        st = self.standin.state
        jid = params["jobId"]
        with st.lock:
            job = st.jobs.get(jid)
        if job is None:  # JobAccessGuard runs before validation
            raise ApiError(404, "Job not found", "job", "status report for unknown job id %r" % jid)
        # ValidationPipe (UpdateJobStatusDto)
        if not isinstance(data, dict):
            raise ApiError(400, ["status must be one of the following values: " + ", ".join(C.JOB_STATUSES)],
                           "body", "body is not a JSON object")
        msgs = []
        status = data.get("status")
        if status not in C.JOB_STATUSES:
            msgs.append("status must be one of the following values: " + ", ".join(C.JOB_STATUSES))
        if data.get("errorMessage") is not None and not isinstance(data["errorMessage"], str):
            msgs.append("errorMessage must be a string")
        if data.get("resultMetadata") is not None and not isinstance(data["resultMetadata"], str):
            msgs.append("resultMetadata must be a string")
        if msgs:
            raise ApiError(400, msgs, "body", "; ".join(msgs) + " (body: %s)" % json.dumps(data)[:300])
        for k in data:
            if k not in ("status", "errorMessage", "resultMetadata"):
                self._contract("updateJobStatus", method, "body", "unknown field %r in UpdateJobStatus" % k,
                               job_id=jid)
        err = data.get("errorMessage")
        meta = data.get("resultMetadata")
        with st.lock:
            cur = job["status"]
            report = {"at": now_iso(), "status": status, "errorMessage": err, "resultMetadata": meta}
            job["reports"].append(report)
            if status != cur and status not in C.ALLOWED_TRANSITIONS[cur]:
                report["answer"] = 409
                raise ApiError(409, "Invalid job status transition from %s to %s for job %s" % (cur, status, jid),
                               "transition", "report %s on a %s job" % (status, cur))
            # contract checks (the API accepts these)
            problems = []
            if status == "IN_PROGRESS":
                problems.append("runner sent IN_PROGRESS; jobs arrive IN_PROGRESS and the runner never sends it")
            if status == "PENDING":
                problems.append("runner sent PENDING")
            if cur == "PENDING" and status == "FAILED":
                problems.append("FAILED reported for a job that was never delivered by a poll")
            if status == "FAILED" and not err:
                problems.append("FAILED without errorMessage")
            if status == "COMPLETED" and err:
                problems.append("COMPLETED with an errorMessage")
            if job["type"] not in C.JOB_TYPES and status == "COMPLETED":
                problems.append("COMPLETED an unknown job type %r (the Docker runner fails it with "
                                "'unknown job type: %s')" % (job["type"], job["type"]))
            problems += C.result_metadata_problems(job["type"], status, meta)
            for p in problems:
                kind = "resultMetadata" if "resultMetadata" in p else "report"
                self._contract("updateJobStatus", method, kind, "%s %s: %s" % (job["type"], jid, p), job_id=jid)
            if status == cur:
                report["answer"] = 201
                report["duplicate"] = True
                st.event("duplicate-report", jobId=jid, status=status)
                return 201, job_dto(job)
            t = time.time()
            job["status"] = status
            job["updatedAt"] = t
            if err is not None:
                job["errorMessage"] = err[:C.ERROR_MESSAGE_MAX]
            if meta is not None:
                job["resultMetadata"] = meta
            if status in C.TERMINAL_STATUSES:
                job["completedAt"] = t
            st.add_history(job, status, "runner", errorMessage=err, resultMetadata=meta)
            report["answer"] = 201
            if status in C.TERMINAL_STATUSES:
                st.apply_completion(job)
            st.cond.notify_all()
            return 201, job_dto(job)

    # -- POST /api/runners/healthcheck
    def op_runnerHealthcheck(self, method, q, params, data):
        st = self.standin.state
        if not isinstance(data, dict) or not isinstance(data.get("appVersion"), str):
            raise ApiError(400, ["appVersion must be a string"], "body",
                           "healthcheck without string appVersion: %s" % json.dumps(data)[:300])
        for p in C.healthcheck_contract_problems(data):
            self._contract("runnerHealthcheck", method, "body", p)
        with st.lock:
            r = st.runner
            st.healthchecks.append({"at": now_iso(), "body": data})
            if r["state"] != "decommissioned":
                sh = data.get("serviceHealth") if isinstance(data.get("serviceHealth"), list) else []
                unhealthy = any(isinstance(s, dict) and s.get("healthy") is False for s in sh)
                r["state"] = "unresponsive" if unhealthy else "ready"
                r["lastChecked"] = now_iso()
                for k in ("domain", "apiUrl", "proxyUrl", "appVersion", "serviceHealth"):
                    if k in data:
                        r[k] = data[k]
                if isinstance(data.get("metrics"), dict):
                    r["metrics"] = data["metrics"]
                    for k in ("cpu", "memoryGiB", "diskGiB"):
                        if k in data["metrics"]:
                            r[k] = data["metrics"][k]
        return 201, None

    # -- GET /api/runners/me
    def op_getInfoForAuthenticatedRunner(self, method, q, params, data):
        st = self.standin.state
        with st.lock:
            return 200, runner_full(dict(st.runner))

    # -- GET /api/sandbox/for-runner
    def op_getSandboxesForRunner(self, method, q, params, data):
        st = self.standin.state
        states = None
        if "states" in q and q["states"] != "":
            states = q["states"].split(",")
            bad = [s for s in states if s not in C.FOR_RUNNER_STATES]
            if bad:
                raise ApiError(400, "Invalid states: %s (allowed: %s)" % (",".join(bad), ",".join(C.FOR_RUNNER_STATES)),
                               "query", "states=%r" % q["states"])
        skip = q.get("skipReconcilingSandboxes")
        if skip not in (None, "true", "false"):
            self._contract("getSandboxesForRunner", method, "query",
                           "skipReconcilingSandboxes=%r is not true/false" % skip)
        with st.lock:
            out = []
            for sb in st.sandboxes.values():
                if sb["runnerId"] != st.runner_id:
                    continue
                if states is not None and sb["state"] not in states:
                    continue
                if skip == "true" and sb["state"] != sb["desiredState"]:
                    continue
                out.append(sandbox_dto(sb))
            return 200, out

    # -- PUT /api/sandbox/{id}/state
    def op_updateSandboxState(self, method, q, params, data):
        st = self.standin.state
        sid = params["sandboxId"]
        with st.lock:
            sb = st.sandboxes.get(sid)
            if sb is None or sb["runnerId"] != st.runner_id:
                raise ApiError(404, "Sandbox not found", "sandbox", "state update for unknown sandbox %r" % sid)
            if not isinstance(data, dict):
                data = {}
            msgs = []
            state = data.get("state")
            if state not in C.API_SANDBOX_STATES:
                msgs.append("state must be one of the following values: " + ", ".join(C.API_SANDBOX_STATES))
            if data.get("errorReason") is not None and not isinstance(data["errorReason"], str):
                msgs.append("errorReason must be a string")
            if data.get("recoverable") is not None and not isinstance(data["recoverable"], bool):
                msgs.append("recoverable must be a boolean value")
            if msgs:
                raise ApiError(400, msgs, "body", "; ".join(msgs))
            for k in data:
                if k not in ("state", "errorReason", "recoverable"):
                    self._contract("updateSandboxState", method, "body", "unknown field %r" % k)
            if sb["state"] == state:
                return 200, None
            if sb["state"] not in ("started", "stopped"):
                raise ApiError(400, "Sandbox %s is in state %s; its state can only be updated from started or stopped"
                               % (sid, sb["state"]), None)
            if sb["desiredState"] == "destroyed":
                return 200, None
            sb["state"] = state
            if state in ("started", "stopped", "archived", "destroyed", "paused"):
                sb["desiredState"] = state
            if "errorReason" in data:
                sb["errorReason"] = data["errorReason"]
            if "recoverable" in data:
                sb["recoverable"] = data["recoverable"]
            st.event("sandbox-state-pushed", sandboxId=sid, state=state)
            return 200, None

    # ================================================================ admin
    def _admin(self, method, url, body):
        st = self.standin.state
        parts = [p for p in url.path.split("/") if p][1:]
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            data = json.loads(body.decode()) if body else {}
        except ValueError as e:
            return self._send(400, {"error": "admin body is not JSON: %s" % e})
        key = (method, "/".join(p if i == 0 else ("*" if parts[0] in ("jobs", "sandboxes") and i == 1 else p)
                                for i, p in enumerate(parts)))
        try:
            status, obj = self._admin_route(key, parts, q, data)
        except KeyError as e:
            status, obj = 404, {"error": "not found: %s" % e}
        except (ValueError, TypeError) as e:
            status, obj = 400, {"error": str(e)}
        self._send(status, obj)

    def _admin_route(self, key, parts, q, data):
        st = self.standin.state
        method, route = key
        if route == "" and method == "GET" or route == "help" and method == "GET":
            return 200, {"admin": ADMIN_HELP}
        if route == "state" and method == "GET":
            with st.lock:
                return 200, {"token": st.token, "runner": dict(st.runner), "pollDelaySeconds": st.poll_delay,
                             "staleTimeoutSeconds": dict(st.stale_seconds), "faults": [dict(f) for f in st.faults],
                             "jobs": len(st.jobs), "violations": len(st.violations), "counts": dict(st.counts)}
        if route == "reset" and method == "POST":
            st.reset()
            return 200, {"reset": True}
        if route == "token" and method in ("POST", "PUT"):
            tok = data.get("token")
            if not isinstance(tok, str) or not tok:
                raise ValueError("body must be {\"token\": \"...\"}")
            with st.lock:
                st.token = tok
            return 200, {"token": tok}
        if route == "jobs" and method == "POST":
            return self._admin_enqueue(data)
        if route == "jobs" and method == "GET":
            with st.lock:
                jobs = [job_admin(st.jobs[j]) for j in st.order]
            if "status" in q:
                jobs = [j for j in jobs if j["status"] == q["status"]]
            if "type" in q:
                jobs = [j for j in jobs if j["type"] == q["type"]]
            return 200, {"jobs": jobs}
        if route == "jobs/*" and method == "GET":
            with st.lock:
                return 200, job_admin(st.jobs[parts[1]])
        if route == "jobs/*/wait" and method in ("GET", "POST"):
            want = (q.get("status") or data.get("status") or "COMPLETED,FAILED").split(",")
            timeout = float(q.get("timeout") or data.get("timeout") or 10)
            deadline = time.time() + timeout
            with st.lock:
                job = st.jobs[parts[1]]
                while job["status"] not in want and time.time() < deadline:
                    st.cond.wait(min(0.25, max(0.0, deadline - time.time())))
                return (200 if job["status"] in want else 408), job_admin(job)
        if route == "violations" and method == "GET":
            with st.lock:
                vs = list(st.violations)
            if q.get("rejected") in ("true", "false"):
                vs = [v for v in vs if v["rejected"] == (q["rejected"] == "true")]
            if "kind" in q:
                vs = [v for v in vs if v["kind"] == q["kind"]]
            return 200, {"violations": vs}
        if route == "violations" and method == "DELETE":
            with st.lock:
                n = len(st.violations)
                st.violations = []
            return 200, {"cleared": n}
        if route == "requests" and method == "GET":
            with st.lock:
                log = list(st.requests)
                counts = dict(st.counts)
            since = q.get("lastSeconds")
            window = None
            if since:
                cutoff = now_iso(time.time() - float(since))
                window = {}
                for r in log:
                    if r["at"] >= cutoff:
                        window[r["route"]] = window.get(r["route"], 0) + 1
            gaps = {}
            last = {}
            for r in log:
                k = r["route"]
                if k in last:
                    g = r["t"] - last[k]
                    gaps[k] = min(gaps.get(k, g), g)
                last[k] = r["t"]
            if "route" in q:
                log = [r for r in log if r["route"] == q["route"]]
            out = {"counts": counts, "minGapSeconds": {k: round(v, 4) for k, v in gaps.items()},
                   "log": log[-int(q.get("tail", 200)):]}
            if window is not None:
                out["window"] = window
            return 200, out
        if route == "requests" and method == "DELETE":
            with st.lock:
                st.requests, st.counts = [], {}
            return 200, {"cleared": True}
        if route == "events" and method == "GET":
            with st.lock:
                return 200, {"events": list(st.events)}
        if route == "faults" and method == "POST":
            return self._admin_fault(data)
        if route == "faults" and method == "GET":
            with st.lock:
                return 200, {"faults": [dict(f) for f in st.faults]}
        if route == "faults" and method == "DELETE":
            with st.lock:
                st.faults = []
            return 200, {"faults": []}
        if route == "config" and method in ("POST", "PUT"):
            with st.lock:
                if "pollDelaySeconds" in data:
                    st.poll_delay = float(data["pollDelaySeconds"])
                if "staleTimeoutSeconds" in data:
                    v = data["staleTimeoutSeconds"]
                    if not isinstance(v, dict):
                        raise ValueError("staleTimeoutSeconds must be an object {JOB_TYPE|default: seconds}")
                    st.stale_seconds = {k: float(x) for k, x in v.items()}
                if "runnerState" in data:
                    st.runner["state"] = data["runnerState"]
                return 200, {"pollDelaySeconds": st.poll_delay, "staleTimeoutSeconds": st.stale_seconds,
                             "runnerState": st.runner["state"]}
        if route == "runner" and method == "GET":
            with st.lock:
                return 200, {"runner": dict(st.runner), "healthchecks": list(st.healthchecks)}
        if route == "sandboxes" and method == "GET":
            with st.lock:
                return 200, {"sandboxes": [dict(s) for s in st.sandboxes.values()]}
        if route == "sandboxes/*" and method in ("PUT", "POST"):
            with st.lock:
                sb = st.sandbox(parts[1], create=True)
                for k, v in data.items():
                    if k != "id":
                        sb[k] = v
                return 200, dict(sb)
        if route == "sandboxes/*" and method == "GET":
            with st.lock:
                return 200, dict(st.sandboxes[parts[1]])
        return 404, {"error": "no admin route %s /_standin/%s" % (method, "/".join(parts)), "admin": ADMIN_HELP}

    def _admin_enqueue(self, data):
        st = self.standin.state
        jtype = data.get("type")
        if not isinstance(jtype, str) or not jtype:
            raise ValueError("type is required")
        rtype = data.get("resourceType") or C.RESOURCE_TYPE_FOR.get(jtype, ("SANDBOX",))[0]
        rid = data.get("resourceId")
        if rid is None and isinstance(data.get("payload"), dict):
            p = data["payload"]
            rid = p.get("newSandboxId") if jtype == "FORK_SANDBOX" else (p.get("id") or p.get("sandboxId")
                                                                         or p.get("snapshot"))
        if rid is None:
            rid = "sbx-" + uuid.uuid4().hex[:12]
        notes = []
        if jtype not in C.JOB_TYPES:
            notes.append("type %r is not a JobType of the reference (unknown-type test)" % jtype)
        elif rtype not in C.RESOURCE_TYPE_FOR[jtype]:
            notes.append("resourceType %s is not allowed for %s" % (rtype, jtype))
        if "payload" in data:
            payload = data["payload"]
        else:
            payload = C.default_payload(jtype, rid)
        if isinstance(payload, str):
            payload_str = payload          # verbatim, e.g. malformed JSON tests
            try:
                pobj = json.loads(payload)
            except ValueError:
                pobj = None
                notes.append("payload is not JSON text (sent verbatim)")
        elif payload is None:
            payload_str, pobj = None, None
        else:
            pobj = payload
            payload_str = json.dumps(payload, separators=(",", ":"))
        if isinstance(pobj, dict) or pobj is None:
            notes += C.payload_problems(jtype, pobj)
        with st.lock:
            if not data.get("allowConflict"):
                for j in st.jobs.values():
                    if (j["resourceType"], j["resourceId"]) == (rtype, rid) and j["completedAt"] is None \
                            and (j["type"] == "CREATE_BACKUP") == (jtype == "CREATE_BACKUP"):
                        return 409, {"error": "JobConflictError: incomplete job %s (%s) exists for %s/%s; "
                                              "pass allowConflict:true to enqueue anyway" % (j["id"], j["type"], rtype, rid)}
            t = time.time()
            jid = data.get("id") or str(uuid.uuid4())
            if jid in st.jobs:
                raise ValueError("job id %s exists" % jid)
            job = {"id": jid, "type": jtype, "status": "PENDING", "resourceType": rtype, "resourceId": rid,
                   "payload": payload_str, "traceContext": data.get("traceContext"), "errorMessage": None,
                   "resultMetadata": None, "createdAt": t, "updatedAt": t, "startedAt": None,
                   "completedAt": None, "history": [], "reports": [], "deliveries": 0}
            st.add_history(job, "PENDING", "admin")
            st.jobs[jid] = job
            st.order.append(jid)
            st.apply_enqueue(job, pobj)
            st.event("job-enqueued", jobId=jid, type=jtype)
            st.cond.notify_all()
            out = job_admin(job)
            out["notes"] = notes
            return 201, out

    def _admin_fault(self, data):
        st = self.standin.state
        mode = data.get("mode")
        if mode not in ("drop", "status", "delay", "refuse"):
            raise ValueError("mode must be drop|status|delay|refuse")
        seconds = data.get("seconds")
        count = data.get("count")
        if mode == "refuse":
            if not seconds:
                raise ValueError("refuse needs seconds")
            self.standin.refuse_for(float(seconds))
            return 200, {"refusing": float(seconds)}
        if seconds is None and count is None:
            raise ValueError("give seconds or count")
        f = {"id": uuid.uuid4().hex[:8], "mode": mode, "routes": data.get("routes"),
             "remaining": int(count) if count is not None else None,
             "until": time.time() + float(seconds) if seconds is not None else None,
             "status": int(data.get("status", 503)), "message": data.get("message"),
             "delaySeconds": float(data.get("delaySeconds", 1.0))}
        with st.lock:
            st.faults.append(f)
        return 200, f


ADMIN_HELP = {
    "GET /_standin/state": "summary (token, runner, config, counts)",
    "POST /_standin/reset": "forget everything (jobs, violations, requests, faults, token back to the initial one)",
    "POST /_standin/token": "{token} set the valid runner token",
    "POST /_standin/jobs": "{type, resourceId?, resourceType?, payload? (object|string|null), traceContext?, id?, "
                           "allowConflict?} enqueue a PENDING job",
    "GET /_standin/jobs[?status=&type=]": "jobs with history, reports, resultMetadata, errorMessage",
    "GET /_standin/jobs/{id}": "one job (admin view)",
    "GET /_standin/jobs/{id}/wait?status=A,B&timeout=s": "block until the job has one of the statuses (408 if not)",
    "GET /_standin/violations[?rejected=&kind=]": "recorded contract violations",
    "DELETE /_standin/violations": "clear violations",
    "GET /_standin/requests[?lastSeconds=&route=&tail=]": "request counts per operationId, the smallest gap "
                                                          "between two requests of a route, and a request log",
    "DELETE /_standin/requests": "clear request counts",
    "GET /_standin/events": "internal events (deliveries, timeouts, duplicates)",
    "POST /_standin/faults": "{mode: drop|status|delay|refuse, seconds?|count?, routes?[operationIds], status?, "
                             "delaySeconds?, message?}",
    "GET|DELETE /_standin/faults": "list / clear faults",
    "POST /_standin/config": "{pollDelaySeconds?, staleTimeoutSeconds? {JOB_TYPE|default: s}, runnerState?}",
    "GET /_standin/runner": "runner row and received healthchecks",
    "GET /_standin/sandboxes, GET|PUT /_standin/sandboxes/{id}": "sandbox rows (for for-runner / state push)",
}


# ------------------------------------------------------------------ server


class StandIn:
    def __init__(self, host, port, token, runner_id, verbose=False):
        self.state = State(token, runner_id)
        self.verbose = verbose
        self.host = host
        handler = type("BoundHandler", (Handler,), {"standin": self})
        self.handler = handler
        self.httpd = self._make_server(port)
        self.port = self.httpd.server_address[1]
        self.url = "http://%s:%d" % (host, self.port)
        self.stop_event = threading.Event()
        self._srv_lock = threading.Lock()
        self.conn_lock = threading.Lock()
        self.connections = set()

    def _make_server(self, port):
        srv = ThreadingHTTPServer((self.host, port), self.handler)
        srv.daemon_threads = True
        return srv

    def start(self):
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        threading.Thread(target=self._sweeper, daemon=True).start()

    def _sweeper(self):
        while not self.stop_event.wait(0.2):
            self.state.sweep_stale()

    def refuse_for(self, seconds):
        """Close the listening socket (connection refused) for a while."""
        def run():
            with self._srv_lock:
                time.sleep(0.2)   # let the admin answer that asked for this go out
                old = self.httpd
                old.shutdown()
                old.server_close()
                # established connections (long polls, keep-alive) break too
                with self.conn_lock:
                    conns = list(self.connections)
                for c in conns:
                    try:
                        c.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                self.state.event("refusing", seconds=seconds)
                if self.stop_event.wait(seconds):
                    return
                for _ in range(50):
                    try:
                        self.httpd = self._make_server(self.port)
                        break
                    except OSError:
                        time.sleep(0.1)
                threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                 daemon=True).start()
                self.state.event("listening-again")
        threading.Thread(target=run, daemon=True).start()

    def stop(self):
        self.stop_event.set()
        srv = self.httpd
        t = threading.Thread(target=srv.shutdown, daemon=True)
        t.start()
        t.join(2)
        try:
            srv.server_close()
        except OSError:
            pass


def main(argv=None):
    ap = argparse.ArgumentParser(description="Stand-in Daytona control plane for runner tests")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", default=os.environ.get("STANDIN_TOKEN", DEFAULT_TOKEN),
                    help="valid runner token (default %s)" % DEFAULT_TOKEN)
    ap.add_argument("--runner-id", default="standin-runner-0001")
    ap.add_argument("--url-file", help="also write the URL to this file")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    s = StandIn(args.host, args.port, args.token, args.runner_id, args.verbose)
    s.start()
    print("listening %s" % s.url, flush=True)
    if args.url_file:
        tmp = args.url_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(s.url + "\n")
        os.replace(tmp, args.url_file)

    def on_signal(signum, frame):
        s.stop_event.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not s.stop_event.wait(0.5):
        pass
    s.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
