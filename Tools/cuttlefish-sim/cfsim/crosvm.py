"""The crosvm stand-in.

`crosvm run ...` is the long-lived per-instance process (it also plays
run_cvd: it serves launcher_monitor.sock).  The other verbs are the crosvm
control-socket CLI (`balloon`, `balloon_stats`, `suspend`, `resume`,
`snapshot take`, `powerbtn`, `stop`).

Wire protocol between the simulator pieces (private to the simulator): one
JSON object per line over AF_UNIX SOCK_STREAM, one JSON reply line.
"""

import json
import os
import select
import signal
import socket
import sys
import time

from . import common, paths

MiB = 1024 * 1024


# ---------------------------------------------------------------- client side

def request(sock_path, msg, timeout=5.0):
    """Send one request; returns the reply dict.  Raises OSError on failure."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock_path)
        s.sendall((json.dumps(msg) + "\n").encode())
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    if not buf:
        raise ConnectionResetError("no reply")
    return json.loads(buf.decode())


# ---------------------------------------------------------------- the VM process

class Vm:
    def __init__(self, opts):
        self.o = opts
        self.devfile = opts["cfsim_devfile"]
        self.boot_seconds = float(opts.get("cfsim_boot_seconds", "0.2"))
        self.hang = opts.get("cfsim_boot_hang") == "1"
        self.started = time.time()
        self.booted_at = None if self.hang else self.started + self.boot_seconds
        self.boot_logged = False
        self.suspended = False
        self.memory_mb = int(opts.get("mem", "4096"))
        self.balloon = 0
        self.listeners = {}
        self.log_dir = opts["cfsim_logdir"]

    def log(self, name, line):
        try:
            with open(os.path.join(self.log_dir, name), "a") as f:
                f.write(line + "\n")
        except OSError:
            pass

    def write_devfile(self):
        st = {
            "pid": os.getpid(),
            "instance_id": int(self.o["cfsim_instance"]),
            "group": self.o.get("cfsim_group"),
            "adb_port": int(self.o["cfsim_port"]),
            "started_at": self.started,
            "boot_completed_at": self.booted_at,
            "suspended": self.suspended,
            "instance_dir": self.o["cfsim_instance_dir"],
            "data_dir": self.o["cfsim_data_dir"],
            "memory_mb": self.memory_mb,
            "cpus": int(self.o.get("cpus", "4")),
            "control_socket": self.o.get("socket"),
            "launcher_monitor_socket": self.o.get("cfsim_monitor"),
        }
        common.write_atomic(self.devfile, json.dumps(st, indent=1, sort_keys=True) + "\n")

    def bind(self, path, kind):
        if not path:
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            os.unlink(path)
        except OSError:
            pass
        s = paths.bind_unix(path)
        self.listeners[s.fileno()] = (s, kind, path)

    def cleanup(self):
        for s, _, path in self.listeners.values():
            try:
                s.close()
                os.unlink(path)
            except OSError:
                pass
        try:
            os.unlink(self.devfile)
        except OSError:
            pass

    def booted(self):
        return self.booted_at is not None and time.time() >= self.booted_at

    def handle(self, msg, kind):
        cmd = msg.get("cmd")
        if cmd == "status":
            return {"ok": True, "booted": self.booted(), "suspended": self.suspended,
                    "pid": os.getpid()}
        if cmd in ("stop", "powerbtn"):
            return {"ok": True, "exit": True}
        if cmd == "suspend":
            if self.o.get("cfsim_virtiofs") == "1":
                return {"ok": False, "error": "virtio_sleep not implemented for virtio-fs"}
            self.suspended = True
            self.write_devfile()
            self.log("launcher.log", "Suspended the device")
            return {"ok": True}
        if cmd == "resume":
            self.suspended = False
            self.write_devfile()
            self.log("launcher.log", "Resumed the device")
            return {"ok": True}
        if cmd == "snapshot_take":
            if not self.suspended:
                return {"ok": False, "error": "the VM must be suspended before a snapshot "
                                              "is taken (crosvm suspend --full)"}
            d = msg["dir"]
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "memory.bin"), "w") as f:
                f.write("simulated guest memory of instance %s\n" % self.o["cfsim_instance"])
            state = {"instance_id": int(self.o["cfsim_instance"]), "memory_mb": self.memory_mb,
                     "balloon_bytes": self.balloon, "taken_at": time.time()}
            with open(os.path.join(d, "vm_state.json"), "w") as f:
                json.dump(state, f, indent=2, sort_keys=True)
            return {"ok": True}
        if cmd == "balloon":
            if self.o.get("cfsim_balloon") != "1":
                return {"ok": False, "error": "balloon device is not enabled"}
            size = int(msg["bytes"])
            self.balloon = min(max(0, size - size % 4096), self.memory_mb * MiB)
            return {"ok": True}
        if cmd == "balloon_stats":
            if self.o.get("cfsim_balloon") != "1":
                return {"ok": False, "error": "balloon device is not enabled"}
            total = self.memory_mb * MiB - 200 * MiB
            avail = max(0, total - self.balloon - 1200 * MiB)
            stats = {
                "swap_in": 0, "swap_out": 0, "major_faults": 812, "minor_faults": 301220,
                "free_memory": max(0, avail - 600 * MiB), "total_memory": total,
                "available_memory": avail, "disk_caches": 600 * MiB,
                "hugetlb_allocations": 0, "hugetlb_failures": 0,
                "shared_memory": None, "unevictable_memory": None,
            }
            return {"ok": True, "stats": stats, "balloon_actual": self.balloon}
        return {"ok": False, "error": "unknown request %r" % cmd}

    def serve_one(self, lsock, kind):
        try:
            conn, _ = lsock.accept()
        except OSError:
            return False
        conn.settimeout(2)
        exit_after = False
        try:
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                buf += chunk
            try:
                msg = json.loads(buf.decode() or "{}")
                reply = self.handle(msg, kind)
            except Exception as e:  # malformed request
                reply = {"ok": False, "error": str(e)}
            exit_after = bool(reply.pop("exit", False))
            if exit_after:
                self.log("launcher.log", "Stop requested; shutting down")
                self.cleanup()
            conn.sendall((json.dumps(reply) + "\n").encode())
        except OSError:
            pass
        finally:
            conn.close()
        return exit_after

    def run(self):
        self.bind(self.o.get("cfsim_monitor"), "monitor")
        self.bind(self.o.get("socket"), "control")
        self.write_devfile()
        self.log("launcher.log", "crosvm (simulated) pid %d started for instance %s"
                 % (os.getpid(), self.o["cfsim_instance"]))
        self.log("kernel.log", "[    0.000000] Linux version 6.6.0-android15 (simulated)")
        while True:
            if not self.boot_logged and self.booted():
                self.boot_logged = True
                self.log("launcher.log", "VIRTUAL_DEVICE_BOOT_COMPLETED")
                self.log("launcher.log", "Virtual device booted successfully")
                self.log("logcat", "I/SystemServer: Boot completed (simulated)")
            fds = list(self.listeners)
            r, _, _ = select.select(fds, [], [], 0.05) if fds else ([], [], [time.sleep(0.05)])
            for fd in r:
                s, kind, _ = self.listeners[fd]
                if self.serve_one(s, kind):
                    return 0


def parse_run_args(argv):
    opts = {}
    i = 0
    positional = []
    while i < len(argv):
        a = argv[i]
        if a.startswith("--"):
            if "=" in a:
                k, v = a[2:].split("=", 1)
            elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                k, v = a[2:], argv[i + 1]
                i += 1
            else:
                k, v = a[2:], "1"
            if k in opts and k == "block":
                opts[k] += "," + v
            else:
                opts[k] = v
        else:
            positional.append(a)
        i += 1
    opts["_positional"] = positional
    return opts


def run_vm(argv):
    opts = parse_run_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    vm = Vm(opts)
    return vm.run()


# ---------------------------------------------------------------- crosvm CLI

def cli(argv):
    if not argv:
        sys.stderr.write("Usage: crosvm [--extended-status] [--log-level <level>] <command> [<args>]\n")
        return 1
    cmd, rest = argv[0], argv[1:]
    if cmd == "run":
        return run_vm(rest)

    def call(sock, msg, timeout=30.0):
        try:
            r = paths.unix_request(sock, msg, timeout=timeout)
        except (OSError, ValueError) as e:
            sys.stderr.write("[ERROR crosvm] failed to connect to %s: %s\n" % (sock, e))
            return None
        if not r.get("ok"):
            sys.stderr.write("[ERROR crosvm] %s\n" % r.get("error", "request failed"))
            return None
        return r

    args = [a for a in rest if not a.startswith("--")]
    if cmd == "balloon" and len(args) == 2:
        try:
            size = int(args[0])
        except ValueError:
            sys.stderr.write("[ERROR crosvm] invalid balloon size %r\n" % args[0])
            return 1
        return 0 if call(args[1], {"cmd": "balloon", "bytes": size}) else 1
    if cmd == "balloon_stats" and len(args) == 1:
        if common.knob_true("balloon_stats_hang"):
            while True:
                time.sleep(3600)
        r = call(args[0], {"cmd": "balloon_stats"})
        if not r:
            return 1
        out = {"BalloonStats": {"stats": r["stats"], "balloon_actual": r["balloon_actual"]}}
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
        return 0
    if cmd in ("suspend", "resume") and len(args) == 1:
        return 0 if call(args[0], {"cmd": cmd}) else 1
    if cmd in ("powerbtn", "stop") and len(args) == 1:
        return 0 if call(args[0], {"cmd": "stop"}) else 1
    if cmd == "snapshot" and len(args) == 3 and args[0] == "take":
        d = args[1]
        if not os.path.isabs(d):
            d = os.path.abspath(d)
        return 0 if call(args[2], {"cmd": "snapshot_take", "dir": common.reroot(d)}) else 1
    sys.stderr.write("[ERROR crosvm] invalid arguments for %s: %s\n" % (cmd, " ".join(rest)))
    return 1


def main(argv):
    common.sim_root()
    if argv[:1] == ["run"]:
        return run_vm(argv[1:])
    code = 1
    try:
        code = cli(argv)
        return code
    finally:
        common.log_request("crosvm", argv, code)
