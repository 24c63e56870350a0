#!/usr/bin/env python3
"""End-to-end: dependsOn with each condition (START, COMPLETE, SUCCESS, HEALTHY),
startTimeout, and health checks run by berth (healthy, unhealthy essential container stops
the task, a check that times out)."""
import json

from e2e import check, container, ctr, dump, run, taskdef, wait_until

VOL = [{"name": "shared"}]
MP = [{"sourceVolume": "shared", "containerPath": "/shared"}]


def main(berthd):
    b = berthd("deps")

    # COMPLETE: the app starts after init exited, whatever its code; a task volume carries data
    td = taskdef("complete",
                 container("init", ["/bin/sh", "-c", "echo prepared > /shared/x; exit 1"], essential=False,
                           mountPoints=MP),
                 container("app", ["/bin/sh", "-c", "cat /shared/x; sleep 600"], mountPoints=MP,
                           dependsOn=[{"containerName": "init", "condition": "COMPLETE"}]),
                 volumes=VOL)
    tid = b.run_task(td)
    t = b.wait_status(tid, "RUNNING", 60)
    check(ctr(t, "init")["exit_code"] == 1, "COMPLETE: init ran to its end (exit 1)", dump(t))
    check(wait_until(lambda: "prepared" in b.cli("logs", tid, "app").stdout, 10),
          "COMPLETE: app started after init and sees its data through the task volume")
    insp = json.loads(b.cli("inspect", tid).stdout)
    check(ctr(insp, "init")["finished_at"] <= ctr(insp, "app")["started_at"], "COMPLETE: ordering",
          "%s %s" % (ctr(insp, "init")["finished_at"], ctr(insp, "app")["started_at"]))
    b.cli("stop", tid)

    # SUCCESS: satisfied by exit 0, fails the task on anything else
    ok = b.run_task(taskdef("success-ok",
                            container("init", ["true"], essential=False),
                            container("app", ["sleep", "600"], dependsOn=[{"containerName": "init", "condition": "SUCCESS"}])))
    bad = b.run_task(taskdef("success-bad",
                             container("init", ["/bin/sh", "-c", "exit 2"], essential=False),
                             container("app", ["sleep", "600"], dependsOn=[{"containerName": "init", "condition": "SUCCESS"}])))
    b.wait_status(ok, "RUNNING", 60)
    check(True, "SUCCESS: app starts after init exits 0")
    t = b.wait_status(bad, "STOPPED", 60)
    check(t["stop_code"] == "TaskFailedToStart" and "SUCCESS" in t["reason"] and "code 2" in t["reason"],
          "SUCCESS: a non-zero exit fails the task with the reason", dump(t))
    check(ctr(t, "app")["status"] in ("PENDING", "PULLED", "CREATED", "STOPPED") and ctr(t, "app")["exit_code"] is None,
          "SUCCESS: app never ran", dump(t))
    b.cli("stop", ok)

    # HEALTHY: app waits for db's health check; db becomes healthy after it writes /tmp/ready
    hc = {"command": ["CMD-SHELL", "test -f /tmp/ready"], "interval": 5, "timeout": 2, "retries": 2}
    td = taskdef("healthy",
                 container("db", ["/bin/sh", "-c", "sleep 1; touch /tmp/ready; sleep 600"], healthCheck=hc),
                 container("app", ["sleep", "600"], dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]))
    tid = b.run_task(td)
    t = b.wait_task(tid, lambda t: ctr(t, "db")["health"] == "HEALTHY", 60, "db HEALTHY")
    t = b.wait_status(tid, "RUNNING", 30)
    check(ctr(t, "app")["status"] == "RUNNING", "HEALTHY: app starts once db is healthy", dump(t))
    # the check keeps running: break it, the essential db becomes UNHEALTHY, the task stops
    b.cli("exec", "-c", "db", tid, "rm", "/tmp/ready")
    t = b.wait_status(tid, "STOPPED", 60)
    check(t["stop_code"] == "EssentialContainerUnhealthy" and "db" in t["reason"], "an unhealthy essential container stops the task",
          dump(t))
    check(ctr(t, "db")["health"] == "UNHEALTHY", "health UNHEALTHY reported", dump(t))
    insp = json.loads(b.cli("inspect", tid).stdout)
    check("health_output" in ctr(insp, "db"), "inspect keeps the last health check output")

    # a health check that hangs times out and counts as a failure; non-essential: task goes on
    hc = {"command": ["CMD", "sleep", "30"], "interval": 5, "timeout": 2, "retries": 1}
    td = taskdef("hc-timeout", container("main", ["sleep", "600"]),
                 container("hang", ["sleep", "600"], essential=False, healthCheck=hc))
    tid = b.run_task(td)
    t = b.wait_task(tid, lambda t: ctr(t, "hang")["health"] == "UNHEALTHY", 60, "hang UNHEALTHY")
    check(t["status"] == "RUNNING", "an unhealthy non-essential container leaves the task running", dump(t))
    b.cli("stop", tid)

    # startTimeout: app gives up waiting for a dependency that never becomes healthy
    hc = {"command": ["CMD", "false"], "interval": 5, "timeout": 2, "retries": 10}
    td = taskdef("start-timeout",
                 container("db", ["sleep", "600"], healthCheck=hc),
                 container("app", ["sleep", "600"], startTimeout=3,
                           dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]))
    tid = b.run_task(td)
    t = b.wait_status(tid, "STOPPED", 60)
    check(t["stop_code"] == "TaskFailedToStart" and "startTimeout" in t["reason"], "startTimeout fails the task", dump(t))


if __name__ == "__main__":
    run(main)
