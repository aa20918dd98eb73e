"""The `cvd` simulator (behaves like released cvd 1.55.2 unless a knob says otherwise)."""

import contextlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time

from . import common, paths
from .common import SimError

BUG_FOOTER = ("If the error above is unclear, please copy the text and `cvd version` output "
              "into an issue at: http://go/cuttlefish-bug")

ACTIVE = ("Running", "Starting", "Preparing", "Stopping", "Unreachable")
STATES = ("Unspecified", "Preparing", "Starting", "Running", "Stopping", "Stopped",
          "Prepare Failed", "Boot Failed", "Unreachable", "Cancelled")
GROUP_RE = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*$")
INSTANCE_RE = re.compile(r"^[A-Za-z0-9_]+(-[A-Za-z0-9_]+)*$")
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

# flag name -> (kind, default); kind: bool | int | str
LAUNCH_FLAGS = {
    "cpus": ("int", "4"),
    "memory_mb": ("int", "4096"),
    "data_policy": ("str", "use_existing"),
    "blank_data_image_mb": ("int", "8192"),
    "enable_virtiofs": ("bool", "true"),
    "gpu_mode": ("str", "auto"),
    "snapshot_path": ("str", ""),
    "snapshot_compatible": ("bool", "false"),
    "resume": ("bool", "true"),
    "crosvm_use_balloon": ("bool", "true"),
    "vm_manager": ("str", "crosvm"),
    "setupwizard_mode": ("str", "DISABLED"),
    "x_res": ("int", "720"),
    "y_res": ("int", "1280"),
    "dpi": ("int", "320"),
    "kernel_path": ("str", ""),
    "initramfs_path": ("str", ""),
    "webrtc_device_id": ("str", ""),
    "start_webrtc": ("bool", "true"),
    "report_anonymous_usage_stats": ("str", "n"),
    "daemon": ("bool", "true"),
    "enable_usb": ("bool", "true"),
    "enable_sandbox": ("bool", "false"),
    "num_instances": ("int", ""),
    "base_instance_num": ("int", ""),
}
CREATE_FLAGS = dict(LAUNCH_FLAGS, **{
    "host_path": ("str", ""),
    "product_path": ("str", ""),
    "nostart": ("bool", "false"),
    "config_file": ("str", ""),
})
PER_INSTANCE = ("cpus", "memory_mb", "blank_data_image_mb", "enable_virtiofs", "gpu_mode",
                "crosvm_use_balloon", "x_res", "y_res", "dpi", "webrtc_device_id", "enable_usb",
                "setupwizard_mode", "kernel_path", "initramfs_path", "data_policy")
GPU_MODES = ("auto", "drm_virgl", "gfxstream", "gfxstream_guest_angle",
             "gfxstream_guest_angle_host_swiftshader", "guest_swiftshader", "none")
DATA_POLICIES = ("use_existing", "resize_up_to", "always_create")


class Aborted(Exception):
    pass


# ---------------------------------------------------------------- flag parsing

def parse_bool(name, v):
    lv = v.lower()
    if lv in ("true", "t", "yes", "y", "1"):
        return True
    if lv in ("false", "f", "no", "n", "0"):
        return False
    raise SimError("ERROR: illegal value '%s' specified for bool flag '%s'" % (v, name))


def parse_flags(args, spec, cmd):
    """gflags-style: --f=v, --f v, -f=v, --f / --nof for bools.  Returns dict
    name -> raw string, plus the list of positionals."""
    out, pos = {}, []
    i = 0
    while i < len(args):
        a = args[i]
        if not a.startswith("-") or a in ("-", "--"):
            pos.append(a)
            i += 1
            continue
        body = a.lstrip("-")
        if "=" in body:
            name, val = body.split("=", 1)
        else:
            name, val = body, None
        if name not in spec and name.startswith("no") and name[2:] in spec \
                and spec[name[2:]][0] == "bool" and val is None:
            out[name[2:]] = "false"
            i += 1
            continue
        if name not in spec:
            raise SimError("ERROR: unknown command line flag '%s' (cvd %s)" % (name, cmd))
        kind = spec[name][0]
        if val is None:
            if kind == "bool":
                val = "true"
            elif i + 1 < len(args):
                i += 1
                val = args[i]
            else:
                raise SimError("ERROR: flag '%s' is missing its argument" % name)
        if kind == "bool":
            parse_bool(name, val)
        out[name] = val
        i += 1
    return out, pos


def per_instance(raw, name, idx):
    v = raw.get(name)
    if v is None or v == "":
        return LAUNCH_FLAGS[name][1]
    vals = v.split(",")
    return vals[idx] if idx < len(vals) else vals[0]


def instance_launch_config(raw, idx, group, inst):
    cfg = {}
    for name in PER_INSTANCE:
        v = per_instance(raw, name, idx)
        kind = LAUNCH_FLAGS[name][0]
        if kind == "int":
            try:
                v = int(v)
            except ValueError:
                raise SimError("ERROR: illegal value '%s' specified for int32 flag '%s'" % (v, name))
            if v <= 0:
                raise SimError("Invalid --%s=%d: must be positive" % (name, v))
        elif kind == "bool":
            v = parse_bool(name, v)
        cfg[name] = v
    if cfg["gpu_mode"] not in GPU_MODES:
        raise SimError("Invalid gpu_mode: %s" % cfg["gpu_mode"])
    if cfg["data_policy"] not in DATA_POLICIES:
        raise SimError("Invalid data_policy: \"%s\" (use_existing, resize_up_to or always_create)"
                       % cfg["data_policy"])
    vmm = raw.get("vm_manager") or "crosvm"
    if vmm != "crosvm":
        raise SimError("--vm_manager=%s is not simulated (only crosvm)" % vmm)
    if not cfg["webrtc_device_id"]:
        cfg["webrtc_device_id"] = "%s-%s-%d" % (group, inst["name"], inst["id"])
    cfg["snapshot_compatible"] = parse_bool("snapshot_compatible",
                                            raw.get("snapshot_compatible") or "false")
    if cfg["snapshot_compatible"]:
        bad = []
        if cfg["enable_virtiofs"]:
            bad.append("--enable_virtiofs=false")
        if cfg["gpu_mode"] != "guest_swiftshader":
            bad.append("--gpu_mode=guest_swiftshader")
        if cfg["enable_usb"]:
            bad.append("--enable_usb=false")
        if bad:
            raise SimError("--snapshot_compatible is set but the device is not snapshot "
                           "compatible; it needs " + " ".join(bad))
    return cfg


