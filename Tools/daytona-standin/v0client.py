#!/usr/bin/env python3
"""v0 REST client for smoke-testing a Daytona runner's REST server (§1 of
daytona-runner-api.md).  It calls the runner routes with Bearer auth, the way
the API (RunnerAdapterV0) and the proxy do, and checks the shapes of the
runner's answers.

Library use:
    c = V0Client("http://127.0.0.1:8080", "token")
    r = c.get_sandbox("abc")          # -> Result(status, body, problems)
    report = smoke("http://127.0.0.1:8080", "token")   # whole sequence

CLI:
    v0client.py smoke --url URL --token TOKEN [--sandbox-id ID] [--snapshot REF] [--json]
    v0client.py call --url URL --token TOKEN METHOD PATH [--body JSON]
Exit status 0 when no problem was found, 1 otherwise.
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import contract as C  # noqa: E402

AUTH_MESSAGES = ("authorization header required", "invalid authorization header format", "invalid token")
ERROR_CODES = ("BAD_REQUEST", "INVALID_REQUEST_BODY", "NOT_FOUND", "UNAUTHORIZED", "CONFLICT",
               "INTERNAL_SERVER_ERROR", "FORBIDDEN", "UNPROCESSABLE_ENTITY", "REQUEST_TIMEOUT",
               "SERVICE_UNAVAILABLE")
RUNNER_METRICS = ("currentCpuLoadAverage", "currentCpuUsagePercentage", "currentMemoryUsagePercentage",
                  "currentDiskUsagePercentage", "currentAllocatedCpu", "currentAllocatedMemoryGiB",
                  "currentAllocatedDiskGiB", "currentSnapshotCount", "currentStartedSandboxes")


class Result:
    def __init__(self, method, path, status, body, raw, headers, problems):
        self.method, self.path, self.status, self.body = method, path, status, body
        self.raw, self.headers, self.problems = raw, headers, problems

    def ok(self):
        return not self.problems

    def as_dict(self):
        return {"method": self.method, "path": self.path, "status": self.status, "body": self.body,
                "problems": self.problems}

    def __repr__(self):
        return "Result(%s %s -> %s, problems=%r)" % (self.method, self.path, self.status, self.problems)


def error_shape_problems(status, body, path=None, method=None):
    """The runner's ErrorResponse (§1.1)."""
    where = "error body (%s)" % status
    if not isinstance(body, dict):
        return ["%s is not a JSON object: %r" % (where, body)]
    probs = []
    spec = {"statusCode": C.is_int, "message": C.is_str, "code": C.is_str, "timestamp": C.is_str,
            "path": C.is_str, "method": C.is_str}
    for k, pred in spec.items():
        if k not in body:
            probs.append("%s: field %r missing" % (where, k))
        elif not pred(body[k]):
            probs.append("%s: field %r has wrong type: %r" % (where, k, body[k]))
    if C.is_int(body.get("statusCode")) and body["statusCode"] != status:
        probs.append("%s: statusCode %s != HTTP status %s" % (where, body["statusCode"], status))
    if isinstance(body.get("code"), str) and body["code"] not in ERROR_CODES:
        probs.append("%s: code %r is not one of the reference's codes" % (where, body["code"]))
    ts = body.get("timestamp")
    if isinstance(ts, str) and not (len(ts) >= 20 and ts[4] == "-" and ts[10] == "T"):
        probs.append("%s: timestamp %r is not RFC3339" % (where, ts))
    if path and isinstance(body.get("path"), str) and body["path"] != path.split("?")[0]:
        probs.append("%s: path %r != request path %r" % (where, body["path"], path))
    if method and isinstance(body.get("method"), str) and body["method"] != method:
        probs.append("%s: method %r != %r" % (where, body["method"], method))
    return probs


