"""cfsimctl: test-side actions on the simulated world (not part of cvd/adb)."""

import json
import os
import signal
import socket
import sys

from . import common, cvd, paths

USAGE = """usage: cfsimctl <action> ...
  pids                                   JSON {group: {instance_name: pid|null}}
  kill-crosvm GROUP [INSTANCE] [--signal=KILL|TERM|STOP|CONT]
                                         signal the group's crosvm stand-in(s) (recorded pids only)
  set-state GROUP STATE [INSTANCE]       overwrite the DB state (e.g. Cancelled, Unreachable)
  stale-lock ID                          mark local-instance-ID.lock in use ("I") with no group
  leftovers ID                           leave stale cf_avd/cf_env sockets for instance ID
"""


def main(argv):
    common.sim_root()
    if not argv:
        sys.stderr.write(USAGE)
        return 2
    act, args = argv[0], argv[1:]
    flags = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in args if a.startswith("--") and "=" in a}
    args = [a for a in args if not a.startswith("--")]
    if act == "pids":
        db = cvd.db_read()
        print(json.dumps({g["name"]: {i["name"]: i.get("pid") for i in g["instances"]}
                          for g in db["instance_groups"]}, sort_keys=True))
        return 0
    if act == "kill-crosvm" and args:
        sig = getattr(signal, "SIG" + flags.get("--signal", "KILL").upper())
        g = cvd.find_group(cvd.db_read(), args[0])
        if g is None:
            sys.stderr.write("no group %s\n" % args[0])
            return 1
        n = 0
        for i in g["instances"]:
            if len(args) > 1 and i["name"] != args[1]:
                continue
            if i.get("pid") and common.is_sim_crosvm(i["pid"], i["id"]):
                os.kill(i["pid"], sig)
                n += 1
        return 0 if n else 1
    if act == "set-state" and len(args) >= 2:
        if args[1] not in cvd.STATES:
            sys.stderr.write("state must be one of %s\n" % ", ".join(cvd.STATES))
            return 2
        with cvd.db_tx() as db:
            g = cvd.find_group(db, args[0])
            if g is None:
                sys.stderr.write("no group %s\n" % args[0])
                return 1
            for i in g["instances"]:
                if len(args) < 3 or i["name"] == args[2]:
                    i["state"] = args[1]
        return 0
    if act == "stale-lock" and args:
        cvd.set_lock(int(args[0]), "I")
        return 0
    if act == "leftovers" and args:
        iid = int(args[0])
        for path in (paths.monitor_socket(iid), paths.control_socket(iid)):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if os.path.lexists(path):
                os.unlink(path)
            s = paths.bind_unix(path)
            s.close()  # the socket file outlives its listener: a stale socket
        os.makedirs(os.path.join(paths.env_dir(), "cvd-%d" % iid), exist_ok=True)
        return 0
    sys.stderr.write(USAGE)
    return 2