# ---------------------------------------------------------------- database

@contextlib.contextmanager
def db_tx():
    """Read-modify-write of the per-uid database under its file lock
    (termination signals are held off while the lock is held)."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        with common.file_lock(paths.db_path() + ".lock"):
            db = common.read_json(paths.db_path(), None) or {"instance_groups": []}
            before = json.dumps(db, sort_keys=True)
            yield db
            if json.dumps(db, sort_keys=True) != before:
                common.write_atomic(paths.db_path(), json.dumps(db, indent=1, sort_keys=True) + "\n")
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def db_read():
    with db_tx() as db:
        return db


def find_group(db, name):
    for g in db["instance_groups"]:
        if g["name"] == name:
            return g
    return None


def lock_state(instance_id):
    try:
        with open(paths.lock_file(instance_id)) as f:
            return f.read().strip()
    except OSError:
        return ""


def set_lock(instance_id, state):
    common.write_atomic(paths.lock_file(instance_id), state, mode=0o666)


def release_lock(instance_id):
    try:
        os.unlink(paths.lock_file(instance_id))
    except OSError:
        pass


# ---------------------------------------------------------------- output

def out(text):
    sys.stdout.write(text)
    sys.stdout.flush()


def err(text):
    sys.stderr.write(text.rstrip("\n") + "\n")
    sys.stderr.flush()


def fmt_time(sec):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(sec or 0))


def home_of(g):
    return os.path.join(g["base_dir"], "home")


def instance_dir(g, inst):
    if not g.get("launched"):
        return os.path.join(home_of(g), "cuttlefish_runtime.%d" % inst["id"])
    return os.path.join(home_of(g), "cuttlefish", "instances", "cvd-%d" % inst["id"])


def assembly_dir(g):
    if not g.get("launched"):
        return os.path.join(home_of(g), "cuttlefish_assembly")
    return os.path.join(home_of(g), "cuttlefish", "assembly")


def data_dir(g, inst):
    """The guest's persistent data (what adb push/pull see), inside the instance dir."""
    return os.path.join(home_of(g), "cuttlefish", "instances", "cvd-%d" % inst["id"], "sim_userdata")


def probe_instance(g, inst, timeout=5.0):
    """cvd_internal_status --print for one instance: None if it fails."""
    if common.in_list_knob("status_fail", g["name"]):
        return None
    sock = inst.get("monitor_socket") or paths.monitor_socket(inst["id"])
    try:
        r = paths.unix_request(sock, {"cmd": "status"}, timeout=timeout)
    except (OSError, ValueError):
        return None
    return r if r.get("ok") else None


def serial_host():
    return common.knob("adb_serial_host", "0.0.0.0")


def instance_json(g, inst, probe=True):
    st = inst["state"]
    j = {"instance_name": inst["name"], "status": st,
         "assembly_dir": assembly_dir(g), "instance_dir": instance_dir(g, inst)}
    if st in ACTIVE:
        port = paths.adb_port(inst["id"])
        wid = inst.get("webrtc_device_id") or "%s-%s-%d" % (g["name"], inst["name"], inst["id"])
        j["adb_port"] = port
        j["webrtc_device_id"] = wid
        j["web_access"] = "https://localhost:1443/devices/%s/files/client.html" % wid
        if st == "Running" and probe:
            if probe_instance(g, inst) is None:
                j["status"] = "Unreachable"
                j["warning"] = "cvd status failed"
            else:
                cfg = inst.get("config", {})
                j["adb_serial"] = "%s:%d" % (serial_host(), port)
                j["displays"] = ["%d x %d ( %d )" % (cfg.get("x_res", 720), cfg.get("y_res", 1280),
                                                     cfg.get("dpi", 320))]
    return j


def group_json(g, probe=True, instances=None):
    insts = instances if instances is not None else g["instances"]
    return {"group_name": g["name"],
            "instances": [instance_json(g, i, probe) for i in insts],
            "metrics_dir": os.path.join(home_of(g), "metrics"),
            "start_time": fmt_time(g.get("start_time_sec", 0))}


# ---------------------------------------------------------------- selection

class Selector:
    def __init__(self):
        self.group = None
        self.instances = None

    def given(self):
        return self.group is not None or self.instances is not None


def not_applicable(cmd, args):
    text = " ".join([cmd] + list(args)).strip()
    return SimError("Command `%s` is not applicable: no devices present" % text)


def select_group(db, sel, cmd, args):
    groups = db["instance_groups"]
    if not groups:
        raise not_applicable(cmd, args)
    if sel.group is not None:
        g = find_group(db, sel.group)
        if g is None:
            raise SimError("No instance group named \"%s\" was found" % sel.group)
    else:
        cands = groups
        if sel.instances:
            cands = [x for x in groups if all(n in [i["name"] for i in x["instances"]]
                                               for n in sel.instances)]
            if not cands:
                raise SimError("No instance named \"%s\" was found" % ",".join(sel.instances))
        if len(cands) > 1:
            raise SimError("Multiple groups found. Narrow the selection with selector arguments.")
        g = cands[0]
    insts = g["instances"]
    if sel.instances:
        names = [i["name"] for i in insts]
        for n in sel.instances:
            if n not in names:
                raise SimError("No instance named \"%s\" in group \"%s\"" % (n, g["name"]))
        insts = [i for i in insts if i["name"] in sel.instances]
    return g, insts


# ---------------------------------------------------------------- processes

