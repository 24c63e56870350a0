#!/usr/bin/env python3
"""End-to-end: stop codes and reasons a person can act on — an essential container
exiting, an OOM kill, a rejected field named by its JSON path, refused privilege naming the
host setting, an image that cannot be pulled — and the resource ledger holding a task in
PENDING until another one frees the CPU it needs."""
import json

from e2e import CliError, check, container, ctr, dump, run, taskdef


def expect_rejected(b, td, path_part, advice_part, what):
    try:
        b.run_task(td)
        check(False, what + ": berth run fails")
        return
    except CliError as e:
        msg = e.err
    check(path_part in msg and advice_part in msg, what, msg)
    stopped = [t for t in b.ps() if t["status"] == "STOPPED" and t["stop_code"] == "TaskFailedToStart"
               and path_part in (t["reason"] or "")]
    check(len(stopped) >= 1, what + ": the task is STOPPED with the reason", dump(b.ps()))


def main(berthd):
    b = berthd("fail")

    # an essential container exits
    tid = b.run_task(taskdef("exits", container("main", ["/bin/sh", "-c", "echo bye; exit 3"])))
    t = b.wait_status(tid, "STOPPED", 60)
    check(t["stop_code"] == "EssentialContainerExited"
          and t["reason"] == "Essential container in task exited: main exited with code 3", "essential exit reason", dump(t))
    check(ctr(t, "main")["exit_code"] == 3, "exit code reported", dump(t))

    # a non-essential exit does not stop the task
    tid = b.run_task(taskdef("nonessential", container("main", ["sleep", "600"]),
                             container("helper", ["/bin/sh", "-c", "exit 5"], essential=False)))
    t = b.wait_task(tid, lambda t: ctr(t, "helper")["status"] == "STOPPED", 60, "helper stopped")
    check(t["status"] == "RUNNING" and ctr(t, "helper")["exit_code"] == 5, "a non-essential exit leaves the task RUNNING",
          dump(t))
    b.cli("stop", tid)
    b.wait_status(tid, "STOPPED", 60)

    # OOM: a 64 MiB allocation in a 16 MiB container
    tid = b.run_task(taskdef("oom", container("hog", ["/bin/sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1"],
                                             memory=16)))
    t = b.wait_status(tid, "STOPPED", 60)
    c = ctr(t, "hog")
    check(c["exit_code"] == 137 and c["reason"] == "OutOfMemoryError: container killed due to memory usage",
          "OOM kill: exit 137 and OutOfMemoryError", dump(t))
    check(t["stop_code"] == "EssentialContainerExited" and "OutOfMemoryError" in t["reason"], "the task says why", dump(t))

    # fields berth does not implement are refused with their path and what to do instead
    td = taskdef("secret", container("main", ["true"], secrets=[{"name": "X", "valueFrom": "arn:aws:ssm:x"}]))
    expect_rejected(b, td, "containerDefinitions[0].secrets", "environment", "secrets are rejected by path")
    td = taskdef("logs", container("main", ["true"], logConfiguration={"logDriver": "awslogs", "options": {}}))
    expect_rejected(b, td, "containerDefinitions[0].logConfiguration", "awslogs", "the awslogs driver is rejected")
    td = taskdef("unknown", container("main", ["true"], fancyNewField=1))
    expect_rejected(b, td, "containerDefinitions[0].fancyNewField", "unknown", "unknown fields are rejected")

    # privilege the host does not allow: the refusal names the host setting
    td = taskdef("priv", container("main", ["true"], privileged=True))
    expect_rejected(b, td, "privileged", "ALLOW_PRIVILEGED", "privileged refused, naming ALLOW_PRIVILEGED")
    td = taskdef("caps", container("main", ["true"], linuxParameters={"capabilities": {"add": ["NET_ADMIN"]}}))
    expect_rejected(b, td, "NET_ADMIN", "ALLOWED_CAPABILITIES", "an extra capability refused, naming ALLOWED_CAPABILITIES")

    # an image that is not there (pull policy never: no registry involved)
    td = taskdef("nopull", {"name": "main", "image": "localhost/berth-test/absent:v1", "essential": True, "memory": 32},
                 berth={"pullPolicy": "never"})
    tid = b.run_task(td)
    t = b.wait_status(tid, "STOPPED", 60)
    check(t["stop_code"] == "TaskFailedToStart" and t["reason"].startswith("CannotPullContainerError:")
          and "absent" in t["reason"], "CannotPullContainerError with the cause", dump(t))
    check(ctr(t, "main")["reason"].startswith("CannotPullContainerError"), "the container carries the reason too")

    # the ledger: 2048 CPU units here; a 1536 task runs, a 1024 task waits, then runs
    info = json.loads(b.cli("info").stdout)
    total = info["resources"]["cpu"]
    big = b.run_task(taskdef("big", container("main", ["sleep", "600"]), cpu=str(total - 512), memory="64"))
    b.wait_status(big, "RUNNING", 60)
    small = b.run_task(taskdef("small", container("main", ["sleep", "600"]), cpu="1024", memory="64"))
    t = b.wait_task(small, lambda t: t["status"] == "PENDING" and (t["reason"] or "").startswith("waiting for resources"),
                    30, "PENDING waiting for resources")
    check("1024 CPU units" in t["reason"], "the PENDING reason says what is missing", t["reason"])
    b.cli("stop", big)
    t = b.wait_status(small, "RUNNING", 60)
    check(True, "the waiting task starts once resources are free")
    huge = b.run_task(taskdef("huge", container("main", ["true"]), cpu=str(total + 1024), memory="64"))
    t = b.wait_status(huge, "STOPPED", 30)
    check("this node has" in (t["reason"] or ""), "a task that can never fit is stopped at once", dump(t))
    b.cli("stop", small)
    b.wait_status(small, "STOPPED", 60)


if __name__ == "__main__":
    run(main)
