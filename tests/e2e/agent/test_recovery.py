#!/usr/bin/env python3
"""End-to-end: berthd killed -9 at any moment — with tasks running, mid-start, mid-stop,
and while a container exits — then restarted: every task is found as it is (same
containers, no duplicates), exits that happened while berthd was down are reported, and
nothing is leaked (mounts, netns, leases, veths, shims, cgroups)."""
import json
import os
import random
import signal
import time

from e2e import check, container, ctr, dump, run, taskdef
from leaks import diff, snapshot


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def main(berthd):
    b = berthd("recover")
    base = snapshot(b)

    # ---- a running task survives berthd's death
    web = container("web", ["httpd", "-f", "-p", "80", "-h", "/"])
    tid = b.run_task(taskdef("survivor", web))
    b.wait_status(tid, "RUNNING", 60)
    insp = json.loads(b.cli("inspect", tid).stdout)
    pid, shim = ctr(insp, "web")["pid"], insp["shim_pid"]
    b.kill9()
    check(pid_alive(pid) and pid_alive(shim), "container and shim keep running when berthd is killed -9")
    took = b.start()
    print("     berthd restart to READY with one task: %.3f s" % took)
    t = b.task(tid)
    check(t["status"] == "RUNNING" and len([x for x in b.ps() if x["task_id"] == tid]) == 1,
          "after restart the task is RUNNING, once", dump(t))
    insp = json.loads(b.cli("inspect", tid).stdout)
    check(ctr(insp, "web")["pid"] == pid, "the same container process was re-adopted", dump(insp))

    # ---- an exit while berthd is down is not lost
    b.kill9()
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    b.start()
    t = b.wait_status(tid, "STOPPED", 60)
    check(t["stop_code"] == "EssentialContainerExited" and ctr(t, "web")["exit_code"] == 137,
          "the exit recorded while berthd was down stops the task with its code", dump(t))

    # ---- kill -9 at random moments of starting and stopping tasks
    rnd = random.Random(int(os.environ.get("BERTH_TEST_SEED", "1234")))
    for i in range(6):
        td = taskdef("chaos%d" % i, container("a", ["sleep", "600"]),
                     container("b", ["sleep", "600"], dependsOn=[{"containerName": "a", "condition": "START"}]))
        tid = b.run_task(td)
        time.sleep(rnd.uniform(0, 0.4))
        b.kill9()
        b.start()
        t = b.wait_task(tid, lambda t: t["status"] in ("RUNNING", "STOPPED"), 60, "settled")
        check(t["status"] == "RUNNING", "chaos %d: killed mid-start, the task still reaches RUNNING" % i, dump(t))
        b.cli("stop", tid)
        time.sleep(rnd.uniform(0, 0.3))
        b.kill9()
        b.start()
        t = b.wait_status(tid, "STOPPED", 90)
        check(t["stop_code"] == "UserInitiated", "chaos %d: killed mid-stop, the stop completes" % i, dump(t))
        check(len([x for x in b.ps() if x["task_id"] == tid]) == 1, "chaos %d: no duplicate task" % i)

    for t in b.ps():
        b.cli("rm", t["task_id"], check=False)
    time.sleep(0.5)
    leaked = diff(base, snapshot(b))
    check(not leaked, "nothing leaked (mounts, netns, leases, veths, shims, cgroups)", leaked)


if __name__ == "__main__":
    run(main)