def kill_instance_process(inst, sig_kill_only=False):
    pid = inst.get("pid")
    if pid and common.is_sim_crosvm(pid, inst["id"]):
        if sig_kill_only:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            deadline = time.time() + 2
            while time.time() < deadline and common.pid_alive(pid):
                time.sleep(0.02)
        else:
            common.kill_pid(pid)


def live_owner_of_id(instance_id):
    """pids of live simulated crosvm processes using this instance id."""
    return [p for p in common.sim_crosvm_pids() if "--cfsim_instance=%d" % instance_id in common.cmdline(p)]


def spawn_crosvm(g, inst, cfg, boot_seconds, hang, restored_from=None):
    idir = instance_dir(g, inst)
    port = paths.adb_port(inst["id"])
    logdir = os.path.join(idir, "logs")
    os.makedirs(logdir, exist_ok=True)
    argv = [sys.executable, common.CROSVM_BIN, "run",
            "--cpus", str(cfg["cpus"]), "--mem", str(cfg["memory_mb"]),
            "--socket", paths.control_socket(inst["id"]),
            "--block", "path=%s/overlay.img" % idir,
            "--params", "androidboot.serialno=CUTTLEFISHCVD%02d" % inst["id"],
            "--cfsim_root=" + common.sim_root(),
            "--cfsim_uid=%d" % common.uid(),
            "--cfsim_instance=%d" % inst["id"],
            "--cfsim_group=" + g["name"],
            "--cfsim_port=%d" % port,
            "--cfsim_monitor=" + paths.monitor_socket(inst["id"]),
            "--cfsim_devfile=" + paths.device_file(port),
            "--cfsim_instance_dir=" + idir,
            "--cfsim_data_dir=" + data_dir(g, inst),
            "--cfsim_logdir=" + logdir,
            "--cfsim_boot_seconds=%s" % boot_seconds,
            "--cfsim_boot_hang=%d" % (1 if hang else 0),
            "--cfsim_virtiofs=%d" % (1 if cfg["enable_virtiofs"] else 0),
            "--cfsim_balloon=%d" % (1 if cfg["crosvm_use_balloon"] else 0)]
    if restored_from:
        argv.append("--cfsim_restored_from=" + restored_from)
    argv.append(os.path.join(idir, "kernel"))
    try:
        os.unlink(paths.device_file(port))  # a crashed predecessor's record
    except OSError:
        pass
    logf = open(os.path.join(logdir, "crosvm.log"), "a")
    try:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                             close_fds=True, start_new_session=True, cwd=idir)
    finally:
        logf.close()
    return p.pid


# ---------------------------------------------------------------- launch

def check_host():
    if common.knob_true("host_not_configured"):
        raise SimError("Host configuration requirements not met.  Run `cvd setup` to "
                       "configure the host.")


def prepare_instance_files(g, inst, cfg, snapshot_dir):
    idir = instance_dir(g, inst)
    os.makedirs(os.path.join(idir, "logs"), exist_ok=True)
    os.makedirs(os.path.join(idir, "internal"), exist_ok=True)
    os.makedirs(assembly_dir(g), exist_ok=True)
    os.makedirs(os.path.join(home_of(g), "metrics"), exist_ok=True)
    ddir = data_dir(g, inst)
    img = os.path.join(idir, "userdata.img")
    size = cfg["blank_data_image_mb"] * 1024 * 1024
    policy = cfg["data_policy"]
    if policy == "always_create" or not os.path.exists(img):
        shutil.rmtree(ddir, ignore_errors=True)
        with open(img, "wb") as f:
            f.truncate(size)
    elif policy == "resize_up_to" and os.path.getsize(img) < size:
        with open(img, "r+b") as f:
            f.truncate(size)
    for sub in ("sdcard", "data/local/tmp"):
        os.makedirs(os.path.join(ddir, sub), exist_ok=True)
    for name in ("overlay.img", "sdcard.img", "metadata.img", "misc.img"):
        p = os.path.join(idir, name)
        if not os.path.exists(p):
            open(p, "wb").close()
    if snapshot_dir:
        src = os.path.join(snapshot_dir, "instance_%d" % inst["id"], "userdata")
        if os.path.isdir(src):
            shutil.rmtree(ddir, ignore_errors=True)
            shutil.copytree(src, ddir, symlinks=True)
    for name in ("kernel.log", "launcher.log", "logcat"):
        open(os.path.join(idir, "logs", name), "a").close()
    os.makedirs(os.path.dirname(paths.control_socket(inst["id"])), exist_ok=True)
    os.makedirs(paths.env_dir(), exist_ok=True)
    config = {
        "assembly_dir": assembly_dir(g),
        "crosvm_binary": common.CROSVM_BIN,
        "instances_uds_dir": paths.uds_dir(),
        "environments_uds_dir": paths.env_dir(),
        "vm_manager": "crosvm",
        "enable_virtiofs": cfg["enable_virtiofs"],
        "gpu_mode": cfg["gpu_mode"],
        "enable_usb": cfg["enable_usb"],
        "crosvm_use_balloon": cfg["crosvm_use_balloon"],
        "snapshot_compatible": cfg["snapshot_compatible"],
        "instances": {str(inst["id"]): {
            "adb_host_port": paths.adb_port(inst["id"]),
            "adb_ip_and_port": "0.0.0.0:%d" % paths.adb_port(inst["id"]),
            "cpus": cfg["cpus"], "memory_mb": cfg["memory_mb"],
            "instance_dir": idir, "data_policy": cfg["data_policy"],
            "blank_data_image_mb": cfg["blank_data_image_mb"],
            "webrtc_device_id": cfg["webrtc_device_id"],
            "crosvm_control_socket": paths.control_socket(inst["id"]),
            "launcher_monitor_socket": paths.monitor_socket(inst["id"]),
            "x_res": cfg["x_res"], "y_res": cfg["y_res"], "dpi": cfg["dpi"],
        }},
    }
    text = json.dumps(config, indent=2, sort_keys=True) + "\n"
    common.write_atomic(os.path.join(idir, "cuttlefish_config.json"), text)
    common.write_atomic(os.path.join(assembly_dir(g), "cuttlefish_config.json"), text)


