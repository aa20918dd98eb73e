"""Where the simulated cvd keeps things (all re-rooted under $CVD_SIM_ROOT)."""

import contextlib
import glob
import os
import socket

from . import common


def cvd_root():
    """/var/tmp/cvd, falling back to /tmp/cvd only if that has lock files and
    /var/tmp/cvd does not exist (reference §4)."""
    var = common.reroot("/var/tmp/cvd")
    tmp = common.reroot("/tmp/cvd")
    if not os.path.isdir(var) and glob.glob(os.path.join(tmp, "lock", "local-instance-*.lock")):
        return tmp
    if not os.path.isdir(var):
        os.makedirs(var, exist_ok=True)
        os.chmod(var, 0o777)
    return var


def user_dir():
    d = os.path.join(cvd_root(), str(common.uid()))
    if not os.path.isdir(d):
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o750)
    return d


def db_path():
    return os.path.join(user_dir(), "instance_database.json")


def lock_dir():
    d = os.path.join(cvd_root(), "lock")
    os.makedirs(d, exist_ok=True)
    return d


def lock_file(instance_id):
    return os.path.join(lock_dir(), "local-instance-%d.lock" % instance_id)


def uds_dir():
    return common.reroot("/tmp/cf_avd_%d" % common.uid())


def env_dir():
    return common.reroot("/tmp/cf_env_%d" % common.uid())


def monitor_socket(instance_id):
    return os.path.join(uds_dir(), "cvd-%d" % instance_id, "launcher_monitor.sock")


def control_socket(instance_id):
    return os.path.join(uds_dir(), "cvd-%d" % instance_id, "internal", "crosvm_control.sock")


def devices_dir():
    d = os.path.join(common.sim_root(), "sim", "devices")
    os.makedirs(d, exist_ok=True)
    return d


def device_file(port):
    return os.path.join(devices_dir(), "%d.json" % port)


def adb_port(instance_id):
    return common.ADB_BASE_PORT + instance_id - 1


@contextlib.contextmanager
def short_unix_path(path):
    """AF_UNIX paths are limited to 107 bytes; reach long ones through
    /proc/self/fd/<dirfd>/<name>."""
    if common.short_sock_path(path):
        yield path
        return
    fd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield "/proc/self/fd/%d/%s" % (fd, os.path.basename(path))
    finally:
        os.close(fd)


def unix_request(path, msg, timeout=5.0):
    from . import crosvm
    with short_unix_path(path) as p:
        return crosvm.request(p, msg, timeout=timeout)


def bind_unix(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with short_unix_path(path) as p:
        s.bind(p)
    s.listen(16)
    return s
