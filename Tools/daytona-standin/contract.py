"""The Daytona runner <-> API contract, as written in
/work/shared/reference/daytona-runner-api.md (v0.190.0), reduced to data and
small checking functions.

Every checker returns a list of human-readable problems (empty = fine).
Nothing here talks to the network.
"""

import json

# ---------------------------------------------------------------- enums (§2, §3)

JOB_TYPES = (
    "CREATE_SANDBOX", "START_SANDBOX", "STOP_SANDBOX", "DESTROY_SANDBOX",
    "RESIZE_SANDBOX", "CREATE_BACKUP", "BUILD_SNAPSHOT", "PULL_SNAPSHOT",
    "RECOVER_SANDBOX", "INSPECT_SNAPSHOT_IN_REGISTRY", "REMOVE_SNAPSHOT",
    "UPDATE_SANDBOX_NETWORK_SETTINGS", "SNAPSHOT_SANDBOX", "FORK_SANDBOX",
    "PAUSE_SANDBOX",
)
JOB_STATUSES = ("PENDING", "IN_PROGRESS", "COMPLETED", "FAILED")
TERMINAL_STATUSES = ("COMPLETED", "FAILED")
RESOURCE_TYPES = ("SANDBOX", "SNAPSHOT", "BACKUP")
SANDBOX_CLASSES = ("linux-vm", "container", "android", "windows")
GPU_TYPES = ("H100", "RTX-PRO-6000")

# API SandboxState (§2)
API_SANDBOX_STATES = (
    "creating", "restoring", "destroyed", "destroying", "started", "stopped",
    "starting", "stopping", "error", "build_failed", "pending_build",
    "building_snapshot", "unknown", "pulling_snapshot", "archived", "archiving",
    "resizing", "snapshotting", "forking", "pausing", "paused", "resuming",
)
API_DESIRED_STATES = ("destroyed", "started", "stopped", "resized", "archived", "paused")
# states that may be asked for in GET /api/sandbox/for-runner?states= (§3.3)
FOR_RUNNER_STATES = ("started", "stopped", "archived", "destroyed", "paused")
RUNNER_STATES = ("initializing", "ready", "disabled", "decommissioned", "unresponsive")

# Runner-side enums (§2), used by the v0 client checks
RUNNER_SANDBOX_STATES = (
    "creating", "restoring", "destroyed", "destroying", "started", "stopped",
    "starting", "stopping", "resizing", "error", "unknown", "pulling_snapshot",
)
RUNNER_BACKUP_STATES = ("NONE", "PENDING", "IN_PROGRESS", "COMPLETED", "FAILED")

# allowed resourceType per job type (§3.1)
RESOURCE_TYPE_FOR = {t: ("SANDBOX",) for t in JOB_TYPES}
RESOURCE_TYPE_FOR.update({
    "BUILD_SNAPSHOT": ("SANDBOX", "SNAPSHOT"),
    "PULL_SNAPSHOT": ("SNAPSHOT",),
    "REMOVE_SNAPSHOT": ("SNAPSHOT",),
    "INSPECT_SNAPSHOT_IN_REGISTRY": ("SNAPSHOT",),
})

# stale-job timeouts in minutes (§6, handleStaleJobs)
STALE_MINUTES_DEFAULT = 10
STALE_MINUTES = {
    "BUILD_SNAPSHOT": 120, "CREATE_BACKUP": 120, "PULL_SNAPSHOT": 120,
    "SNAPSHOT_SANDBOX": 120, "CREATE_SANDBOX": 30,
}

# job status transitions (§3.5): same status always allowed
ALLOWED_TRANSITIONS = {
    "PENDING": ("IN_PROGRESS", "FAILED"),
    "IN_PROGRESS": ("COMPLETED", "FAILED"),
    "COMPLETED": (),
    "FAILED": (),
}

ERROR_MESSAGE_MAX = 10000

# ---------------------------------------------------------------- type helpers


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_str(v):
    return isinstance(v, str)


def is_bool(v):
    return isinstance(v, bool)


def is_str_map(v):
    return isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items())


def is_str_list(v):
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _check_fields(obj, spec, where, required=(), allow_extra=False):
    """spec: name -> predicate.  Returns problems."""
    problems = []
    if not isinstance(obj, dict):
        return ["%s must be a JSON object, got %s" % (where, type(obj).__name__)]
    for name in required:
        if name not in obj:
            problems.append("%s: required field %r missing" % (where, name))
    for name, value in obj.items():
        pred = spec.get(name)
        if pred is None:
            if not allow_extra:
                problems.append("%s: unknown field %r" % (where, name))
            continue
        if value is None:
            continue  # omitempty pointer fields may be null
        sub = pred(value)
        if sub is True:
            continue
        if sub is False:
            problems.append("%s: field %r has wrong type/value %r" % (where, name, value))
        elif isinstance(sub, list):
            problems.extend("%s.%s" % (where, p) if not p.startswith(where) else p for p in sub)
    return problems