def validate_launch(g, insts):
    """Checks run_cvd/assemble_cvd would do; raises SimError."""
    n_accounts = int(common.knob_float("num_cvd_accounts", 10))
    for inst in insts:
        if inst["id"] > n_accounts:
            raise SimError("Failed to validate tap interface: cvd-wtap-%02d\n"
                           "Failed to validate tap devices. Try `cvd reset` or `pkill run_cvd` "
                           "and `pkill crosvm`" % inst["id"])
        owners = live_owner_of_id(inst["id"])
        own = inst.get("prev_pid")
        if own in owners:
            raise SimError("Instance directory files in use. Try `cvd reset`? Observed PIDs: %d"
                           % own)
        if owners:
            raise SimError("Failed to validate tap interface: cvd-wtap-%02d (in use by pid %s)\n"
                           "Failed to validate tap devices. Try `cvd reset` or `pkill run_cvd` "
                           "and `pkill crosvm`" % (inst["id"], ",".join(map(str, owners))))
        if common.knob("stale_sockets", "ignore") == "fail" and \
                os.path.exists(paths.monitor_socket(inst["id"])):
            raise SimError("run_cvd: Failed to read a complete exit code\n"
                           "Virtual device failed to boot")


def default_group_links(g):
    """~/cuttlefish_runtime etc. for the default group (HOME unchanged, no selectors)."""
    home = common.reroot(os.environ.get("HOME") or common.real_home())
    os.makedirs(home, exist_ok=True)
    links = {"cuttlefish": os.path.join(home_of(g), "cuttlefish")}
    first = True
    for inst in g["instances"]:
        if first:
            links["cuttlefish_runtime"] = instance_dir(g, inst)
            first = False
        links["cuttlefish_runtime.%d" % inst["id"]] = instance_dir(g, inst)
    for name, target in links.items():
        p = os.path.join(home, name)
        if os.path.islink(p) or os.path.exists(p):
            try:
                os.unlink(p)
            except OSError:
                continue
        os.symlink(target, p)
    try:
        shutil.copy(os.path.join(assembly_dir(g), "cuttlefish_config.json"),
                    os.path.join(home, ".cuttlefish_config.json"))
    except OSError:
        pass
    with db_tx() as db:
        x = find_group(db, g["name"])
        if x is not None:
            x["default_links_home"] = home


class Cancel(Exception):
    pass


def _on_signal(signum, frame):
    raise Cancel(signum)


def cancel_and_abort(group_name, reason):
    with db_tx() as db:
        g = find_group(db, group_name)
        if g:
            for i in g["instances"]:
                i["state"] = "Cancelled"
    err(reason)
    err("Devices may still be running in the background; run `cvd reset` to ensure a "
        "clean state")
    raise Aborted()


def launch(group_name, raw, is_create, selected_names=None):
    """Start every instance of the group; block until booted.  Prints group JSON."""
    check_host()
    snapshot_dir = None
    if raw.get("daemon") is not None and not parse_bool("daemon", raw["daemon"]):
        raise SimError("`cvd start` must always run in daemon mode")
    if raw.get("snapshot_path"):
        snapshot_dir = resolve_out_path(raw["snapshot_path"])
        if not os.path.isfile(os.path.join(snapshot_dir, "snapshot_meta_info.json")):
            raise SimError("Snapshot path \"%s\" is not a valid snapshot: "
                           "snapshot_meta_info.json not found" % raw["snapshot_path"])
    if raw.get("start_webrtc") is not None:
        err("WARNING: --start_webrtc is deprecated")

    with db_tx() as db:
        g = find_group(db, group_name)
        if any(i["state"] in ACTIVE for i in g["instances"]):
            raise SimError("Selected instance group is already started, use `cvd create` to "
                           "create a new one.")
        meta = None
        if snapshot_dir:
            meta = common.read_json(os.path.join(snapshot_dir, "snapshot_meta_info.json"), {})
            want = sorted(x["instance_id"] for x in meta.get("instances", []))
            have = sorted(i["id"] for i in g["instances"])
            if want != have:
                raise SimError("The snapshot was taken of instance id(s) %s but the group has "
                               "id(s) %s; restore needs the same instance ids"
                               % (",".join(map(str, want)), ",".join(map(str, have))))
        cfgs = {}
        for idx, inst in enumerate(g["instances"]):
            if meta:
                saved = {x["instance_id"]: x for x in meta["instances"]}[inst["id"]]
                cfgs[inst["id"]] = saved["config"]
            else:
                cfgs[inst["id"]] = instance_launch_config(raw, idx, g["name"], inst)
        for inst in g["instances"]:
            inst["state"] = "Starting"
            inst["config"] = cfgs[inst["id"]]
            inst["webrtc_device_id"] = cfgs[inst["id"]]["webrtc_device_id"]
            inst["prev_pid"] = inst.get("pid")
            inst["pid"] = None
            inst["monitor_socket"] = paths.monitor_socket(inst["id"])
            inst["suspended"] = False
        g["launched"] = True
        g["start_time_sec"] = int(time.time())
        g_snapshot = json.loads(json.dumps(g))

    old_handlers = {s: signal.signal(s, _on_signal) for s in SIGNALS}
    fail_boot = common.knob_true("fail_boot") or common.consume_one_shot("fail_next_boot")
    hang = common.knob_true("boot_hang")
    boot_seconds = common.knob_float("restore_seconds" if snapshot_dir else "boot_seconds",
                                     0.05 if snapshot_dir else 0.2)
    g = g_snapshot
    try:
        try:
            validate_launch(g, g["instances"])
            for inst in g["instances"]:
                prepare_instance_files(g, inst, inst["config"], snapshot_dir)
        except SimError as e:
            mark_states(group_name, "Boot Failed")
            raise
        pids = {}
        for inst in g["instances"]:
            pids[inst["id"]] = spawn_crosvm(g, inst, inst["config"], boot_seconds, hang,
                                            snapshot_dir)
        with db_tx() as db:
            x = find_group(db, group_name)
            for i in x["instances"]:
                i["pid"] = pids.get(i["id"])
        err("Launching virtual device(s) for group %s: instance(s) %s"
            % (group_name, ",".join(str(i["id"]) for i in g["instances"])))
        # wait for VIRTUAL_DEVICE_BOOT_COMPLETED
        deadline = time.time() + boot_seconds
        while True:
            dead = [i for i in g["instances"] if not common.pid_alive(pids[i["id"]])]
            if dead:
                fail_boot = True
                break
            if fail_boot and time.time() >= deadline:
                break
            if not fail_boot and not hang and all(device_booted(i, pids[i["id"]]) for i in g["instances"]):
                break
            time.sleep(0.02)
        if fail_boot:
            for inst in g["instances"]:
                inst["pid"] = pids[inst["id"]]
                kill_instance_process(inst, sig_kill_only=True)
            mark_states(group_name, "Boot Failed")
            for inst in g["instances"]:
                try:
                    with open(os.path.join(instance_dir(g, inst), "logs", "launcher.log"), "a") as f:
                        f.write("VIRTUAL_DEVICE_BOOT_FAILED\n")
                except OSError:
                    pass
            raise SimError("run_cvd: Virtual device failed to boot\n"
                           "Virtual device failed to boot")
        err("Virtual device booted successfully")
        mark_states(group_name, "Running")
        if common.knob_true("cancel_after_boot"):
            raise Cancel(signal.SIGTERM)
    except Cancel as c:
        cancel_and_abort(group_name, "Received signal %d; cancelling the start of group %s"
                         % (c.args[0], group_name))
    finally:
        for s, h in old_handlers.items():
            signal.signal(s, h)

    db = db_read()
    g = find_group(db, group_name)
    if g.get("default_group") and not g.get("custom_home"):
        default_group_links(g)
    if sys.stdin.isatty():
        out("group:%s|instance(s):%s\n" % (g["name"], ",".join(str(i["id"]) for i in g["instances"])))
    else:
        out(common.styled(group_json(g)))


