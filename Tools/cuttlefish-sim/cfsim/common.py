"""Shared plumbing for the cvd / adb / crosvm simulators.

Everything the simulator writes lives under $CVD_SIM_ROOT.  Paths the real
tools would use (/var/tmp/cvd, /tmp/cf_avd_<uid>, $HOME, ...) are re-rooted
under it with `reroot()`.
"""

import contextlib
import errno
import fcntl
import json
import os
import pwd
import signal
import sys
import time

VERSION = "1.55.2"
VCS_ID = "9b10c27e4d0c1f2a8b7d6e5f4a3b2c1d0e9f8a7b"
SIM_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CROSVM_BIN = os.path.join(SIM_DIR, "crosvm")
ADB_BASE_PORT = 6520


class SimError(Exception):
    """Fatal error of a simulated command (exit status and stderr text)."""

    def __init__(self, message, code=255):
        super().__init__(message)
        self.message = message
        self.code = code


# ---------------------------------------------------------------- root / env

def sim_root():
    root = os.environ.get("CVD_SIM_ROOT")
    if not root:
        sys.stderr.write("cuttlefish simulator: CVD_SIM_ROOT is not set; refusing to run "
                         "(all simulator state lives under that directory)\n")
        sys.exit(2)
    root = os.path.abspath(root)
    os.makedirs(root, exist_ok=True)
    return root


def reroot(path):
    """Map an absolute host path into the simulator root (idempotent)."""
    root = sim_root()
    path = os.path.abspath(path)
    if path == root or path.startswith(root + os.sep):
        return path
    return root + path


def uid():
    v = os.environ.get("CVD_SIM_UID")
    return int(v) if v else os.getuid()


def real_home():
    try:
        return pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return "/root" if os.getuid() == 0 else "/home/user"


def knob(name, default=None):
    """A knob: env CVD_SIM_<NAME>, else the file $CVD_SIM_ROOT/knobs/<name>."""
    env = os.environ.get("CVD_SIM_" + name.upper())
    if env is not None:
        return env
    path = os.path.join(sim_root(), "knobs", name.lower())
    try:
        with open(path) as f:
            return f.read().strip() or "1"
    except OSError:
        return default


def knob_float(name, default):
    v = knob(name)
    try:
        return float(v) if v is not None else default
    except ValueError:
        return default


def knob_true(name):
    v = knob(name)
    return v is not None and v.lower() not in ("", "0", "false", "no", "off")


def consume_one_shot(name):
    """One-shot knob file $CVD_SIM_ROOT/knobs/<name> holding a count (default 1).
    Returns True (and decrements / removes it) if it was armed."""
    path = os.path.join(sim_root(), "knobs", name)
    with file_lock(os.path.join(sim_root(), "sim", "knob-%s.lock" % name)):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            return False
        try:
            n = int(text) if text else 1
        except ValueError:
            n = 1
        if n <= 1:
            os.unlink(path)
        else:
            write_atomic(path, "%d\n" % (n - 1))
        return n >= 1


def in_list_knob(name, value):
    v = knob(name)
    if not v:
        return False
    items = [x.strip() for x in v.split(",")]
    return "all" in items or "1" in items or value in items


# ---------------------------------------------------------------- files

@contextlib.contextmanager
def file_lock(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def write_atomic(path, text, mode=0o640):
    d = os.path.dirname(path)
    os.makedirs(d, exist_ok=True)
    tmp = os.path.join(d, ".%s.tmp.%d" % (os.path.basename(path), os.getpid()))
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def read_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


# ---------------------------------------------------------------- jsoncpp

def styled(value):
    """jsoncpp Value::toStyledString(): TAB indent, sorted keys, `"k" : v`,
    non-empty arrays/objects open on their own line, trailing newline."""
    out = []
    st = {"indent": "", "indented": True}

    def wi(s):
        if not st["indented"]:
            out.append("\n" + st["indent"])
        out.append(s)
        st["indented"] = False

    def val(v):
        if isinstance(v, dict):
            if not v:
                out.append("{}")
                return
            wi("{")
            st["indent"] += "\t"
            keys = sorted(v)
            for i, k in enumerate(keys):
                wi(json.dumps(str(k)))
                out.append(" : ")
                val(v[k])
                if i != len(keys) - 1:
                    out.append(",")
            st["indent"] = st["indent"][:-1]
            wi("}")
        elif isinstance(v, (list, tuple)):
            if not v:
                out.append("[]")
                return
            wi("[")
            st["indent"] += "\t"
            for i, c in enumerate(v):
                if not st["indented"]:
                    out.append("\n" + st["indent"])
                st["indented"] = True
                val(c)
                st["indented"] = False
                if i != len(v) - 1:
                    out.append(",")
            st["indent"] = st["indent"][:-1]
            wi("]")
        elif v is None:
            out.append("null")
        elif v is True:
            out.append("true")
        elif v is False:
            out.append("false")
        elif isinstance(v, int):
            out.append(str(v))
        elif isinstance(v, float):
            out.append(repr(v))
        else:
            out.append(json.dumps(str(v)))

    val(value)
    return "".join(out) + "\n"


# ---------------------------------------------------------------- processes

def pid_alive(pid):
    if not pid:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
        state = stat.rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):
            return False
    except (OSError, IndexError):
        return False
    return True


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def is_sim_crosvm(pid, instance_id=None):
    """True if pid is a crosvm stand-in started under this CVD_SIM_ROOT."""
    if not pid_alive(pid):
        return False
    args = cmdline(pid)
    if not any(a.endswith("/crosvm") for a in args[:2]) or "run" not in args:
        return False
    if "--cfsim_root=" + sim_root() not in args:
        return False
    if instance_id is not None and "--cfsim_instance=%d" % instance_id not in args:
        return False
    return True


def sim_crosvm_pids():
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit() and is_sim_crosvm(int(name)):
            out.append(int(name))
    return out


def kill_pid(pid, grace=2.0):
    """SIGTERM then SIGKILL one pid (only pids the simulator recorded)."""
    if not pid_alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.time() + grace
    while time.time() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.time() + 2
    while time.time() < deadline and pid_alive(pid):
        time.sleep(0.02)


# ---------------------------------------------------------------- request log

LOGGED_ENV = ("HOME", "CUTTLEFISH_INSTANCE", "CUTTLEFISH_INSTANCE_NUM", "ANDROID_SERIAL",
              "ANDROID_HOST_OUT", "ANDROID_PRODUCT_OUT", "CVD_SIM_UID")


def log_request(tool, argv, code, extra=None):
    try:
        root = sim_root()
        env = {k: os.environ[k] for k in LOGGED_ENV if k in os.environ}
        env.update({k: v for k, v in os.environ.items()
                    if k.startswith("CVD_SIM_") and k != "CVD_SIM_ROOT"})
        rec = {"ts": time.time(), "tool": tool, "argv": list(argv), "env": env,
               "cwd": os.getcwd(), "pid": os.getpid(), "exit": code,
               "stdin_tty": _isatty(0)}
        if extra:
            rec.update(extra)
        line = (json.dumps(rec, sort_keys=True) + "\n").encode()
        path = os.path.join(root, "requests.log")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line)
        finally:
            os.close(fd)
    except Exception:  # the log must never change the simulated behaviour
        pass


def _isatty(fd):
    try:
        return os.isatty(fd)
    except OSError:
        return False


def short_sock_path(path):
    """AF_UNIX paths are limited to 107 bytes."""
    return len(path.encode()) <= 107


def errno_name(e):
    return errno.errorcode.get(e.errno, str(e.errno))