# ---------------------------------------------------------------- payload DTOs (§1.3, §3.6)


def registry_problems(v, where="registry"):
    return _check_fields(v, {"url": is_str, "project": is_str, "username": is_str, "password": is_str},
                         where, required=("url",))


def _registry_pred(v):
    return registry_problems(v) or True


def _volumes_pred(v):
    if not isinstance(v, list):
        return False
    out = []
    for i, vol in enumerate(v):
        out += _check_fields(vol, {"volumeId": is_str, "mountPath": is_str, "subpath": is_str}, "volumes[%d]" % i)
    return out or True


def _min(n):
    return lambda v: is_int(v) and v >= n


CREATE_SANDBOX_SPEC = {
    "id": is_str, "name": is_str, "fromVolumeId": is_str, "userId": is_str,
    "snapshot": is_str, "osUser": is_str, "cpuQuota": _min(1), "gpuQuota": _min(0),
    "memoryQuota": _min(1), "storageQuota": _min(1), "env": is_str_map,
    "registry": _registry_pred, "entrypoint": is_str_list, "volumes": _volumes_pred,
    "networkBlockAll": is_bool, "networkAllowList": is_str, "domainAllowList": is_str,
    "metadata": is_str_map, "authToken": is_str, "otelEndpoint": is_str,
    "skipStart": is_bool, "sandboxClass": lambda v: v in SANDBOX_CLASSES,
    "organizationId": is_str, "regionId": is_str, "linkedSandboxId": is_str,
}
CREATE_SANDBOX_REQUIRED = ("id", "osUser", "snapshot", "userId")

RESIZE_SPEC = {"cpu": _min(1), "gpu": _min(0), "memory": _min(1), "disk": _min(1), "registry": _registry_pred}
NETWORK_SPEC = {"networkBlockAll": is_bool, "networkAllowList": is_str, "domainAllowList": is_str,
                "networkLimitEgress": is_bool}
RECOVER_SPEC = {
    "userId": is_str, "osUser": is_str, "cpuQuota": _min(1), "gpuQuota": _min(0),
    "memoryQuota": _min(1), "storageQuota": _min(1), "fromVolumeId": is_str, "snapshot": is_str,
    "env": is_str_map, "volumes": _volumes_pred, "networkBlockAll": is_bool,
    "networkAllowList": is_str, "errorReason": is_str, "backupErrorReason": is_str,
    "registry": _registry_pred, "skipStart": is_bool,
}
PULL_SPEC = {"snapshot": is_str, "sandboxClass": lambda v: v in SANDBOX_CLASSES, "registry": _registry_pred,
             "destinationRegistry": _registry_pred, "destinationRef": is_str, "newTag": is_str}
BUILD_SPEC = {"snapshot": is_str, "sourceRegistries": lambda v: isinstance(v, list) and (
    [p for i, r in enumerate(v) for p in registry_problems(r, "sourceRegistries[%d]" % i)] or True),
    "registry": _registry_pred, "dockerfile": is_str, "organizationId": is_str,
    "context": is_str_list, "pushToInternalRegistry": is_bool}

# payload spec per job type: (spec, required) or None = the job carries no payload
PAYLOAD_SPECS = {
    "CREATE_SANDBOX": (CREATE_SANDBOX_SPEC, CREATE_SANDBOX_REQUIRED),
    "START_SANDBOX": ({"authToken": is_str, "metadata": is_str_map}, ()),
    "STOP_SANDBOX": ({"force": is_bool}, ()),
    "DESTROY_SANDBOX": None,
    "RESIZE_SANDBOX": (RESIZE_SPEC, ()),
    "CREATE_BACKUP": ({"snapshot": is_str, "registry": _registry_pred}, ("snapshot", "registry")),
    "RECOVER_SANDBOX": (RECOVER_SPEC, ("userId", "osUser")),
    "UPDATE_SANDBOX_NETWORK_SETTINGS": (NETWORK_SPEC, ()),
    "BUILD_SNAPSHOT": (BUILD_SPEC, ("dockerfile", "organizationId")),
    "PULL_SNAPSHOT": (PULL_SPEC, ("snapshot",)),
    "REMOVE_SNAPSHOT": None,
    "INSPECT_SNAPSHOT_IN_REGISTRY": ({"snapshot": is_str, "registry": _registry_pred}, ("snapshot",)),
    "SNAPSHOT_SANDBOX": ({"sandboxId": is_str, "name": is_str, "organizationId": is_str,
                          "registry": _registry_pred, "includeMemory": is_bool},
                         ("sandboxId", "name", "organizationId")),
    "FORK_SANDBOX": ({"sourceSandboxId": is_str, "newSandboxId": is_str}, ("sourceSandboxId", "newSandboxId")),
    "PAUSE_SANDBOX": ({"sandboxId": is_str}, ("sandboxId",)),
}


