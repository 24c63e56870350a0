#!/usr/bin/env python3
"""Integration test of berth-shim with a real OCI runtime and busybox containers: exit
status through the subreaper, JSON-lines logs with rotation, exec with captured output and
timeout, kill, delete, a reconnecting client (berthd restart) that finds exits recorded
while it was away, and refusal of shutdown while containers exist.
Usage: test-shim.py SHIM RUNTIME ROOTFS_SCRIPT"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
from shimclient import ShimClient  # noqa: E402

SHIM, RUNTIME, MKROOTFS = sys.argv[1:4]
if os.geteuid() != 0:
    print("SKIP: needs root (namespaces, mounts)")
    sys.exit(77)

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


work = tempfile.mkdtemp(prefix="berth-test-shim.")
state = os.path.join(work, "state")
rroot = os.path.join(work, "runtime-root")
logs = os.path.join(work, "logs")
for d in (state, rroot, logs):
    os.makedirs(d)
rootfs = os.path.join(work, "rootfs")
subprocess.run([MKROOTFS, rootfs], check=True)
shim = None
ids = []


def bundle(name, args, readonly=True):
    b = os.path.join(work, "bundle-" + name)
    os.makedirs(b)
    spec = subprocess.run([RUNTIME, "spec", "--bundle", b] if "berth-runtime" in RUNTIME else [RUNTIME, "spec"],
                          cwd=b, check=True, capture_output=True)
    del spec
    with open(os.path.join(b, "config.json")) as f:
        cfg = json.load(f)
    cfg["root"] = {"path": rootfs, "readonly": readonly}
    cfg["process"]["args"] = args
    cfg["process"]["terminal"] = False
    cfg["hostname"] = name
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump(cfg, f)
    return b


def start_shim(extra=()):
    return subprocess.Popen([SHIM, "--task", "t-%d" % os.getpid(), "--state-dir", state,
                             "--runtime", RUNTIME, "--runtime-root", rroot,
                             "--log-max-bytes", "4096", "--log-max-files", "3", *extra],
                            stderr=open(os.path.join(work, "shim.err"), "w"))


def connect():
    sock = os.path.join(state, "shim.sock")
    for _ in range(100):
        if os.path.exists(sock):
            try:
                return ShimClient(sock)
            except OSError:
                pass
        time.sleep(0.05)
    raise RuntimeError("shim socket did not appear")


try:
    shim = start_shim()
    c = connect()
    rid = "berth-test-shim-%d-" % os.getpid()

    # exit status and logs
    b = bundle("c1", ["/bin/sh", "-c", "echo out1; echo err1 >&2; exit 3"])
    r = c.call("create", container="c1", runtime_id=rid + "c1", bundle=b, log_path=os.path.join(logs, "c1.log"))
    ids.append(rid + "c1")
    check(r["ok"] and r["pid"] > 0, "create answers with the container pid")
    check(c.call("start", container="c1")["ok"], "start")
    e = c.wait_event(lambda e: e["event"] == "exit" and e["container"] == "c1")
    check(e["exit_code"] == 3, "exit code 3 reaches the shim (subreaper) and its client")
    with open(os.path.join(state, "c1.exit")) as f:
        check(json.load(f)["exit_code"] == 3, "exit recorded on disk")
    with open(os.path.join(logs, "c1.log")) as f:
        recs = [json.loads(l) for l in f]
    check({(x["stream"], x["log"]) for x in recs} == {("stdout", "out1\n"), ("stderr", "err1\n")},
          "stdout and stderr in JSON lines")
    check(all("time" in x for x in recs), "every log record has a time")
    check(not c.call("start", container="c1")["ok"], "start of a stopped container is refused")
    check(c.call("delete", container="c1")["ok"], "delete")

    # a killed container reports 128+signal
    b = bundle("c2", ["/bin/sh", "-c", "i=0; while true; do echo line-$i-padding-padding-padding; i=$((i+1)); done"])
    r = c.call("create", container="c2", runtime_id=rid + "c2", bundle=b, log_path=os.path.join(logs, "c2.log"))
    ids.append(rid + "c2")
    check(c.call("start", container="c2")["ok"], "start c2")
    time.sleep(0.5)
    # exec with captured output, and an exec that times out
    proc = os.path.join(work, "proc.json")
    with open(proc, "w") as f:
        json.dump({"args": ["/bin/sh", "-c", "hostname; exit 5"], "cwd": "/", "env": ["PATH=/bin"],
                   "user": {"uid": 0, "gid": 0}}, f)
    r = c.call("exec", container="c2", process=proc, exec_id="e1", capture=True, timeout_ms=10000)
    check(r["ok"], "exec started")
    e = c.wait_event(lambda e: e["event"] == "exec-exit" and e["exec_id"] == "e1")
    check(e["exit_code"] == 5 and e["output"] == "c2\n" and not e["timed_out"],
          "exec exit code and captured output")
    with open(proc, "w") as f:
        json.dump({"args": ["/bin/sleep", "60"], "cwd": "/", "env": ["PATH=/bin"],
                   "user": {"uid": 0, "gid": 0}}, f)
    c.call("exec", container="c2", process=proc, exec_id="e2", capture=True, timeout_ms=300)
    e = c.wait_event(lambda e: e["event"] == "exec-exit" and e["exec_id"] == "e2")
    check(e["timed_out"] and e["exit_code"] == 137, "exec past its timeout is killed")

    # berthd "restarts": the client goes away, the container dies meanwhile
    c.close()
    shim.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    check(shim.poll() is None, "the shim ignores SIGTERM (containers must not be orphaned)")
    with open(os.path.join(state, "shim.pid")) as f:
        pid = int(f.read())
    status = open("/proc/%d/status" % pid).read()
    rss = int([l for l in status.splitlines() if l.startswith("VmRSS")][0].split()[1])
    print("     shim VmRSS with a running, logging container: %d kB" % rss)
    subprocess.run([RUNTIME, "--root", rroot, "kill", rid + "c2", "KILL"], check=True)
    time.sleep(0.5)
    c = connect()
    st = c.call("state")
    c2 = [x for x in st["containers"] if x["name"] == "c2"][0]
    check(c2["status"] == "stopped" and c2["exit_code"] == 137, "a reconnecting client finds the exit")
    names = sorted(n for n in os.listdir(logs) if n.startswith("c2.log"))
    check(names == ["c2.log", "c2.log.1", "c2.log.2"], "logs rotate at the size limit, keeping 3 files: %s" % names)
    for n in names:
        check(os.path.getsize(os.path.join(logs, n)) < 4096 + 200, "rotated file %s stays near the limit" % n)
    check(not c.call("shutdown")["ok"], "shutdown refused while a container exists")
    check(c.call("delete", container="c2")["ok"], "delete c2")
    check(c.call("shutdown")["ok"], "shutdown")
    shim.wait(timeout=10)
    check(shim.returncode == 0, "shim exits 0 after shutdown")
    check(not os.path.exists(os.path.join(state, "shim.sock")), "socket removed on shutdown")
finally:
    if shim and shim.poll() is None:
        shim.kill()
        shim.wait()
    for i in ids:
        subprocess.run([RUNTIME, "--root", rroot, "delete", "--force", i], capture_output=True)
    shutil.rmtree(work, ignore_errors=True)

if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
print("all checks passed")