def sandbox_info_problems(body):
    if not isinstance(body, dict):
        return ["SandboxInfoResponse is not an object: %r" % (body,)]
    probs = []
    if body.get("state") not in C.RUNNER_SANDBOX_STATES:
        probs.append("state %r is not a runner SandboxState" % body.get("state"))
    # an empty backupState (Go zero value) is tolerated; any other value must be a BackupState
    if body.get("backupState") not in (None, "") and body["backupState"] not in C.RUNNER_BACKUP_STATES:
        probs.append("backupState %r is not a runner BackupState" % body["backupState"])
    if "recoverable" in body and not isinstance(body["recoverable"], bool):
        probs.append("recoverable is not a bool")
    for k in ("backupSnapshot", "backupError", "daemonVersion"):
        if body.get(k) is not None and not isinstance(body[k], str):
            probs.append("%s is not a string" % k)
    if body.get("daemonVersion") is not None and body.get("state") != "started":
        probs.append("daemonVersion present while state is %r (only when started)" % body.get("state"))
    for k in body:
        if k not in ("state", "backupState", "backupSnapshot", "backupError", "recoverable", "daemonVersion"):
            probs.append("unknown field %r in SandboxInfoResponse" % k)
    return probs


def runner_info_problems(body):
    if not isinstance(body, dict):
        return ["RunnerInfoResponseDTO is not an object"]
    probs = []
    sh = body.get("serviceHealth")
    if sh is not None:
        if not isinstance(sh, list):
            probs.append("serviceHealth is not an array")
        else:
            for i, s in enumerate(sh):
                if not isinstance(s, dict) or not isinstance(s.get("serviceName"), str) \
                        or not isinstance(s.get("healthy"), bool):
                    probs.append("serviceHealth[%d] is not {serviceName, healthy, errorReason?}: %r" % (i, s))
    m = body.get("metrics")
    if m is not None:
        if not isinstance(m, dict):
            probs.append("metrics is not an object")
        else:
            for k in RUNNER_METRICS:
                if k in m and not C.is_num(m[k]):
                    probs.append("metrics.%s is not a number" % k)
            for k in m:
                if k not in RUNNER_METRICS:
                    probs.append("unknown field metrics.%s" % k)
    if "appVersion" in body and not isinstance(body["appVersion"], str):
        probs.append("appVersion is not a string")
    for k in body:
        if k not in ("serviceHealth", "metrics", "appVersion"):
            probs.append("unknown field %r in RunnerInfoResponseDTO" % k)
    return probs