def payload_problems(job_type, payload_obj):
    """Check a job payload object (already decoded) against §3.6."""
    if job_type not in PAYLOAD_SPECS:
        return []
    entry = PAYLOAD_SPECS[job_type]
    if entry is None:
        return [] if payload_obj is None else ["%s carries no payload in the reference" % job_type]
    if payload_obj is None:
        return ["%s payload missing" % job_type] if entry[1] else []
    spec, required = entry
    return _check_fields(payload_obj, spec, "payload", required=required)


def default_payload(job_type, resource_id):
    """A payload as the API would build it (§3.6), for the admin enqueue when
    the test gives none.  None = no payload."""
    if job_type == "CREATE_SANDBOX":
        return {"id": resource_id, "userId": "org-standin", "snapshot": "daytonaio/sandbox:0.4.3",
                "osUser": "daytona", "cpuQuota": 1, "gpuQuota": 0, "memoryQuota": 1,
                "storageQuota": 3, "env": {}, "metadata": {"sandboxName": resource_id},
                "authToken": "standin-daemon-token", "organizationId": "org-standin",
                "regionId": "us", "sandboxClass": "linux-vm"}
    if job_type == "START_SANDBOX":
        return {"authToken": "standin-daemon-token", "metadata": {}}
    if job_type == "STOP_SANDBOX":
        return {"force": False}
    if job_type == "RESIZE_SANDBOX":
        return {"cpu": 2, "memory": 2, "disk": 10}
    if job_type == "CREATE_BACKUP":
        return {"snapshot": "registry.local/backup-%s:1" % resource_id, "registry": {"url": "registry.local"}}
    if job_type == "RECOVER_SANDBOX":
        return {"userId": "org-standin", "osUser": "daytona", "cpuQuota": 1, "gpuQuota": 0,
                "memoryQuota": 1, "storageQuota": 3, "skipStart": False}
    if job_type == "UPDATE_SANDBOX_NETWORK_SETTINGS":
        return {"networkBlockAll": False}
    if job_type == "BUILD_SNAPSHOT":
        return {"snapshot": resource_id, "dockerfile": "FROM ubuntu:22.04\n", "organizationId": "org-standin",
                "context": [], "pushToInternalRegistry": False}
    if job_type == "PULL_SNAPSHOT":
        return {"snapshot": resource_id}
    if job_type == "INSPECT_SNAPSHOT_IN_REGISTRY":
        return {"snapshot": resource_id}
    if job_type == "SNAPSHOT_SANDBOX":
        return {"sandboxId": resource_id, "name": "snap-%s" % resource_id, "organizationId": "org-standin",
                "includeMemory": False}
    if job_type == "FORK_SANDBOX":
        return {"sourceSandboxId": "source-of-%s" % resource_id, "newSandboxId": resource_id}
    if job_type == "PAUSE_SANDBOX":
        return {"sandboxId": resource_id}
    return None


# ---------------------------------------------------------------- resultMetadata (§3.6)

def _snapshot_info(obj, where):
    return _check_fields(obj, {"name": is_str, "sizeGB": is_num, "entrypoint": is_str_list,
                               "cmd": is_str_list,
                               "hash": lambda v: is_str(v) and not v.startswith("sha256:")},
                         where, required=("name", "sizeGB", "hash"))


def _daemon_version(obj, where):
    return _check_fields(obj, {"daemonVersion": is_str}, where, required=("daemonVersion",))


def _snapshot_sandbox(obj, where):
    # The API also accepts Ref/Hash/size_gb; the Docker runner sends ref/hash/sizeGB.
    problems = _check_fields(obj, {"ref": is_str, "hash": is_str, "sizeGB": is_num,
                                   "entrypoint": is_str_list, "cmd": is_str_list,
                                   "Ref": is_str, "Hash": is_str, "size_gb": is_num},
                             where)
    if isinstance(obj, dict):
        if "ref" not in obj and "Ref" not in obj:
            problems.append("%s: required field 'ref' missing" % where)
        if "hash" not in obj and "Hash" not in obj:
            problems.append("%s: required field 'hash' missing" % where)
        if "sizeGB" not in obj and "size_gb" not in obj:
            problems.append("%s: required field 'sizeGB' missing" % where)
    return problems


def _empty(obj, where):
    if obj in ({}, None):
        return []
    return ["%s: expected no result (or {}), got %r" % (where, obj)]


