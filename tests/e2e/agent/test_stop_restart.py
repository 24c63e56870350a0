#!/usr/bin/env python3
"""End-to-end: stopTimeout escalation to SIGKILL of every process of the container, the
image's stop signal, and the restart policy (restart after restartAttemptPeriod, not
before; ignored exit codes)."""
import time

from e2e import check, container, ctr, dump, run, taskdef


def main(berthd):
    b = berthd("stop")

    # ignores SIGTERM, with a child that would outlive its parent
    td = taskdef("stubborn", container("main", ["/bin/sh", "-c", "trap '' TERM; (trap '' TERM; sleep 600) & "
                                                                 "while true; do sleep 1; done"], stopTimeout=2))
    tid = b.run_task(td)
    b.wait_status(tid, "RUNNING", 60)
    t0 = time.monotonic()
    b.cli("stop", tid)
    t = b.wait_status(tid, "STOPPED", 60)
    took = time.monotonic() - t0
    check(ctr(t, "main")["exit_code"] == 137, "killed with SIGKILL after stopTimeout (137)", dump(t))
    check(2.0 <= took < 15, "stop waited stopTimeout (2 s) before the kill: %.1f s" % took)

    # berth.containers.<name>.stopSignal: SIGINT instead of SIGTERM
    td = taskdef("sigint", container("main", ["/bin/sh", "-c", "trap 'echo got INT; exit 0' INT; trap '' TERM; "
                                                               "while true; do sleep 0.2; done"], stopTimeout=20),
                 berth={"containers": {"main": {"stopSignal": "SIGINT"}}})
    tid = b.run_task(td)
    b.wait_status(tid, "RUNNING", 60)
    b.cli("stop", tid)
    t = b.wait_status(tid, "STOPPED", 30)
    check(ctr(t, "main")["exit_code"] == 0 and "got INT" in b.cli("logs", tid).stdout, "the configured stop signal is sent",
          dump(t))

    # a container that dies quickly is not restarted (restartAttemptPeriod protects
    # against loops): the essential container's exit stops the task
    rp = {"enabled": True, "restartAttemptPeriod": 60}
    tid = b.run_task(taskdef("quick-death", container("main", ["/bin/sh", "-c", "exit 4"], restartPolicy=rp)))
    t = b.wait_status(tid, "STOPPED", 60)
    check(ctr(t, "main")["restart_count"] == 0 and t["stop_code"] == "EssentialContainerExited",
          "no restart before restartAttemptPeriod", dump(t))

    # after running restartAttemptPeriod (60 s, ECS's minimum) it is restarted; an ignored
    # exit code is not
    tid = b.run_task(taskdef("restart",
                             container("main", ["/bin/sh", "-c", "sleep 61; exit 1"], restartPolicy=rp),
                             container("ignored", ["/bin/sh", "-c", "sleep 61; exit 9"], essential=False,
                                       restartPolicy=dict(rp, ignoredExitCodes=[9]))))
    t = b.wait_task(tid, lambda t: ctr(t, "main")["restart_count"] >= 1 and ctr(t, "main")["status"] == "RUNNING",
                    120, "main restarted")
    check(t["status"] == "RUNNING", "the task keeps running across the restart", dump(t))
    t = b.wait_task(tid, lambda t: ctr(t, "ignored")["status"] == "STOPPED", 30, "ignored stopped")
    check(ctr(t, "ignored")["exit_code"] == 9 and ctr(t, "ignored")["restart_count"] == 0,
          "an ignored exit code is not restarted", dump(t))
    b.cli("stop", tid)
    b.wait_status(tid, "STOPPED", 60)


if __name__ == "__main__":
    run(main)