class V0Client:
    def __init__(self, base_url, token, header="Authorization", timeout=60):
        self.base = base_url.rstrip("/")
        self.token = token
        self.header = header      # "Authorization" (API) or "X-Daytona-Authorization" (proxy)
        self.timeout = timeout

    # -- transport
    def request(self, method, path, body=None, auth=True, auth_value=None, raw_body=None):
        data = None
        headers = {"Accept": "application/json"}
        if raw_body is not None:
            data = raw_body if isinstance(raw_body, bytes) else raw_body.encode()
            headers["Content-Type"] = "application/json"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth_value is not None:
            headers[self.header] = auth_value
        elif auth:
            headers[self.header] = "Bearer %s" % self.token
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                status, raw, hdrs = resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as e:
            status, raw, hdrs = e.code, e.read(), dict(e.headers)
        parsed = None
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
        problems = []
        if status >= 400:
            problems_err = error_shape_problems(status, parsed, path, method)
            problems.extend(problems_err)
        return Result(method, path, status, parsed, raw, hdrs, problems)

    def _expect(self, r, status, check=None):
        if r.status != status:
            r.problems.insert(0, "%s %s answered %s, expected %s (body %r)"
                              % (r.method, r.path, r.status, status, (r.raw or b"")[:200]))
            return r
        if check is not None:
            r.problems.extend(check(r))
        return r

    @staticmethod
    def _json_string(expected):
        def chk(r):
            if r.body != expected:
                return ["body %r, expected JSON string %r" % (r.raw[:100], expected)]
            return []
        return chk

    # -- routes (§1.2)
    def health(self):
        def chk(r):
            b = r.body
            if not isinstance(b, dict) or b.get("status") != "ok" or not isinstance(b.get("version"), str):
                return ['GET / body %r is not {"status":"ok","version":string}' % (r.raw[:200],)]
            return []
        return self._expect(self.request("GET", "/", auth=False), 200, chk)

    def info(self):
        return self._expect(self.request("GET", "/info"), 200, lambda r: runner_info_problems(r.body))

    def metrics(self):
        def chk(r):
            text = (r.raw or b"").decode("utf-8", "replace")
            lines = [l for l in text.splitlines() if l and not l.startswith("#")]
            bad = [l for l in lines if len(l.rsplit(" ", 1)) != 2]
            probs = []
            if not lines:
                probs.append("/metrics has no samples")
            if bad:
                probs.append("/metrics lines not in Prometheus text format: %r" % bad[:3])
            ctype = r.headers.get("Content-Type", "")
            if not ctype.startswith("text/plain") and "openmetrics" not in ctype:
                probs.append("/metrics Content-Type %r is not Prometheus text" % ctype)
            return probs
        return self._expect(self.request("GET", "/metrics"), 200, chk)

    def create(self, dto):
        def chk(r):
            b = r.body
            if not isinstance(b, dict) or not isinstance(b.get("daemonVersion"), str):
                return ["POST /sandboxes body %r is not StartSandboxResponse {daemonVersion}" % (r.raw[:200],)]
            return []
        return self._expect(self.request("POST", "/sandboxes", dto), 201, chk)

    def get_sandbox(self, sid):
        return self._expect(self.request("GET", "/sandboxes/%s" % sid), 200, lambda r: sandbox_info_problems(r.body))

    def start(self, sid, metadata=None, token=None):
        path = "/sandboxes/%s/start" % sid + ("?token=%s" % token if token else "")

        def chk(r):
            b = r.body
            if not isinstance(b, dict) or not isinstance(b.get("daemonVersion"), str):
                return ["start body %r is not StartSandboxResponse {daemonVersion}" % (r.raw[:200],)]
            return []
        return self._expect(self.request("POST", path, metadata if metadata is not None else {}), 200, chk)

    def stop(self, sid, force=None):
        body = {"force": force} if force is not None else None
        return self._expect(self.request("POST", "/sandboxes/%s/stop" % sid, body), 200,
                            self._json_string("Sandbox stopped"))

    def destroy(self, sid):
        return self._expect(self.request("POST", "/sandboxes/%s/destroy" % sid), 200,
                            self._json_string("Sandbox destroyed"))

    def resize(self, sid, cpu=None, memory=None, disk=None):
        body = {k: v for k, v in (("cpu", cpu), ("memory", memory), ("disk", disk)) if v is not None}
        return self._expect(self.request("POST", "/sandboxes/%s/resize" % sid, body), 200,
                            self._json_string("Sandbox resized"))

    def wait_state(self, sid, wanted, timeout=60.0, interval=0.5):
        """Poll GET /sandboxes/:id like the API's v0 sync; returns (last Result, seen states)."""
        seen = []
        deadline = time.time() + timeout
        while True:
            r = self.get_sandbox(sid)
            st = r.body.get("state") if isinstance(r.body, dict) else None
            if not seen or seen[-1] != st:
                seen.append(st)
            if st in wanted or r.status != 200 or time.time() >= deadline:
                if st not in wanted:
                    r.problems.append("sandbox %s did not reach %s within %ss (states seen: %s)"
                                      % (sid, "/".join(wanted), timeout, seen))
                return r, seen
            time.sleep(interval)


def default_create_dto(sid, snapshot):
    return {"id": sid, "userId": "org-standin", "snapshot": snapshot, "osUser": "daytona",
            "cpuQuota": 1, "gpuQuota": 0, "memoryQuota": 1, "storageQuota": 3, "env": {},
            "metadata": {"sandboxName": sid}, "authToken": "standin-daemon-token"}