# per job type: (required_on_completed, checker).  checker None = no result expected.
RESULT_METADATA = {
    "CREATE_SANDBOX": (True, _daemon_version),
    "START_SANDBOX": (True, _daemon_version),
    "STOP_SANDBOX": (False, None),
    "DESTROY_SANDBOX": (False, None),
    "RESIZE_SANDBOX": (False, None),
    "CREATE_BACKUP": (False, None),
    "RECOVER_SANDBOX": (False, None),
    "UPDATE_SANDBOX_NETWORK_SETTINGS": (False, None),
    "REMOVE_SNAPSHOT": (False, None),
    "BUILD_SNAPSHOT": (True, _snapshot_info),
    "PULL_SNAPSHOT": (True, _snapshot_info),
    "INSPECT_SNAPSHOT_IN_REGISTRY": (True, lambda o, w: _check_fields(
        o, {"hash": is_str, "sizeGB": is_num}, w, required=("hash", "sizeGB"))),
    "SNAPSHOT_SANDBOX": (True, _snapshot_sandbox),
    "FORK_SANDBOX": (True, _daemon_version),
    "PAUSE_SANDBOX": (False, _empty),
}


def result_metadata_problems(job_type, status, result_metadata):
    """Contract checks for the resultMetadata of a status report.  The real
    API only requires it to be a string; these are the reference's shapes."""
    problems = []
    if result_metadata is None:
        if status == "COMPLETED" and job_type in RESULT_METADATA and RESULT_METADATA[job_type][0]:
            problems.append("COMPLETED %s without resultMetadata (expected %s)" % (job_type, describe_result(job_type)))
        return problems
    if not isinstance(result_metadata, str):
        return problems  # the 400 for non-string is reported elsewhere
    try:
        obj = json.loads(result_metadata)
    except ValueError as e:
        return ["resultMetadata is not JSON text: %s" % e]
    if status != "COMPLETED":
        problems.append("resultMetadata sent with status %s (the runner sends it only on COMPLETED)" % status)
        return problems
    if job_type not in RESULT_METADATA:
        return problems
    checker = RESULT_METADATA[job_type][1]
    if checker is None:
        if obj not in ({}, None):
            problems.append("%s has no result in the reference, got resultMetadata %r" % (job_type, obj))
        return problems
    return checker(obj, "resultMetadata")


def describe_result(job_type):
    return {
        "CREATE_SANDBOX": '{"daemonVersion": string}',
        "START_SANDBOX": '{"daemonVersion": string}',
        "FORK_SANDBOX": '{"daemonVersion": string}',
        "BUILD_SNAPSHOT": '{"name","sizeGB","entrypoint","cmd","hash"}',
        "PULL_SNAPSHOT": '{"name","sizeGB","entrypoint","cmd","hash"}',
        "INSPECT_SNAPSHOT_IN_REGISTRY": '{"hash","sizeGB"}',
        "SNAPSHOT_SANDBOX": '{"ref","hash","sizeGB","entrypoint"?,"cmd"?}',
        "PAUSE_SANDBOX": "{} or nothing",
    }.get(job_type, "nothing")


# ---------------------------------------------------------------- healthcheck (§4)

HEALTH_METRICS_REQUIRED = (
    "currentCpuLoadAverage", "currentCpuUsagePercentage", "currentMemoryUsagePercentage",
    "currentDiskUsagePercentage", "currentAllocatedCpu", "currentAllocatedMemoryGiB",
    "currentAllocatedDiskGiB", "currentSnapshotCount", "currentStartedSandboxes",
    "cpu", "memoryGiB", "diskGiB",
)


def healthcheck_contract_problems(body):
    """Checks beyond what the API's ValidationPipe rejects."""
    spec = {"metrics": lambda v: True, "serviceHealth": lambda v: True, "domain": is_str,
            "proxyUrl": is_str, "apiUrl": is_str, "appVersion": is_str}
    problems = _check_fields(body, spec, "healthcheck", required=("appVersion",))
    if not isinstance(body, dict):
        return problems
    m = body.get("metrics")
    if m is not None:
        mspec = {k: is_num for k in HEALTH_METRICS_REQUIRED}
        mspec["gpu"] = is_num
        mspec["gpuType"] = lambda v: v in GPU_TYPES
        problems += _check_fields(m, mspec, "metrics", required=HEALTH_METRICS_REQUIRED)
    sh = body.get("serviceHealth")
    if sh is not None:
        if not isinstance(sh, list):
            problems.append("serviceHealth must be an array")
        else:
            for i, s in enumerate(sh):
                problems += _check_fields(s, {"serviceName": is_str, "healthy": is_bool, "errorReason": is_str},
                                          "serviceHealth[%d]" % i, required=("serviceName", "healthy"))
    return problems
