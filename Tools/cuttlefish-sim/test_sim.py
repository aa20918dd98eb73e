"""Tests of the cvd/adb simulators, driven through their command lines like a driver would.

    python3 -m unittest discover -s Tools/cuttlefish-sim -p 'test_*.py' -v
"""

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CVD = os.path.join(HERE, "cvd")
ADB = os.path.join(HERE, "adb")
CROSVM = os.path.join(HERE, "crosvm")
CTL = os.path.join(HERE, "cfsimctl")
sys.path.insert(0, HERE)
from cfsim import common  # noqa: E402

REFERENCE_EXAMPLE = (
    '{\n\t"groups" : \n\t[\n\t\t{\n\t\t\t"group_name" : "cvd_1",\n\t\t\t"instances" : \n\t\t\t[\n'
    '\t\t\t\t{\n\t\t\t\t\t"adb_port" : 6520,\n\t\t\t\t\t"adb_serial" : "127.0.0.1:6520",\n'
    '\t\t\t\t\t"displays" : \n\t\t\t\t\t[\n\t\t\t\t\t\t"720 x 1280 ( 320 )"\n\t\t\t\t\t],\n'
    '\t\t\t\t\t"instance_name" : "1",\n\t\t\t\t\t"status" : "Running"\n\t\t\t\t}\n\t\t\t],\n'
    '\t\t\t"start_time" : "2026-08-22 15:33:57"\n\t\t}\n\t]\n}\n')


def sim_pids(root):
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if ("--cfsim_root=" + root).encode() in args:
            out.append(int(name))
    return out


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


class SimTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="cfsim")
        self.cwd = tempfile.mkdtemp(prefix="cfsimcwd")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CVD_SIM_")}
        self.env["CVD_SIM_ROOT"] = self.root
        self.env["CVD_SIM_BOOT_SECONDS"] = "0.2"
        self.host = os.path.join(self.root, "artifacts", "host")
        os.makedirs(self.host)
        self.popens = []

    def tearDown(self):
        for p in self.popens:
            if p.poll() is None:
                p.kill()
                p.wait()
        for pid in sim_pids(self.root):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.time() + 3
        while time.time() < deadline and any(alive(p) for p in sim_pids(self.root)):
            time.sleep(0.05)
        shutil.rmtree(self.root, ignore_errors=True)
        leftover = os.listdir(self.cwd)
        shutil.rmtree(self.cwd, ignore_errors=True)
        self.assertEqual(leftover, [], "the simulator wrote into its cwd")

    # helpers
    def run_tool(self, tool, *args, env=None, timeout=30):
        e = dict(self.env)
        e.update(env or {})
        return subprocess.run([tool] + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, env=e, cwd=self.cwd, timeout=timeout)

    def cvd(self, *args, **kw):
        return self.run_tool(CVD, *args, **kw)

    def adb(self, *args, **kw):
        return self.run_tool(ADB, *args, **kw)

    def create(self, group, *flags, ok=True, **kw):
        sel = ["--group_name=" + group] if group else []
        r = self.cvd(*sel, "create", "--host_path=" + self.host, *flags, **kw)
        if ok:
            self.assertEqual(r.returncode, 0, r.stderr)
            return json.loads(r.stdout)
        return r

    def fleet(self):
        r = self.cvd("fleet")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)["groups"]

    def group(self, name):
        for g in self.fleet():
            if g["group_name"] == name:
                return g
        return None

    def crosvm_for(self, instance_id):
        """Layer 3 of the health check: `ps -eo args | grep crosvm.*cvd-N`."""
        out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
        pids = []
        for line in out.splitlines():
            pid, _, args = line.strip().partition(" ")
            if "crosvm" in args and "/cvd-%d/" % instance_id in args and \
                    ("--cfsim_root=" + self.root) in args:
                pids.append(int(pid))
        return pids

    def knob_file(self, name, content="1"):
        os.makedirs(os.path.join(self.root, "knobs"), exist_ok=True)
        with open(os.path.join(self.root, "knobs", name), "w") as f:
            f.write(content)

    def getprop(self, port, timeout=10):
        return self.adb("-s", "127.0.0.1:%d" % port, "shell", "getprop", "sys.boot_completed",
                        timeout=timeout)

    # ------------------------------------------------------------ tests

    def test_requires_root(self):
        e = dict(self.env)
        del e["CVD_SIM_ROOT"]
        r = subprocess.run([CVD, "fleet"], stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, env=e, cwd=self.cwd)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("CVD_SIM_ROOT", r.stderr)

    def test_styled_json_matches_reference_layout(self):
        v = {"groups": [{"group_name": "cvd_1", "start_time": "2026-08-22 15:33:57",
                         "instances": [{"adb_port": 6520, "adb_serial": "127.0.0.1:6520",
                                        "displays": ["720 x 1280 ( 320 )"],
                                        "instance_name": "1", "status": "Running"}]}]}
        self.assertEqual(common.styled(v), REFERENCE_EXAMPLE)

    def test_fleet_empty_and_args(self):
        r = self.cvd("fleet")
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stdout, '{\n\t"groups" : []\n}\n')
        self.assertIn("main.cc", r.stderr)
        self.assertIn("version: 1.55.2 | VCS: ", r.stderr)
        r = self.cvd("fleet", "--json")
        self.assertEqual(r.returncode, 255)
        r = self.cvd("fleet", "--json", env={"CVD_SIM_FLEET_IGNORE_ARGS": "1"})
        self.assertEqual(r.returncode, 0)

    def test_lifecycle(self):
        g = self.create("g1", "--cpus=2", "--memory_mb=2048")
        self.assertEqual(g["group_name"], "g1")
        inst = g["instances"][0]
        self.assertEqual(inst["status"], "Running")
        self.assertEqual(inst["adb_port"], 6520)
        self.assertEqual(inst["webrtc_device_id"], "g1-1-1")
        self.assertTrue(inst["instance_dir"].endswith("/home/cuttlefish/instances/cvd-1"))
        self.assertTrue(inst["instance_dir"].startswith(self.root))
        self.assertEqual(sorted(inst), ["adb_port", "adb_serial", "assembly_dir", "displays",
                                        "instance_dir", "instance_name", "status", "web_access",
                                        "webrtc_device_id"])
        pids = self.crosvm_for(1)
        self.assertEqual(len(pids), 1)
        with open("/proc/%d/cmdline" % pids[0], "rb") as f:
            args = f.read().split(b"\0")
        self.assertIn(b"2048", args)
        lock = os.path.join(self.root, "var/tmp/cvd/lock/local-instance-1.lock")
        self.assertEqual(open(lock).read(), "I")
        self.assertEqual(self.getprop(6520).stdout, "1\n")

        r = self.cvd("--group_name=g1", "stop")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "")
        st = self.group("g1")["instances"][0]
        self.assertEqual(st["status"], "Stopped")
        self.assertNotIn("adb_port", st)
        self.assertEqual(self.crosvm_for(1), [])
        self.assertEqual(self.getprop(6520).returncode, 1)
        r = self.cvd("--group_name=g1", "stop")
        self.assertEqual(r.returncode, 255)
        self.assertIn("Selected group is not running", r.stderr)
        self.assertIn("http://go/cuttlefish-bug", r.stderr)

        r = self.cvd("--group_name=g1", "start")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["instances"][0]["status"], "Running")
        r = self.cvd("--group_name=g1", "start")
        self.assertEqual(r.returncode, 255)
        self.assertIn("already started", r.stderr)

        base = inst["instance_dir"].split("/home/")[0]
        r = self.cvd("--group_name=g1", "rm")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.fleet(), [])
        self.assertEqual(self.crosvm_for(1), [])
        self.assertFalse(os.path.exists(lock))
        self.assertFalse(os.path.exists(base))
        r = self.cvd("--group_name=g1", "rm")
        self.assertEqual(r.returncode, 255)
        self.assertIn("Command `rm` is not applicable: no devices present", r.stderr)

    def test_default_group_names_ids_and_reuse(self):
        self.assertEqual(self.create(None)["group_name"], "cvd_1")
        self.create("b")
        self.create("c")
        ports = {g["group_name"]: g["instances"][0]["adb_port"] for g in self.fleet()}
        self.assertEqual(ports, {"cvd_1": 6520, "b": 6521, "c": 6522})
        self.assertEqual(self.cvd("--group_name=b", "rm").returncode, 0)
        g = self.create("d")
        self.assertEqual(g["instances"][0]["adb_port"], 6521)
        self.assertEqual(g["instances"][0]["instance_name"], "2")
        # a stale lock (I with no group) is skipped by the allocator
        self.cvd("--group_name=d", "rm")
        with open(os.path.join(self.root, "var/tmp/cvd/lock/local-instance-2.lock"), "w") as f:
            f.write("I")
        self.assertEqual(self.create("e")["instances"][0]["adb_port"], 6523)
        # --base_instance_num onto an id owned by another group
        r = self.create("f", "--base_instance_num=1", ok=False)
        self.assertEqual(r.returncode, 255)
        self.assertIn("New instance conflicts with existing instance: cvd_1/1 with id 1", r.stderr)
        # the default group gets ~/cuttlefish_runtime links, re-rooted
        home = common.real_home()
        link = self.root + home + "/cuttlefish_runtime"
        self.assertTrue(os.path.islink(link) or self.env.get("HOME", home) != home)

    def test_name_rules(self):
        r = self.create("web-1", ok=False)
        self.assertEqual(r.returncode, 255)
        self.assertIn("web-1", r.stderr)
        self.assertEqual(self.fleet(), [])
        self.assertEqual(self.crosvm_for(1), [])
        r = self.cvd("--group_name=web_1", "--instance_name=a.b", "create", "--host_path=" + self.host)
        self.assertEqual(r.returncode, 255)
        r = self.cvd("--group_name=web_1", "--instance_name=phone-a,phone_b", "create",
                     "--host_path=" + self.host)
        self.assertEqual(r.returncode, 0, r.stderr)
        g = json.loads(r.stdout)
        self.assertEqual([i["instance_name"] for i in g["instances"]], ["phone-a", "phone_b"])
        self.assertEqual([i["adb_port"] for i in g["instances"]], [6520, 6521])
        self.assertEqual(len(self.crosvm_for(1)), 1)
        self.assertEqual(len(self.crosvm_for(2)), 1)
        r = self.create("web_1", ok=False)
        self.assertEqual(r.returncode, 255)
        r = self.create("x", "--no_such_flag=1", ok=False)
        self.assertEqual(r.returncode, 255)
        self.assertIn("unknown command line flag", r.stderr)
        r = self.create("x", "--daemon=false", ok=False)
        self.assertEqual(r.returncode, 255)

    def test_selectors_required_with_several_groups(self):
        self.create("a")
        r = self.cvd("status", "--print")
        self.assertEqual(r.returncode, 0)
        self.assertEqual(json.loads(r.stdout)["group_name"], "a")
        self.create("b")
        for args in (["stop"], ["status", "--print"], ["rm"], ["suspend"]):
            r = self.cvd(*args)
            self.assertEqual(r.returncode, 255, args)
            self.assertIn("Multiple groups found. Narrow the selection with selector arguments.",
                          r.stderr)
        r = self.cvd("--group_name=nope", "stop")
        self.assertEqual(r.returncode, 255)
        r = self.cvd("--group_name=b", "status")
        self.assertEqual((r.returncode, r.stdout), (0, ""))
        r = self.cvd("--group_name=b", "--instance_name=2", "status", "--print")
        arr = json.loads(r.stdout)
        self.assertIsInstance(arr, list)
        self.assertEqual(arr[0]["adb_port"], 6521)

    def test_no_devices(self):
        for verb in ("stop", "start", "status", "rm"):
            r = self.cvd("--group_name=x", verb)
            self.assertEqual(r.returncode, 255)
            self.assertIn("is not applicable: no devices present", r.stderr)

    def test_boot_failed_knob(self):
        self.knob_file("fail_next_boot")
        r = self.create("a", ok=False)
        self.assertEqual(r.returncode, 255)
        self.assertIn("Virtual device failed to boot", r.stderr)
        self.assertEqual(r.stdout, "")
        g = self.group("a")
        self.assertEqual(g["instances"][0]["status"], "Boot Failed")
        self.assertNotIn("adb_port", g["instances"][0])
        self.assertEqual(self.crosvm_for(1), [])
        self.assertFalse(os.path.exists(os.path.join(self.root, "knobs", "fail_next_boot")))
        # the failed group keeps its id: next create shifts the port
        self.assertEqual(self.create("b")["instances"][0]["adb_port"], 6521)
        # start on a Boot Failed group works
        r = self.cvd("--group_name=a", "start")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.group("a")["instances"][0]["status"], "Running")
        # env knob: every boot fails while set
        r = self.create("c", ok=False, env={"CVD_SIM_FAIL_BOOT": "1"})
        self.assertEqual(r.returncode, 255)

    def test_cancelled_while_device_booted(self):
        r = self.create("a", ok=False, env={"CVD_SIM_CANCEL_AFTER_BOOT": "1"})
        self.assertEqual(r.returncode, -signal.SIGABRT)  # std::abort -> shell status 134
        self.assertEqual(self.group("a")["instances"][0]["status"], "Cancelled")
        self.assertEqual(self.getprop(6520).stdout, "1\n")     # layer 2: still booted
        self.assertEqual(len(self.crosvm_for(1)), 1)          # layer 3: crosvm present
        r = self.cvd("--group_name=a", "stop")
        self.assertEqual(r.returncode, 255)  # Cancelled is not an active state
        r = self.cvd("--group_name=a", "start")
        self.assertEqual(r.returncode, 255)
        self.assertIn("Instance directory files in use", r.stderr)
        r = self.cvd("reset")  # no -y, no tty: a no-op
        self.assertEqual(r.returncode, 0)
        self.assertIn("For more details:   cvd help reset", r.stdout)
        self.assertEqual(len(self.fleet()), 1)
        r = self.cvd("reset", "-y")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.fleet(), [])
        deadline = time.time() + 3
        while self.crosvm_for(1) and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.crosvm_for(1), [])

    def test_sigterm_during_create_cancels(self):
        e = dict(self.env, CVD_SIM_BOOT_HANG="1")
        p = subprocess.Popen([CVD, "--group_name=a", "create", "--host_path=" + self.host],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=e, cwd=self.cwd)
        self.popens.append(p)
        deadline = time.time() + 10
        while time.time() < deadline:
            g = self.group("a")
            if g and g["instances"][0]["status"] == "Starting" and self.crosvm_for(1):
                break
            time.sleep(0.05)
        self.assertEqual(self.group("a")["instances"][0]["status"], "Starting")
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=10)
        self.assertEqual(p.returncode, -signal.SIGABRT)
        self.assertEqual(self.group("a")["instances"][0]["status"], "Cancelled")
        self.assertEqual(self.getprop(6520).stdout, "\n")  # never booted
        log = [json.loads(x) for x in open(os.path.join(self.root, "requests.log"))]
        self.assertIn(134, [x["exit"] for x in log if x["tool"] == "cvd"])

    def test_unreachable(self):
        self.create("a")
        g = self.group("a")
        self.assertEqual(g["instances"][0]["status"], "Running")
        env = {"CVD_SIM_STATUS_FAIL": "a"}
        r = self.cvd("fleet", env=env)
        inst = json.loads(r.stdout)["groups"][0]["instances"][0]
        self.assertEqual(inst["status"], "Unreachable")
        self.assertEqual(inst["warning"], "cvd status failed")
        self.assertIn("adb_port", inst)
        self.assertNotIn("adb_serial", inst)
        self.assertEqual(self.getprop(6520).stdout, "1\n")
        self.assertEqual(self.group("a")["instances"][0]["status"], "Running")  # fleet does not persist
        # kill crosvm: the DB still says Running, fleet says Unreachable
        for pid in self.crosvm_for(1):
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
        self.assertEqual(self.group("a")["instances"][0]["status"], "Unreachable")
        self.assertEqual(self.getprop(6520).returncode, 1)
        r = self.cvd("--group_name=a", "status", "--print")
        self.assertEqual(json.loads(r.stdout)["instances"][0]["status"], "Unreachable")
        db = json.load(open(glob.glob(os.path.join(self.root, "var/tmp/cvd/*/instance_database.json"))[0]))
        self.assertEqual(db["instance_groups"][0]["instances"][0]["state"], "Unreachable")
        r = self.cvd("--group_name=a", "stop")
        self.assertEqual(r.returncode, 255)
        self.assertIn("Failed to connect to instance monitor socket", r.stderr)
        self.assertEqual(self.cvd("--group_name=a", "rm").returncode, 0)
        self.assertEqual(self.fleet(), [])

    def test_adb(self):
        e = dict(self.env, CVD_SIM_BOOT_SECONDS="1.5")
        p = subprocess.Popen([CVD, "--group_name=a", "create", "--host_path=" + self.host],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=e, cwd=self.cwd)
        self.popens.append(p)
        seen = []
        deadline = time.time() + 10
        while time.time() < deadline:
            r = self.getprop(6520)
            if r.returncode == 0:
                seen.append(r.stdout)
                if r.stdout == "1\n":
                    break
            time.sleep(0.1)
        out, _ = p.communicate(timeout=10)
        self.assertEqual(p.returncode, 0)
        self.assertIn("\n", seen)     # empty before boot completes
        self.assertEqual(seen[-1], "1\n")
        r = self.adb("devices")
        self.assertEqual(r.stdout, "List of devices attached\n127.0.0.1:6520\tdevice\n\n")
        r = self.adb("connect", "127.0.0.1:6520")
        self.assertEqual((r.returncode, r.stdout), (0, "already connected to 127.0.0.1:6520\n"))
        r = self.adb("connect", "127.0.0.1:6530")
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stdout, "failed to connect to '127.0.0.1:6530': Connection refused\n")
        r = self.getprop(6530)
        self.assertEqual(r.returncode, 1)
        self.assertIn("adb: device '127.0.0.1:6530' not found", r.stderr)
        r = self.adb("disconnect", "127.0.0.1:6520")
        self.assertEqual(r.stdout, "disconnected 127.0.0.1:6520\n")
        r = self.adb("devices", env={"CVD_SIM_ADB_RECONNECT_SECONDS": "0"})
        self.assertIn("127.0.0.1:6520\tdevice", r.stdout)
        r = self.adb("-s", "127.0.0.1:6520", "shell", "true")
        self.assertEqual(r.returncode, 1)  # adb_connector has not reconnected yet
        r = self.adb("connect", "127.0.0.1:6520")
        self.assertEqual(r.stdout, "connected to 127.0.0.1:6520\n")
        r = self.adb("-s", "127.0.0.1:6520", "shell", "exit", "3")
        self.assertEqual(r.returncode, 3)
        src = os.path.join(self.root, "payload.bin")
        with open(src, "wb") as f:
            f.write(b"x" * 1000)
        r = self.adb("-s", "127.0.0.1:6520", "push", src, "/sdcard/payload.bin")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("1 file pushed, 0 skipped.", r.stdout)
        r = self.adb("-s", "127.0.0.1:6520", "shell", "ls", "/sdcard")
        self.assertIn("payload.bin", r.stdout)
        r = subprocess.run([ADB, "-s", "127.0.0.1:6520", "exec-out", "screencap", "-p"],
                           capture_output=True, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL)
        self.assertTrue(r.stdout.startswith(b"\x89PNG\r\n\x1a\n"))
        # hang knob: the driver must time out
        with self.assertRaises(subprocess.TimeoutExpired):
            self.adb("-s", "127.0.0.1:6520", "shell", "getprop", "sys.boot_completed",
                     env={"CVD_SIM_ADB_HANG": "inf"}, timeout=0.7)
        r = self.adb("-s", "127.0.0.1:6520", "shell", "true", env={"CVD_SIM_ADB_HANG": "0.1"})
        self.assertEqual(r.returncode, 1)

    def test_snapshot_compatible(self):
        flags = ["--enable_virtiofs=false", "--gpu_mode=guest_swiftshader", "--enable_usb=false",
                 "--snapshot_compatible"]
        self.create("a", *flags)
        src = os.path.join(self.root, "note.txt")
        with open(src, "w") as f:
            f.write("before snapshot")
        self.assertEqual(self.adb("-s", "127.0.0.1:6520", "push", src, "/sdcard/note.txt").returncode, 0)
        r = self.cvd("--group_name=a", "suspend")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("snapshot_util_cvd", r.stderr)
        self.assertEqual(self.group("a")["instances"][0]["status"], "Running")  # not visible in fleet
        self.assertIn("offline", self.adb("devices").stdout)
        with self.assertRaises(subprocess.TimeoutExpired):
            self.getprop(6520, timeout=0.7)
        snap = os.path.join(self.root, "snaps", "s1")
        r = self.cvd("--group_name=a", "snapshot_take", "--snapshot_path=" + snap)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.isfile(os.path.join(snap, "snapshot_meta_info.json")))
        self.assertTrue(glob.glob(os.path.join(snap, "*", "guest_vm")))
        r = self.cvd("--group_name=a", "snapshot_take", "--snapshot_path=" + snap)
        self.assertEqual(r.returncode, 255)
        r = self.cvd("--group_name=a", "resume")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.getprop(6520).stdout, "1\n")
        # Converge's "suspended": snapshot_take --auto_suspend --force, then stop
        r = self.cvd("--group_name=a", "snapshot_take", "--auto_suspend", "--force",
                     "--snapshot_path=" + snap)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.adb("-s", "127.0.0.1:6520", "shell", "rm", "/sdcard/note.txt").returncode, 0)
        self.assertEqual(self.cvd("--group_name=a", "stop").returncode, 0)
        self.assertEqual(self.crosvm_for(1), [])
        r = self.cvd("--group_name=a", "start", "--snapshot_path=" + snap)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["instances"][0]["status"], "Running")
        r = self.adb("-s", "127.0.0.1:6520", "shell", "cat", "/sdcard/note.txt")
        self.assertEqual(r.stdout, "before snapshot")
        # restore by create needs the same id; id 1 is owned by group a
        r = self.create("b", "--snapshot_path=" + snap, ok=False)
        self.assertEqual(r.returncode, 255)
        self.assertIn("New instance conflicts with existing instance: a/1 with id 1", r.stderr)
        self.cvd("--group_name=a", "rm")
        g = self.create("b", "--snapshot_path=" + snap)
        self.assertEqual(g["instances"][0]["adb_port"], 6520)

    def test_snapshot_incompatible_and_unsuspended(self):
        self.create("a")  # virtio-fs on (default)
        r = self.cvd("--group_name=a", "suspend")
        self.assertEqual(r.returncode, 255)
        self.assertIn("virtio_sleep not implemented for virtio-fs", r.stderr)
        snap = os.path.join(self.root, "snaps", "s1")
        r = self.cvd("--group_name=a", "snapshot_take", "--auto_suspend", "--snapshot_path=" + snap)
        self.assertEqual(r.returncode, 255)
        self.assertIn("virtio_sleep not implemented for virtio-fs", r.stderr)
        self.assertFalse(os.path.exists(snap))
        self.assertEqual(self.getprop(6520).stdout, "1\n")
        r = self.create("b", "--snapshot_compatible", ok=False)
        self.assertEqual(r.returncode, 255)
        self.create("c", "--enable_virtiofs=false")
        r = self.cvd("--group_name=c", "snapshot_take", "--snapshot_path=" + snap)
        self.assertEqual(r.returncode, 255)
        self.assertFalse(os.path.exists(snap))

    def test_data_policy(self):
        self.create("a")
        src = os.path.join(self.root, "f")
        with open(src, "w") as f:
            f.write("data")
        self.adb("-s", "127.0.0.1:6520", "push", src, "/sdcard/f")
        self.cvd("--group_name=a", "stop")
        self.assertEqual(self.cvd("--group_name=a", "start").returncode, 0)
        self.assertEqual(self.adb("shell", "cat", "/sdcard/f").stdout, "data")
        self.cvd("--group_name=a", "stop")
        r = self.cvd("--group_name=a", "start", "--data_policy=always_create")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.adb("shell", "cat", "/sdcard/f").returncode, 1)
        self.cvd("--group_name=a", "stop")
        r = self.cvd("--group_name=a", "start", "--data_policy=bogus")
        self.assertEqual(r.returncode, 255)

    def test_crosvm_control_socket(self):
        g = self.create("a", "--memory_mb=4096")
        cfg = json.load(open(os.path.join(g["instances"][0]["instance_dir"], "cuttlefish_config.json")))
        sock = cfg["instances"]["1"]["crosvm_control_socket"]
        self.assertTrue(sock.startswith(self.root + "/tmp/cf_avd_"))
        r = self.run_tool(cfg["crosvm_binary"], "balloon", str(1 << 30), sock)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.run_tool(CROSVM, "balloon_stats", sock)
        self.assertEqual(r.returncode, 0, r.stderr)
        st = json.loads(r.stdout)["BalloonStats"]
        self.assertEqual(st["balloon_actual"], 1 << 30)
        self.assertIn("total_memory", st["stats"])

    def test_nothing_written_outside_root(self):
        home = common.real_home()
        watch = ["/var/tmp/cvd", "/tmp/cvd", home + "/cuttlefish_runtime", home + "/cuttlefish",
                 home + "/.cuttlefish_config.json"] + glob.glob("/tmp/cf_avd_*") + \
            glob.glob("/tmp/cf_env_*")
        before = {p: os.path.lexists(p) for p in watch}
        avd_before = sorted(glob.glob("/tmp/cf_avd_*") + glob.glob("/tmp/cf_env_*"))
        env = {"HOME": home}
        g = self.create(None, env=env)
        snap = "/tmp/cfsim-should-not-exist-%d" % os.getpid()
        self.cvd("suspend", env=env)
        self.cvd("snapshot_take", "--snapshot_path=" + snap, "--auto_suspend", env=env)
        self.adb("shell", "screencap", "/sdcard/s.png", env=env)
        self.adb("pull", "/sdcard/s.png", "/tmp/cfsim-pulled-%d.png" % os.getpid(), env=env)
        self.cvd("stop", env=env)
        self.cvd("start", env=env)
        self.assertTrue(os.path.islink(self.root + home + "/cuttlefish_runtime"))
        self.cvd("rm", env=env)
        self.assertEqual({p: os.path.lexists(p) for p in watch}, before)
        self.assertEqual(sorted(glob.glob("/tmp/cf_avd_*") + glob.glob("/tmp/cf_env_*")), avd_before)
        self.assertFalse(os.path.exists(snap))
        self.assertFalse(os.path.exists("/tmp/cfsim-pulled-%d.png" % os.getpid()))
        self.assertTrue(os.path.exists(self.root + "/tmp/cfsim-pulled-%d.png" % os.getpid()))
        self.assertTrue(g["instances"][0]["instance_dir"].startswith(self.root))

    def test_request_log(self):
        self.create("a")
        self.cvd("--group_name=a", "stop")
        self.adb("devices")
        log = [json.loads(x) for x in open(os.path.join(self.root, "requests.log"))]
        cvd = [x for x in log if x["tool"] == "cvd"]
        self.assertEqual(cvd[0]["argv"][:2], ["--group_name=a", "create"])
        self.assertEqual(cvd[0]["group_name"], "a")
        self.assertEqual(cvd[0]["subcommand"], "create")
        self.assertEqual(cvd[0]["exit"], 0)
        self.assertEqual(cvd[1]["argv"], ["--group_name=a", "stop"])
        self.assertEqual(log[-1]["tool"], "adb")

    def test_clear_and_tap_limit(self):
        r = self.create("a", "--base_instance_num=11", ok=False)
        self.assertEqual(r.returncode, 255)
        self.assertIn("Failed to validate tap interface: cvd-wtap-11", r.stderr)
        self.assertEqual(self.group("a")["instances"][0]["status"], "Boot Failed")
        self.create("b")
        r = self.cvd("clear")
        self.assertEqual(r.returncode, 0)
        self.assertIn("Stopped all known instances", r.stderr)
        self.assertEqual(self.fleet(), [])
        self.assertEqual(self.crosvm_for(1), [])

    def test_ctl_and_stale_sockets(self):
        self.create("a")
        pids = json.loads(self.run_tool(CTL, "pids").stdout)
        self.assertEqual(pids["a"]["1"], self.crosvm_for(1)[0])
        self.assertEqual(self.run_tool(CTL, "set-state", "a", "Cancelled").returncode, 0)
        self.assertEqual(self.group("a")["instances"][0]["status"], "Cancelled")
        self.assertEqual(self.getprop(6520).stdout, "1\n")
        self.assertEqual(self.run_tool(CTL, "kill-crosvm", "a").returncode, 0)
        deadline = time.time() + 3
        while self.crosvm_for(1) and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.crosvm_for(1), [])
        # the killed crosvm left its sockets behind
        sock = os.path.join(self.root, "tmp/cf_avd_%d/cvd-1/launcher_monitor.sock" % os.getuid())
        self.assertTrue(os.path.exists(sock))
        self.assertEqual(self.cvd("--group_name=a", "rm").returncode, 0)
        r = self.create("b", ok=False, env={"CVD_SIM_STALE_SOCKETS": "fail"})
        self.assertEqual(r.returncode, 255)
        self.assertIn("Failed to read a complete exit code", r.stderr)
        self.cvd("--group_name=b", "rm")
        self.assertEqual(self.create("c")["instances"][0]["status"], "Running")  # default: ignored
        self.run_tool(CTL, "stale-lock", "2")
        self.assertEqual(self.create("d")["instances"][0]["adb_port"], 6522)


if __name__ == "__main__":
    unittest.main()
