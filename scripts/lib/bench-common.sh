# Helpers shared by scripts/bench-qemu and scripts/bench-memory (sourced, not run).
# The caller sets `bench` (its name, for messages) and `tmp` (its temporary directory)
# before calling anything here.

now() { date +%s%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e6 }'; }

# Kills PID if it is alive and its command line names WHAT (a path of this run).
kill_ours() {
    local pid=$1 what=$2 i
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 0
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$what" || return 0
    kill "$pid" 2>/dev/null || true
    for i in $(seq 50); do [ -d "/proc/$pid" ] || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}

# wait_token NS: polls GET /token from inside NS every 100 ms, up to 180 s.
wait_token() {
    local ns=$1 i
    for i in $(seq 1800); do
        if ip netns exec "$ns" curl -sf --connect-timeout 1 -m 2 http://192.168.0.2:8080/token >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "$bench: the guest in $ns never answered /token" >&2
    return 1
}

# qmp OP SOCKET [ARG]: one request to the QMP client the caller started with
#   coproc QMPC { exec python3 -u "$(write_qmp_client)"; }
# prints the op's milliseconds (and any extra figure); fails on an error.
qmp() {
    local reply
    echo "$*" >&"${QMPC[1]}"
    read -r reply <&"${QMPC[0]}" || { echo "$bench: the QMP client died" >&2; return 1; }
    case "$reply" in
        ok\ *) echo "${reply#ok }" ;;
        *) echo "$bench: $reply" >&2; return 1 ;;
    esac
}

# write_qmp_client: writes the client to $tmp/qmp.py and prints its path. One python
# process for a whole run: lines "OP SOCKET [ARG]" in, "ok MS [EXTRA]" or "err TEXT" out.
# MS covers connect, qmp_capabilities, the command(s) and their confirmation.
write_qmp_client() {
    cat >"$tmp/qmp.py" <<'PY'
import json, os, signal, socket, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)   # ^C is the script's to handle; it ends this client

class QMP:
    def __init__(self, path, timeout=10.0):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.f = self.s.makefile("rwb")
        self.n = 0
        json.loads(self.f.readline())            # the greeting
        self.cmd("qmp_capabilities")
    def cmd(self, execute, fd=None, **arguments):
        self.n += 1
        msg = {"execute": execute, "id": self.n}
        if arguments: msg["arguments"] = arguments
        data = json.dumps(msg).encode() + b"\n"
        if fd is None:
            self.f.write(data); self.f.flush()
        else:                                     # getfd: the descriptor rides along (SCM_RIGHTS)
            socket.send_fds(self.s, [data], [fd])
        while True:
            line = self.f.readline()
            if not line: raise RuntimeError(f"{execute}: QMP closed")
            r = json.loads(line)
            if "event" in r: continue
            if r.get("id") != self.n: continue
            if "error" in r: raise RuntimeError(f"{execute}: {r['error'].get('desc')}")
            return r.get("return")
    def close(self): self.s.close()

def status(q): return q.cmd("query-status")["status"]

def wait_qmp(path, timeout):
    # Like Converge's spawn: wait until the socket exists and answers.
    deadline = time.monotonic() + float(timeout)
    while True:
        try:
            return QMP(path, timeout=5)
        except OSError:
            if time.monotonic() > deadline: raise RuntimeError(f"no QMP on {path} after {timeout}s")
            time.sleep(0.01)

def op_start(path, timeout="10"):
    t0 = time.monotonic()
    q = wait_qmp(path, timeout)
    t1 = time.monotonic()
    if status(q) == "prelaunch": q.cmd("cont")
    q.cmd("qom-set", path="/machine/peripheral/balloon0", property="guest-stats-polling-interval", value=2)
    if status(q) != "running": raise RuntimeError("not running after cont")
    q.close()
    return f"{(t1 - t0) * 1000:.3f}"   # of which: until QMP answered

def op_stop(path):
    q = QMP(path); q.cmd("stop")
    if status(q) != "paused": raise RuntimeError("not paused after stop")
    q.close()

def op_cont(path):
    q = QMP(path); q.cmd("cont")
    if status(q) != "running": raise RuntimeError("not running after cont")
    q.close()

def op_plug(path, mib):
    q = QMP(path)
    before = q.cmd("query-memory-size-summary")
    current = before["base-memory"] + before.get("plugged-memory", 0)
    size = int(mib) << 20
    ident = f"dimm{current >> 20}m"
    q.cmd("object-add", **{"qom-type": "memory-backend-ram", "id": "mem-" + ident, "size": size})
    q.cmd("device_add", driver="pc-dimm", id=ident, memdev="mem-" + ident)
    after = q.cmd("query-memory-size-summary")
    if after["base-memory"] + after.get("plugged-memory", 0) != current + size:
        raise RuntimeError(f"memory summary after plug: {after}")
    q.close()

def op_save(path, file):
    # stop, then the state to FILE: getfd + migrate fd:, polled until completed (2 ms), fsync.
    q = QMP(path, timeout=120)
    if status(q) == "running": q.cmd("stop")
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        q.cmd("getfd", fd=fd, fdname="mig")
        q.cmd("migrate", uri="fd:mig")
        while True:
            info = q.cmd("query-migrate")
            if info.get("status") == "completed": break
            if info.get("status") in ("failed", "cancelled"): raise RuntimeError(f"migrate: {info}")
            time.sleep(0.002)
        os.fsync(fd)
    finally:
        os.close(fd)
    q.close()

def op_load(path, file, timeout="30"):
    # A QEMU started with -incoming defer: getfd + migrate-incoming, polled until paused, cont.
    t0 = time.monotonic()
    q = wait_qmp(path, timeout)
    t1 = time.monotonic()
    fd = os.open(file, os.O_RDONLY | os.O_CLOEXEC)
    try:
        q.cmd("getfd", fd=fd, fdname="inc")
        q.cmd("migrate-incoming", uri="fd:inc")
        while status(q) not in ("paused", "running"): time.sleep(0.002)
    finally:
        os.close(fd)
    q.close()
    return f"{(t1 - t0) * 1000:.3f}"   # of which: until QMP answered

def op_quit(path):
    q = QMP(path); q.cmd("quit"); q.close()

def op_ping(path, timeout="30"):
    q = wait_qmp(path, timeout)
    q.cmd("query-status"); q.close()

ops = {"ping": op_ping, "start": op_start, "stop": op_stop, "cont": op_cont, "plug": op_plug, "quit": op_quit,
       "save": op_save, "load": op_load}
for line in sys.stdin:
    words = line.split()
    if not words: continue
    t0 = time.monotonic()
    try:
        extra = ops[words[0]](*words[1:])
        print(f"ok {(time.monotonic() - t0) * 1000:.3f}" + (f" {extra}" if extra else ""), flush=True)
    except Exception as e:
        print(f"err {words[0]}: {e}".replace("\n", " "), flush=True)
PY
    echo "$tmp/qmp.py"
}