def device_booted(inst, pid):
    st = common.read_json(paths.device_file(paths.adb_port(inst["id"])), None)
    return bool(st and st.get("pid") == pid and st.get("boot_completed_at")
                and time.time() >= st["boot_completed_at"])


def mark_states(group_name, state, only_ids=None):
    with db_tx() as db:
        g = find_group(db, group_name)
        if g:
            for i in g["instances"]:
                if only_ids is None or i["id"] in only_ids:
                    i["state"] = state
                    if state in ("Stopped", "Boot Failed"):
                        i["suspended"] = False


def resolve_out_path(p):
    """Paths the driver asks cvd to write (snapshot dirs) are re-rooted under
    $CVD_SIM_ROOT unless CVD_SIM_ALLOW_OUTSIDE_WRITES=1."""
    p = os.path.abspath(p)
    if common.knob_true("allow_outside_writes"):
        return p
    return common.reroot(p)


# ---------------------------------------------------------------- commands

def cmd_create(sel, args):
    spec = CREATE_FLAGS
    raw, pos = parse_flags(args, spec, "create")
    if pos:
        raise SimError("cvd create: unexpected argument \"%s\"" % pos[0])
    if raw.get("config_file"):
        raise SimError("--config_file (cvd load mode) is not simulated")
    check_host()
    if sel.group is not None and not GROUP_RE.match(sel.group):
        raise SimError("Invalid group name \"%s\": it must match [A-Za-z_][A-Za-z_0-9]*"
                       % sel.group)
    names = sel.instances
    for n in names or []:
        if not INSTANCE_RE.match(n):
            raise SimError("Invalid instance name \"%s\": it must be [A-Za-z0-9_]+ pieces "
                           "joined by '-'" % n)
    if names and len(set(names)) != len(names):
        raise SimError("Instance names must be unique within a group")
    snapshot_meta = None
    if raw.get("snapshot_path"):
        sdir = resolve_out_path(raw["snapshot_path"])
        snapshot_meta = common.read_json(os.path.join(sdir, "snapshot_meta_info.json"), None)
        if snapshot_meta is None:
            raise SimError("Snapshot path \"%s\" is not a valid snapshot: "
                           "snapshot_meta_info.json not found" % raw["snapshot_path"])
    n = None
    if raw.get("num_instances"):
        try:
            n = int(raw["num_instances"])
        except ValueError:
            raise SimError("ERROR: illegal value '%s' specified for int32 flag 'num_instances'"
                           % raw["num_instances"])
        if n < 1:
            raise SimError("--num_instances must be at least 1")
    if names and n is not None and n != len(names):
        raise SimError("--num_instances=%d does not match the %d names in --instance_name"
                       % (n, len(names)))
    snap_ids = None
    if snapshot_meta:
        snap_ids = sorted(x["instance_id"] for x in snapshot_meta["instances"])
        if n is not None and n != len(snap_ids):
            raise SimError("--num_instances does not match the snapshot")
        n = len(snap_ids)
    if n is None:
        n = len(names) if names else 1
    base = None
    if raw.get("base_instance_num"):
        try:
            base = int(raw["base_instance_num"])
        except ValueError:
            raise SimError("ERROR: illegal value '%s' for 'base_instance_num'"
                           % raw["base_instance_num"])
        if base < 1:
            raise SimError("--base_instance_num must be at least 1")
    host_path = raw.get("host_path") or os.environ.get("ANDROID_HOST_OUT") or os.getcwd()
    products = (raw.get("product_path") or os.environ.get("ANDROID_PRODUCT_OUT") or host_path).split(",")
    for p in [host_path] + products:
        if not os.path.isdir(p):
            raise SimError("\"%s\" does not exist or is not a directory" % p)
    # validate launch flags early (gflags errors come before any state change)
    dummy = [{"id": 1, "name": "x"}] * n
    if not snapshot_meta:
        for idx in range(n):
            instance_launch_config(raw, idx, "g", dummy[idx])

    home_env = os.environ.get("HOME") or common.real_home()
    custom_home = os.path.abspath(home_env) != os.path.abspath(common.real_home())

    with common.file_lock(os.path.join(paths.lock_dir(), ".allocation.lock")):
        with db_tx() as db:
            gname = sel.group
            if gname is None:
                k = 1
                while find_group(db, "cvd_%d" % k):
                    k += 1
                gname = "cvd_%d" % k
            elif find_group(db, gname):
                raise SimError("Group name \"%s\" is already in use" % gname)
            owners = {i["id"]: (x["name"], i["name"]) for x in db["instance_groups"]
                      for i in x["instances"]}
            if snap_ids or base is not None:
                ids = snap_ids if snap_ids else list(range(base, base + n))
                if base is not None and snap_ids and snap_ids[0] != base:
                    raise SimError("--base_instance_num=%d does not match the snapshot's "
                                   "instance id %d" % (base, snap_ids[0]))
                for i in ids:
                    if i in owners:
                        raise SimError("New instance conflicts with existing instance: %s/%s "
                                       "with id %d" % (owners[i][0], owners[i][1], i))
                    if lock_state(i) == "I":
                        raise SimError("Instance id %d is in use: lock file %s is marked in use "
                                       "(try `cvd reset`)" % (i, paths.lock_file(i)))
            else:
                ids, k = [], 1
                while len(ids) < n:
                    if k not in owners and lock_state(k) != "I":
                        ids.append(k)
                    k += 1
            if names is None:
                names = [str(i) for i in ids]
            base_dir = os.path.join(paths.user_dir(), str(time.time_ns()))
            os.makedirs(base_dir)
            home_link = os.path.join(base_dir, "home")
            if custom_home:
                target = common.reroot(home_env)
                os.makedirs(target, exist_ok=True)
                os.symlink(target, home_link)
            else:
                os.makedirs(home_link)
            art = os.path.join(base_dir, "artifacts")
            os.makedirs(art)
            os.symlink(os.path.abspath(host_path), os.path.join(art, "host_tools"))
            for k, p in enumerate(products):
                os.symlink(os.path.abspath(p), os.path.join(art, str(k)))
            for i in ids:
                set_lock(i, "I")
            g = {"name": gname, "base_dir": base_dir, "home_directory": home_link,
                 "host_artifacts_path": os.path.abspath(host_path),
                 "product_out_path": ",".join(os.path.abspath(p) for p in products),
                 "start_time_sec": 0, "launched": False, "custom_home": custom_home,
                 "default_group": not sel.given(),
                 "instances": [{"id": i, "name": nm, "state": "Preparing",
                                "webrtc_device_id": "%s-%s-%d" % (gname, nm, i), "pid": None}
                               for i, nm in zip(ids, names)]}
            db["instance_groups"].append(g)
    for inst in g["instances"]:
        os.makedirs(instance_dir(g, inst), exist_ok=True)
    os.makedirs(assembly_dir(g), exist_ok=True)
    os.makedirs(os.path.join(home_of(g), "metrics"), exist_ok=True)
    mark_states(gname, "Stopped")
    if parse_bool("nostart", raw.get("nostart") or "false"):
        g = find_group(db_read(), gname)
        if sys.stdin.isatty():
            out("group:%s|instance(s):%s\n" % (gname, ",".join(str(i) for i in ids)))
        else:
            out(common.styled(group_json(g)))
        return 0
    launch(gname, raw, True)
    return 0


