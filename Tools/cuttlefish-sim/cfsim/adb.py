"""The `adb` simulator: talks to the simulated devices that the crosvm
stand-ins publish in $CVD_SIM_ROOT/sim/devices/<adb_port>.json."""

import glob
import json
import os
import shlex
import shutil
import signal
import struct
import sys
import time
import zlib

from . import common, paths

LOCAL_HOSTS = ("127.0.0.1", "localhost", "0.0.0.0")


class AdbExit(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code


def die(msg, code=1):
    sys.stderr.write(msg.rstrip("\n") + "\n")
    raise AdbExit(code)


# ---------------------------------------------------------------- server state

def server_path():
    return os.path.join(common.sim_root(), "sim", "adb-server-%d.json" % common.uid())


def load_server():
    return common.read_json(server_path(), None) or {"connected": [], "disconnected": {}}


def save_server(st):
    common.write_atomic(server_path(), json.dumps(st, indent=1, sort_keys=True) + "\n")


def live_devices():
    """port -> device status dict, for devices whose crosvm stand-in is alive."""
    out = {}
    for f in glob.glob(os.path.join(paths.devices_dir(), "*.json")):
        st = common.read_json(f, None)
        if not st:
            continue
        if common.is_sim_crosvm(st.get("pid"), st.get("instance_id")):
            out[st["adb_port"]] = st
    return out


def parse_serial(s):
    if ":" not in s:
        return None, None
    host, port = s.rsplit(":", 1)
    try:
        return host, int(port)
    except ValueError:
        return host, None


def device_list():
    """[(serial, state, devinfo)] as `adb devices` shows them."""
    devs = live_devices()
    st = load_server()
    reconnect = common.knob_float("adb_reconnect_seconds", 5.0)
    now = time.time()
    rows = []
    for port in sorted(devs):
        serial = "127.0.0.1:%d" % port
        dis = st["disconnected"].get(serial)
        if dis is None or now - dis >= reconnect:
            rows.append((serial, devs[port]))
    for serial in st["connected"]:
        host, port = parse_serial(serial)
        if port in devs and serial not in [r[0] for r in rows]:
            rows.append((serial, devs[port]))
    return [(s, "offline" if d.get("suspended") else "device", d) for s, d in rows]


def resolve(serial):
    rows = device_list()
    if serial:
        for s, state, d in rows:
            if s == serial:
                return s, state, d
        die("adb: device '%s' not found" % serial)
    if not rows:
        die("adb: no devices/emulators found")
    if len(rows) > 1:
        die("adb: more than one device/emulator")
    return rows[0]


def maybe_hang(dev):
    v = common.knob("adb_hang")
    if v and v not in ("0", ""):
        ports = common.knob("adb_hang_ports")
        if not ports or str(dev["adb_port"]) in [p.strip() for p in ports.split(",")]:
            secs = float("inf") if v in ("inf", "forever") else float(v)
            end = time.time() + secs
            while time.time() < end:
                time.sleep(min(0.2, max(0.0, end - time.time())) or 0.01)
            die("error: closed")


def wait_responsive(dev):
    """A suspended VM does not answer: block until resumed (or gone)."""
    port = dev["adb_port"]
    while True:
        d = live_devices().get(port)
        if d is None or d.get("pid") != dev.get("pid"):
            die("error: closed")
        if not d.get("suspended"):
            return d
        time.sleep(0.05)


def booted(dev):
    t = dev.get("boot_completed_at")
    return bool(t) and time.time() >= t


# ---------------------------------------------------------------- device fs

def dev_path(dev, p):
    p = os.path.normpath("/" + p.lstrip("/")) if p.startswith("/") else \
        os.path.normpath("/data/local/tmp/" + p)
    if p == "/storage/emulated/0" or p.startswith("/storage/emulated/0/"):
        p = "/sdcard" + p[len("/storage/emulated/0"):]
    if p == "/storage/self/primary" or p.startswith("/storage/self/primary/"):
        p = "/sdcard" + p[len("/storage/self/primary"):]
    return os.path.join(dev["data_dir"], p.lstrip("/"))


def packages_file(dev):
    return os.path.join(os.path.dirname(dev["data_dir"]), "sim_packages.json")


def png_bytes(w=72, h=128):
    def chunk(tag, data):
        c = struct.pack(">I", len(data)) + tag + data
        return c + struct.pack(">I", zlib.crc32(tag + data) & 0xffffffff)
    raw = b"".join(b"\x00" + b"\x30\x80\xc0" * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def props(dev):
    b = "1" if booted(dev) else ""
    iid = dev["instance_id"]
    return {
        "sys.boot_completed": b, "dev.bootcomplete": b,
        "init.svc.bootanim": "stopped" if b else "running",
        "ro.product.model": "Cuttlefish x86_64 phone", "ro.product.name": "aosp_cf_x86_64_phone",
        "ro.product.manufacturer": "Google", "ro.product.device": "vsoc_x86_64",
        "ro.build.version.release": "15", "ro.build.version.sdk": "35",
        "ro.product.cpu.abi": "x86_64", "ro.hardware": "cutf_cvm",
        "ro.serialno": "CUTTLEFISHCVD%02d" % iid, "ro.boot.serialno": "CUTTLEFISHCVD%02d" % iid,
        "ro.kernel.qemu": "", "ro.build.type": "userdebug",
    }


def sh(dev, argv, out):
    """Tiny stand-in for the device's /system/bin/sh.  Returns exit status."""
    w = out.write
    if not argv:
        return 0
    cmd, args = argv[0], argv[1:]
    if cmd in ("su",) and args:
        rest = args[1:] if args[0] in ("root", "0") else args
        return sh(dev, rest, out)
    if cmd == "sh" and args[:1] == ["-c"] and len(args) > 1:
        return run_line(dev, args[1], out)
    if cmd == "getprop":
        p = props(dev)
        if args:
            w((p.get(args[0], "") + "\n").encode())
        else:
            w("".join("[%s]: [%s]\n" % kv for kv in sorted(p.items())).encode())
        return 0
    if cmd in ("setprop", "true", "sync", "svc", "wm", "settings", "cmd", "log"):
        return 0
    if cmd == "false":
        return 1
    if cmd == "exit":
        return int(args[0]) if args and args[0].isdigit() else 0
    if cmd == "echo":
        w((" ".join(args) + "\n").encode())
        return 0
    if cmd == "input":
        with open(os.path.join(os.path.dirname(dev["data_dir"]), "sim_input.log"), "a") as f:
            f.write(" ".join(args) + "\n")
        if not args or args[0] not in ("tap", "text", "keyevent", "swipe", "roll", "draganddrop",
                                       "motionevent", "press", "keycombination"):
            sys.stderr.write("Error: Unknown command: %s\n" % (args[0] if args else ""))
            return 1
        return 0
    if cmd == "screencap":
        files = [a for a in args if not a.startswith("-")]
        data = png_bytes()
        if files:
            p = dev_path(dev, files[0])
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(data)
        else:
            w(data)
        return 0
    if cmd == "ls":
        targets = [a for a in args if not a.startswith("-")] or ["/data/local/tmp"]
        long = any("l" in a for a in args if a.startswith("-"))
        rc = 0
        for t in targets:
            p = dev_path(dev, t)
            if os.path.isdir(p):
                for name in sorted(os.listdir(p)):
                    if long:
                        q = os.path.join(p, name)
                        kind = "d" if os.path.isdir(q) else "-"
                        size = os.path.getsize(q) if kind == "-" else 4096
                        w(("%srw-rw---- 1 root sdcard_rw %d 2026-01-01 00:00 %s\n"
                           % (kind, size, name)).encode())
                    else:
                        w((name + "\n").encode())
            elif os.path.exists(p):
                w((t + "\n").encode())
            else:
                sys.stderr.write("ls: %s: No such file or directory\n" % t)
                rc = 1
        return rc
    if cmd == "cat":
        rc = 0
        for t in args:
            p = dev_path(dev, t)
            try:
                with open(p, "rb") as f:
                    w(f.read())
            except OSError:
                sys.stderr.write("cat: %s: No such file or directory\n" % t)
                rc = 1
        return rc
    if cmd == "mkdir":
        for t in [a for a in args if not a.startswith("-")]:
            os.makedirs(dev_path(dev, t), exist_ok=True)
        return 0
    if cmd == "touch":
        for t in [a for a in args if not a.startswith("-")]:
            p = dev_path(dev, t)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            open(p, "a").close()
        return 0
    if cmd == "rm":
        rc = 0
        force = any("f" in a for a in args if a.startswith("-"))
        for t in [a for a in args if not a.startswith("-")]:
            p = dev_path(dev, t)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            elif os.path.lexists(p):
                os.unlink(p)
            elif not force:
                sys.stderr.write("rm: %s: No such file or directory\n" % t)
                rc = 1
        return rc
    if cmd == "mv" and len(args) == 2:
        try:
            os.replace(dev_path(dev, args[0]), dev_path(dev, args[1]))
        except OSError:
            sys.stderr.write("mv: bad '%s': No such file or directory\n" % args[0])
            return 1
        return 0
    if cmd == "stat":
        rc = 0
        for t in [a for a in args if not a.startswith("-")]:
            p = dev_path(dev, t)
            if not os.path.exists(p):
                sys.stderr.write("stat: '%s': No such file or directory\n" % t)
                rc = 1
                continue
            kind = "directory" if os.path.isdir(p) else "regular file"
            w(("  File: %s\n  Size: %d\t %s\n" % (t, os.path.getsize(p), kind)).encode())
        return rc
    if cmd == "pm" and args[:2] == ["list", "packages"]:
        for pkg in sorted(common.read_json(packages_file(dev), []) or []):
            w(("package:%s\n" % pkg).encode())
        return 0
    if cmd == "am":
        if args[:1] == ["start"]:
            w(b"Starting: Intent { }\n")
        return 0
    sys.stderr.write("/system/bin/sh: %s: inaccessible or not found\n" % cmd)
    return 127


def run_line(dev, line, out):
    rc = 0
    for part in line.split(";"):
        for sub in part.split("&&"):
            try:
                argv = shlex.split(sub)
            except ValueError:
                sys.stderr.write("/system/bin/sh: syntax error\n")
                return 2
            rc = sh(dev, argv, out)
            if rc != 0:
                break
    return rc


# ---------------------------------------------------------------- commands

def fmt_rate(n, secs):
    return "%.1f MB/s (%d bytes in %.3fs)" % (n / max(secs, 1e-6) / 1e6, n, secs)


def local_out_path(p):
    p = os.path.abspath(p)
    if common.knob_true("allow_outside_writes"):
        return p
    return common.reroot(p)


def do_command(serial, cmd, args):
    out = sys.stdout.buffer
    if cmd == "devices":
        rows = device_list()
        text = "List of devices attached\n"
        for s, state, d in rows:
            if "-l" in args:
                text += "%s\t%s product:aosp_cf_x86_64_phone model:Cuttlefish_x86_64_phone " \
                        "device:vsoc_x86_64 transport_id:%d\n" % (s, state, d["instance_id"])
            else:
                text += "%s\t%s\n" % (s, state)
        out.write((text + "\n").encode())
        return 0
    if cmd == "connect":
        if not args:
            die("adb: usage: adb connect HOST[:PORT]")
        target = args[0]
        host, port = parse_serial(target)
        if port is None:
            host, port, target = target, 5555, target + ":5555"
        devs = live_devices()
        if host not in LOCAL_HOSTS or port not in devs:
            out.write(("failed to connect to '%s': Connection refused\n" % target).encode())
            return 0
        st = load_server()
        listed = [r[0] for r in device_list()]
        st["disconnected"].pop(target, None)
        if target in listed:
            out.write(("already connected to %s\n" % target).encode())
        else:
            if target not in st["connected"] and not target.startswith("127.0.0.1:"):
                st["connected"].append(target)
            out.write(("connected to %s\n" % target).encode())
        save_server(st)
        return 0
    if cmd == "disconnect":
        st = load_server()
        listed = [r[0] for r in device_list()]
        targets = args or listed
        for t in targets:
            if t not in listed and t not in st["connected"]:
                die("error: no such device '%s'" % t)
            if t in st["connected"]:
                st["connected"].remove(t)
            if t.startswith("127.0.0.1:"):
                st["disconnected"][t] = time.time()
        save_server(st)
        out.write(("disconnected %s\n" % (args[0] if args else "everything")).encode())
        return 0
    if cmd in ("kill-server", "start-server", "reconnect"):
        return 0
    if cmd == "version":
        out.write(("Android Debug Bridge version 1.0.41\nVersion 35.0.2-cfsim\nInstalled as %s\n"
                   % os.path.join(common.SIM_DIR, "adb")).encode())
        return 0
    if cmd == "wait-for-device":
        while True:
            rows = device_list()
            if any((serial is None or s == serial) and state == "device" for s, state, _ in rows):
                return 0
            time.sleep(0.05)

    s, state, dev = resolve(serial)
    if cmd == "get-state":
        out.write((state + "\n").encode())
        return 0
    if cmd == "get-serialno":
        out.write((s + "\n").encode())
        return 0
    maybe_hang(dev)
    dev = wait_responsive(dev)
    if cmd in ("shell", "exec-out"):
        a = list(args)
        while a and a[0].startswith("-") and a[0] != "--":
            a.pop(0)
        if a[:1] == ["--"]:
            a.pop(0)
        if not a:
            die("adb: interactive shell is not simulated")
        rc = run_line(dev, " ".join(a), out)
        out.flush()
        return rc
    if cmd == "push":
        files = [a for a in args if not a.startswith("-")]
        if len(files) < 2:
            die("adb: usage: push [--sync] [-z ALGORITHM] [-Z] [-q] LOCAL... REMOTE")
        *srcs, remote = files
        total, t0 = 0, time.time()
        for src in srcs:
            if not os.path.exists(src):
                die("adb: error: cannot stat '%s': No such file or directory" % src)
            dst = dev_path(dev, remote)
            if os.path.isdir(dst) or remote.endswith("/"):
                dst = os.path.join(dst, os.path.basename(src.rstrip("/")))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if os.path.isdir(src):
                shutil.copytree(src, dst, dirs_exist_ok=True)
            else:
                shutil.copyfile(src, dst)
                total += os.path.getsize(src)
        dt = max(time.time() - t0, 0.001)
        label = srcs[0] if len(srcs) == 1 else "%d files" % len(srcs)
        out.write(("%s: %d file%s pushed, 0 skipped. %s\n"
                   % (label, len(srcs), "" if len(srcs) == 1 else "s", fmt_rate(total, dt))).encode())
        return 0
    if cmd == "pull":
        files = [a for a in args if not a.startswith("-")]
        if not files:
            die("adb: usage: pull [-a] [-z ALGORITHM] [-Z] REMOTE... LOCAL")
        remote = files[0]
        local = files[1] if len(files) > 1 else os.path.basename(remote.rstrip("/"))
        src = dev_path(dev, remote)
        if not os.path.exists(src):
            die("adb: error: failed to stat remote object '%s': No such file or directory" % remote)
        dst = local_out_path(local)
        if os.path.isdir(dst):
            dst = os.path.join(dst, os.path.basename(src))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        t0 = time.time()
        if os.path.isdir(src):
            shutil.copytree(src, dst, dirs_exist_ok=True)
            n = 0
        else:
            shutil.copyfile(src, dst)
            n = os.path.getsize(src)
        out.write(("%s: 1 file pulled, 0 skipped. %s\n"
                   % (remote, fmt_rate(n, max(time.time() - t0, 0.001)))).encode())
        return 0
    if cmd == "install":
        apks = [a for a in args if not a.startswith("-")]
        if not apks:
            die("adb: usage: adb install [-r] [-g] PACKAGE")
        apk = apks[-1]
        if not os.path.isfile(apk):
            die("adb: failed to stat %s: No such file or directory" % apk)
        out.write(b"Performing Streamed Install\n")
        out.flush()
        fail = common.knob("adb_install_fail")
        if fail:
            code = fail if fail.startswith("INSTALL_") else "INSTALL_FAILED_INTERNAL_ERROR"
            die("adb: failed to install %s: Failure [%s]" % (apk, code))
        pkgs = set(common.read_json(packages_file(dev), []) or [])
        name = os.path.basename(apk)
        pkgs.add(name[:-4] if name.endswith(".apk") else name)
        common.write_atomic(packages_file(dev), json.dumps(sorted(pkgs)))
        out.write(b"Success\n")
        return 0
    if cmd == "uninstall":
        pkgs = set(common.read_json(packages_file(dev), []) or [])
        pkg = args[-1] if args else ""
        if pkg not in pkgs:
            out.write(b"Failure [DELETE_FAILED_INTERNAL_ERROR]\n")
            return 1
        pkgs.discard(pkg)
        common.write_atomic(packages_file(dev), json.dumps(sorted(pkgs)))
        out.write(b"Success\n")
        return 0
    if cmd in ("forward", "reverse", "root", "unroot", "remount", "logcat"):
        if cmd == "root":
            out.write(b"adbd is already running as root\n")
        return 0
    if cmd == "reboot":
        return 0
    die("adb: unknown command %s" % cmd)


def run(argv):
    serial = os.environ.get("ANDROID_SERIAL") or None
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        a = argv[i]
        if a in ("-s", "-t", "-H", "-P", "-L"):
            if i + 1 >= len(argv):
                die("adb: option %s requires an argument" % a)
            if a == "-s":
                serial = argv[i + 1]
            i += 2
            continue
        if a.startswith("-s") and len(a) > 2:
            serial = a[2:]
        i += 1
    if i >= len(argv):
        die("adb: no command specified")
    return do_command(serial, argv[i], argv[i + 1:])


def _on_term(signum, frame):
    raise AdbExit(128 + signum)


def main(argv):
    common.sim_root()
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, _on_term)
    code = 1
    try:
        code = run(argv)
    except AdbExit as e:
        code = e.code
    except BrokenPipeError:
        code = 1
    finally:
        try:
            sys.stdout.flush()
        except Exception:
            pass
        common.log_request("adb", argv, code)
    return code