def smoke(base_url, token, sandbox_id=None, snapshot="daytonaio/sandbox:0.4.3", timeout=120.0,
          create_dto=None, lifecycle=True):
    """Run the v0 smoke sequence; returns {"ok", "steps", "problems"}."""
    c = V0Client(base_url, token)
    steps = []

    def step(name, r):
        steps.append({"step": name, **r.as_dict()})
        return r

    step("health GET /", c.health())
    # auth failures (§1.1)
    for name, kw, msg in (
            ("auth: no header", {"auth": False}, "authorization header required"),
            ("auth: bad format", {"auth_value": "Token %s" % token}, "invalid authorization header format"),
            ("auth: wrong token", {"auth_value": "Bearer wrong-%s" % uuid.uuid4().hex[:6]}, "invalid token")):
        r = c.request("GET", "/info", **kw)
        c._expect(r, 401)
        if isinstance(r.body, dict) and r.body.get("message") != msg:
            r.problems.append("401 message %r, expected %r" % (r.body.get("message"), msg))
        step(name, r)
    proxy = V0Client(base_url, token, header="X-Daytona-Authorization")
    step("auth: X-Daytona-Authorization", proxy.info())
    step("info", c.info())
    step("metrics", c.metrics())
    unknown = "standin-unknown-%s" % uuid.uuid4().hex[:8]
    r = step("get unknown id", c.get_sandbox(unknown))
    if isinstance(r.body, dict) and r.body.get("state") != "destroyed":
        r.problems.append("unknown id answered state %r, expected 'destroyed' (not 404)" % r.body.get("state"))
    if lifecycle:
        sid = sandbox_id or "standin-smoke-%s" % uuid.uuid4().hex[:8]
        dto = create_dto or default_create_dto(sid, snapshot)
        step("create", c.create(dto))
        step("state after create", c.wait_state(sid, ("started",), timeout)[0])
        step("create again (idempotent)", c.create(dto))
        step("stop", c.stop(sid))
        step("state after stop", c.wait_state(sid, ("stopped",), timeout)[0])
        step("stop again (idempotent)", c.stop(sid))
        step("start", c.start(sid, {}))
        step("state after start", c.wait_state(sid, ("started",), timeout)[0])
        step("resize", c.resize(sid, cpu=dto.get("cpuQuota", 1), memory=dto.get("memoryQuota", 1)))
        step("destroy", c.destroy(sid))
        step("state after destroy", c.wait_state(sid, ("destroyed",), timeout)[0])
        step("destroy again (idempotent)", c.destroy(sid))
        r = c.request("POST", "/sandboxes/%s/start" % sid, raw_body=b"not json")
        if r.status < 400:
            r.problems.append("start with a non-JSON body answered %s; the runner requires valid JSON" % r.status)
        step("start with invalid body", r)
    problems = ["%s: %s" % (s["step"], p) for s in steps for p in s["problems"]]
    return {"ok": not problems, "steps": steps, "problems": problems}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("smoke")
    s.add_argument("--url", required=True)
    s.add_argument("--token", required=True)
    s.add_argument("--sandbox-id")
    s.add_argument("--snapshot", default="daytonaio/sandbox:0.4.3")
    s.add_argument("--timeout", type=float, default=120.0)
    s.add_argument("--no-lifecycle", action="store_true", help="only health/auth/info/metrics/unknown id")
    s.add_argument("--json", action="store_true")
    k = sub.add_parser("call")
    k.add_argument("--url", required=True)
    k.add_argument("--token", required=True)
    k.add_argument("--proxy-header", action="store_true", help="use X-Daytona-Authorization")
    k.add_argument("method")
    k.add_argument("path")
    k.add_argument("--body")
    a = ap.parse_args(argv)
    if a.cmd == "smoke":
        rep = smoke(a.url, a.token, a.sandbox_id, a.snapshot, a.timeout, lifecycle=not a.no_lifecycle)
        if a.json:
            print(json.dumps(rep, indent=2))
        else:
            for st in rep["steps"]:
                print("%-4s %-32s %s %s -> %s" % ("ok" if not st["problems"] else "FAIL", st["step"],
                                                   st["method"], st["path"], st["status"]))
                for p in st["problems"]:
                    print("       - %s" % p)
            print("OK" if rep["ok"] else "%d problem(s)" % len(rep["problems"]))
        return 0 if rep["ok"] else 1
    c = V0Client(a.url, a.token, header="X-Daytona-Authorization" if a.proxy_header else "Authorization")
    r = c.request(a.method.upper(), a.path, json.loads(a.body) if a.body else None)
    print(json.dumps(r.as_dict(), indent=2))
    return 0 if r.ok() and r.status < 400 else 1


if __name__ == "__main__":
    sys.exit(main())