def cmd_start(sel, args):
    raw, pos = parse_flags(args, LAUNCH_FLAGS, "start")
    if "config_file" in [a.lstrip("-").split("=")[0] for a in args]:
        raise SimError("`cvd start` does not accept --config_file; use `cvd create`")
    db = db_read()
    g, _ = select_group(db, sel, "start", args)
    launch(g["name"], raw, False)
    return 0


def stop_instances(g, insts, wait_for_launcher=5.0):
    """Asks each instance's launcher to stop.  Returns list of error strings."""
    errors = []
    stopped = []
    for inst in insts:
        if inst["state"] not in ACTIVE:
            continue
        sock = inst.get("monitor_socket") or paths.monitor_socket(inst["id"])
        try:
            r = paths.unix_request(sock, {"cmd": "stop"}, timeout=wait_for_launcher)
            if not r.get("ok"):
                raise OSError(r.get("error"))
        except (OSError, ValueError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            errors.append("Failed to connect to instance monitor socket (%s): %s"
                          % (sock, reason or "Connection refused"))
            continue
        pid = inst.get("pid")
        deadline = time.time() + wait_for_launcher
        while pid and common.pid_alive(pid) and time.time() < deadline:
            time.sleep(0.02)
        kill_instance_process(inst)
        stopped.append(inst["id"])
    if stopped:
        with db_tx() as db:
            x = find_group(db, g["name"])
            for i in x["instances"]:
                if i["id"] in stopped:
                    i["state"] = "Stopped"
                    i["pid"] = None
                    i["suspended"] = False
    return errors


def cmd_stop(sel, args):
    raw, pos = parse_flags(args, {"wait_for_launcher": ("int", "5"),
                                  "clear_instance_dirs": ("bool", "false")}, "stop")
    db = db_read()
    g, _ = select_group(db, sel, "stop", args)
    insts = g["instances"]  # released cvd stops the whole group
    if not any(i["state"] in ACTIVE for i in insts):
        raise SimError("Selected group is not running")
    errors = stop_instances(g, insts, float(raw.get("wait_for_launcher") or 5))
    if errors:
        raise SimError("\n".join(errors))
    if parse_bool("clear_instance_dirs", raw.get("clear_instance_dirs") or "false"):
        for inst in insts:
            shutil.rmtree(instance_dir(g, inst), ignore_errors=True)
    err("Successfully stopped group %s" % g["name"])
    return 0


def remove_group_files(g):
    shutil.rmtree(g["base_dir"], ignore_errors=True)
    home = g.get("default_links_home")
    if home:
        for name in os.listdir(home) if os.path.isdir(home) else []:
            p = os.path.join(home, name)
            if os.path.islink(p) and os.readlink(p).startswith(g["base_dir"] + os.sep):
                os.unlink(p)
    for inst in g["instances"]:
        release_lock(inst["id"])


def cmd_rm(sel, args):
    if args:
        raise SimError("cvd rm: unexpected argument \"%s\"; selectors go before the subcommand"
                       % args[0])
    db = db_read()
    g, _ = select_group(db, sel, "rm", args)
    for e in stop_instances(g, g["instances"]):
        err("Failed to stop instance group %s: %s" % (g["name"], e))
    with db_tx() as db:
        x = find_group(db, g["name"])
        if x is not None:
            db["instance_groups"].remove(x)
    remove_group_files(g)
    return 0


def cmd_clear(sel, args):
    db = db_read()
    for g in db["instance_groups"]:
        for e in stop_instances(g, g["instances"]):
            err(e)
    with db_tx() as db:
        groups = db["instance_groups"]
        db["instance_groups"] = []
    for g in groups:
        for inst in g["instances"]:
            release_lock(inst["id"])
    err("Stopped all known instances")
    return 0


def cmd_reset(sel, args):
    yes = any(a in ("-y", "--yes", "-yes") for a in args)
    clean = "--clean-runtime-dir" in args or "--clean_runtime_dir" in args
    if not yes:
        out("Are you sure to reset all the devices, runtime files, and the cvd server if any "
            "[y/n]? ")
        line = sys.stdin.readline()
        if line.strip().lower() not in ("y", "yes"):
            out("\nFor more details:   cvd help reset\n")
            return 0
    db = db_read()
    for g in db["instance_groups"]:
        stop_instances(g, g["instances"], 2.0)
    for pid in common.sim_crosvm_pids():
        if "--cfsim_uid=%d" % common.uid() in common.cmdline(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    with db_tx() as db:
        groups = db["instance_groups"]
        db["instance_groups"] = []
    for name in os.listdir(paths.lock_dir()):
        if name.startswith("local-instance-") and name.endswith(".lock"):
            try:
                os.unlink(os.path.join(paths.lock_dir(), name))
            except OSError:
                pass
    if clean:
        for g in groups:
            shutil.rmtree(g["base_dir"], ignore_errors=True)
        shutil.rmtree(paths.uds_dir(), ignore_errors=True)
        shutil.rmtree(paths.env_dir(), ignore_errors=True)
    err("Stopped all known instances")
    return 0


def cmd_fleet(sel, args):
    if args and not common.knob_true("fleet_ignore_args"):
        raise SimError("cvd fleet: unexpected argument \"%s\" (fleet takes no arguments)"
                       % args[0])
    db = db_read()
    out(common.styled({"groups": [group_json(g) for g in db["instance_groups"]]}))
    return 0


def cmd_status(sel, args):
    raw, pos = parse_flags(args, {"print": ("bool", "false"), "wait_for_launcher": ("int", "5"),
                                  "instance_name": ("str", ""), "all_instances": ("bool", "false"),
                                  "verbosity": ("str", "")}, "status")
    if raw.get("instance_name"):
        sel.instances = raw["instance_name"].split(",")
    db = db_read()
    g, insts = select_group(db, sel, "status", args)
    timeout = float(raw.get("wait_for_launcher") or 5)
    objs = []
    unreachable = []
    for inst in insts:
        j = instance_json(g, inst, probe=False)
        if inst["state"] == "Running":
            j2 = instance_json(g, inst, probe=True) if probe_instance(g, inst, timeout) else None
            if j2 is None or j2["status"] == "Unreachable":
                j["status"] = "Unreachable"
                j["warning"] = "cvd status failed"
                unreachable.append(inst["id"])
            else:
                j = j2
        objs.append(j)
    if unreachable:
        mark_states(g["name"], "Unreachable", unreachable)
    if parse_bool("print", raw.get("print") or "false"):
        if sel.instances:
            out(common.styled(objs))
        else:
            gj = group_json(g, probe=False)
            gj["instances"] = objs
            out(common.styled(gj))
    return 0


def _snapshot_util_line(g, insts, sub, extra=""):
    return ("%s/bin/snapshot_util_cvd --subcmd=%s --instance_nums=%s --wait_for_launcher=30%s"
            % (g["host_artifacts_path"], sub, ",".join(str(i["id"]) for i in insts), extra))


def _ctl_all(g, insts, msg):
    for inst in insts:
        sock = inst.get("monitor_socket") or paths.monitor_socket(inst["id"])
        try:
            r = paths.unix_request(sock, msg, timeout=30)
        except (OSError, ValueError) as e:
            raise SimError("Failed to connect to instance monitor socket (%s): %s"
                           % (sock, getattr(e, "strerror", None) or e))
        if not r.get("ok"):
            raise SimError("snapshot_util_cvd failed for instance %d: crosvm %s --full: %s"
                           % (inst["id"], msg["cmd"], r.get("error")))


def _running(g, verb, args):
    if not any(i["state"] in ACTIVE for i in g["instances"]):
        raise SimError("Selected group is not running")


def set_suspended(g, value):
    with db_tx() as db:
        x = find_group(db, g["name"])
        for i in x["instances"]:
            i["suspended"] = value


def cmd_suspend_resume(verb):
    def run(sel, args):
        parse_flags(args, {"wait_for_launcher": ("int", "30")}, verb)
        db = db_read()
        g, _ = select_group(db, sel, verb, args)
        _running(g, verb, args)
        insts = g["instances"]
        err(_snapshot_util_line(g, insts, verb))
        _ctl_all(g, insts, {"cmd": verb})
        set_suspended(g, verb == "suspend")
        return 0
    return run


def cmd_snapshot_take(sel, args):
    raw, pos = parse_flags(args, {"snapshot_path": ("str", ""), "force": ("bool", "false"),
                                  "auto_suspend": ("bool", "false"),
                                  "cleanup_snapshot_path": ("bool", "true"),
                                  "wait_for_launcher": ("int", "30")}, "snapshot_take")
    db = db_read()
    g, _ = select_group(db, sel, "snapshot_take", args)
    if not raw.get("snapshot_path"):
        raise SimError("--snapshot_path is required")
    _running(g, "snapshot_take", args)
    insts = g["instances"]
    sdir = resolve_out_path(raw["snapshot_path"])
    force = parse_bool("force", raw.get("force") or "false")
    auto = parse_bool("auto_suspend", raw.get("auto_suspend") or "false")
    cleanup = parse_bool("cleanup_snapshot_path", raw.get("cleanup_snapshot_path") or "true")
    if os.path.lexists(sdir):
        if not force:
            raise SimError("Snapshot directory \"%s\" already exists; use --force to delete it"
                           % raw["snapshot_path"])
        if os.path.isdir(sdir) and not os.path.islink(sdir):
            shutil.rmtree(sdir)
        else:
            os.unlink(sdir)
    err(_snapshot_util_line(g, insts, "snapshot_take", " --snapshot_path=" + raw["snapshot_path"]))
    suspended_here = False
    try:
        if auto:
            _ctl_all(g, insts, {"cmd": "suspend"})
            suspended_here = True
        os.makedirs(sdir)
        entries = []
        for inst in insts:
            idir = os.path.join(sdir, "instance_%d" % inst["id"])
            _ctl_all(g, [inst], {"cmd": "snapshot_take", "dir": os.path.join(idir, "guest_vm")})
            src = data_dir(g, inst)
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(idir, "userdata"), symlinks=True)
            entries.append({"instance_id": inst["id"], "instance_name": inst["name"],
                            "guest_snapshot_dir": "instance_%d/guest_vm" % inst["id"],
                            "config": inst.get("config", {})})
        meta = {"snapshot_version": 1, "group_name": g["name"], "taken_at": int(time.time()),
                "cvd_version": common.VERSION, "instances": entries}
        common.write_atomic(os.path.join(sdir, "snapshot_meta_info.json"),
                            json.dumps(meta, indent=2, sort_keys=True) + "\n", mode=0o644)
    except BaseException:
        if cleanup:
            shutil.rmtree(sdir, ignore_errors=True)
        if suspended_here:
            try:
                _ctl_all(g, insts, {"cmd": "resume"})
            except SimError:
                pass
        raise
    if suspended_here:
        _ctl_all(g, insts, {"cmd": "resume"})
    return 0


def cmd_version(sel, args):
    if "--json" in args:
        out(common.styled({"package_version": common.VERSION,
                           "version_control_id": common.VCS_ID}))
    else:
        out("version: %s\nVCS: %s\n" % (common.VERSION, common.VCS_ID))
    return 0


def cmd_help(sel, args):
    out("Cuttlefish Virtual Device (CVD) CLI (simulated).\n\n"
        "usage: cvd [selector flags] <command> [args]\n\n"
        "Commands: clear create fleet help remove reset resume rm snapshot_take start "
        "status stop suspend version\n")
    return 0


COMMANDS = {
    "create": cmd_create, "start": cmd_start, "stop": cmd_stop, "rm": cmd_rm,
    "remove": cmd_rm, "clear": cmd_clear, "reset": cmd_reset, "fleet": cmd_fleet,
    "status": cmd_status, "suspend": cmd_suspend_resume("suspend"),
    "resume": cmd_suspend_resume("resume"), "snapshot_take": cmd_snapshot_take,
    "version": cmd_version, "help": cmd_help,
}


def parse_selectors(argv):
    sel = Selector()
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        a = argv[i]
        body = a.lstrip("-")
        name, val = (body.split("=", 1) + [None])[:2]
        if name in ("group_name", "instance_name"):
            if val is None:
                if i + 1 >= len(argv):
                    raise SimError("ERROR: flag '%s' is missing its argument" % name)
                i += 1
                val = argv[i]
            if name == "group_name":
                sel.group = val
            else:
                sel.instances = [x for x in val.split(",")]
        elif name in ("verbosity", "v"):
            if val is None:
                i += 1
        elif name in ("help", "h"):
            return sel, ["help"]
        else:
            raise SimError("ERROR: unknown selector flag '%s' (selector flags are "
                           "--group_name and --instance_name)" % name)
        i += 1
    return sel, argv[i:]


def run(argv):
    sel, rest = parse_selectors(argv)
    if not rest:
        return cmd_help(sel, [])
    verb, args = rest[0], rest[1:]
    fn = COMMANDS.get(verb)
    if fn is None:
        raise SimError("Unknown command: \"%s\" (see `cvd help`)" % verb)
    if sel.group is not None and verb not in ("create",) and not GROUP_RE.match(sel.group):
        # real cvd just finds no such group
        pass
    return fn(sel, args)


def _log_extra(argv):
    try:
        sel, rest = parse_selectors(argv)
        return {"group_name": sel.group, "instance_name": sel.instances,
                "subcommand": rest[0] if rest else None}
    except SimError:
        return {}


def main(argv):
    common.sim_root()
    if not sys.stdin.isatty():
        t = time.time()
        sys.stderr.write("I%s.%06d %7d main.cc:145] version: %s | VCS: %s\n"
                         % (time.strftime("%m%d %H:%M:%S", time.localtime(t)),
                            int((t % 1) * 1e6), os.getpid(), common.VERSION, common.VCS_ID))
    code = 255
    try:
        code = run(argv) or 0
    except SimError as e:
        err(e.message)
        if not sys.stdin.isatty():
            err(BUG_FOOTER)
        code = e.code
    except Aborted:
        code = 134
        common.log_request("cvd", argv, code, _log_extra(argv))
        sys.stdout.flush()
        sys.stderr.flush()
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.abort()
    finally:
        if code != 134:
            common.log_request("cvd", argv, code, _log_extra(argv))
    return code
