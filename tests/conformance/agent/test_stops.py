#!/usr/bin/env python3
"""Conformance: how tasks end and in which order containers start and stop, as the endpoint
hears it. Several tasks assigned at once through berth-endpoint:
  exits      essential exit 3 (EssentialContainerExited, exit codes), a non-essential exit 5
             that leaves the task RUNNING
  oom        64 MiB in a 16 MiB container: exit 137, OutOfMemoryError
  priv       privileged, refused by the host policy: TaskFailedToStart naming the field
  nopull     an image that is not there (pull policy never): TaskFailedToStart,
             CannotPullContainerError
  badinit    dependsOn SUCCESS of a container that exits 1: TaskFailedToStart, the dependant
             never started
  unhealthy  an essential container whose health check fails: UNHEALTHY, then
             EssentialContainerUnhealthy
  norestart  restartPolicy, but the container ran less than restartAttemptPeriod: no restart
  order      init (SUCCESS) and db (HEALTHY) before app, side after app (START); a
             non-essential container turning UNHEALTHY leaves the task RUNNING; stopped by the
             endpoint in reverse order, stop signal first (exit 0 on TERM), SIGKILL after
             stopTimeout (137); UserInitiated
and every task's changes checked against the protocol's rules."""
from harness import check, container, ctr, dump, first_index, run, taskdef, verify_changes


def health(cmd, retries=1):
    return {"command": ["CMD-SHELL", cmd], "interval": 5, "timeout": 2, "retries": retries, "startPeriod": 0}


def main(ctx):
    ep = ctx.endpoint("stops")
    b = ctx.node("stops", ep.url)

    defs = {
        "exits": taskdef("exits", container("main", ["/bin/sh", "-c", "sleep 4; exit 3"]),
                         container("helper", ["/bin/sh", "-c", "exit 5"], essential=False)),
        "oom": taskdef("oom", container("hog", ["/bin/sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1"],
                                        memory=16)),
        "priv": taskdef("priv", container("main", ["true"], privileged=True)),
        "nopull": taskdef("nopull", {"name": "main", "image": "localhost/berth-test/absent:v1", "essential": True,
                                     "memory": 32}, berth={"pullPolicy": "never"}),
        "badinit": taskdef("badinit", container("init", ["/bin/sh", "-c", "exit 1"], essential=False),
                           container("app", ["sleep", "600"],
                                     dependsOn=[{"containerName": "init", "condition": "SUCCESS"}])),
        "unhealthy": taskdef("unhealthy", container("main", ["sleep", "600"], healthCheck=health("exit 1"))),
        "norestart": taskdef("norestart", container("main", ["/bin/sh", "-c", "exit 2"],
                                                    restartPolicy={"enabled": True, "restartAttemptPeriod": 60})),
        "order": taskdef(
            "order",
            container("init", ["/bin/sh", "-c", "echo ready > /shared/ready"], essential=False,
                      mountPoints=[{"sourceVolume": "shared", "containerPath": "/shared"}]),
            container("db", ["/bin/sh", "-c", "sleep 1; touch /tmp/healthy; exec sleep 600"],
                      healthCheck=health("test -f /tmp/healthy")),
            container("app", ["/bin/sh", "-c", "cat /shared/ready && exec sleep 600"],
                      mountPoints=[{"sourceVolume": "shared", "containerPath": "/shared"}],
                      dependsOn=[{"containerName": "init", "condition": "SUCCESS"},
                                 {"containerName": "db", "condition": "HEALTHY"}]),
            container("side", ["/bin/sh", "-c", "trap 'echo side got TERM; exit 0' TERM; while :; do sleep 0.2; done"],
                      essential=False, dependsOn=[{"containerName": "app", "condition": "START"}]),
            container("probe", ["sleep", "600"], essential=False, healthCheck=health("exit 1", retries=2)),
            volumes=[{"name": "shared"}]),
    }
    ids = {name: ep.submit(d) for name, d in defs.items()}

    # exits
    ch = ep.wait_change(ids["exits"], lambda c: c["status"] == "RUNNING" and ctr(c, "helper")["status"] == "STOPPED",
                        60, "RUNNING with helper STOPPED")
    check(ctr(ch, "helper")["exit_code"] == 5 and ctr(ch, "main")["status"] == "RUNNING",
          "exits: a non-essential exit (5) is reported and the task is RUNNING", dump(ch))
    ch = ep.wait_status(ids["exits"], "STOPPED", 60)
    check(ch["stop_code"] == "EssentialContainerExited"
          and ch["reason"] == "Essential container in task exited: main exited with code 3",
          "exits: EssentialContainerExited, the reason names the container and its code", dump(ch))
    check(ctr(ch, "main")["exit_code"] == 3 and ctr(ch, "helper")["exit_code"] == 5, "exits: both exit codes")

    # oom
    ch = ep.wait_status(ids["oom"], "STOPPED", 60)
    c = ctr(ch, "hog")
    check(c["exit_code"] == 137 and c["reason"] == "OutOfMemoryError: container killed due to memory usage",
          "oom: exit 137 and OutOfMemoryError", dump(ch))
    check(ch["stop_code"] == "EssentialContainerExited" and "OutOfMemoryError" in (ch["reason"] or ""),
          "oom: the task's reason says OutOfMemoryError", dump(ch))

    # refused by the host's policy
    ch = ep.wait_status(ids["priv"], "STOPPED", 60)
    check(ch["stop_code"] == "TaskFailedToStart" and "containerDefinitions[0].privileged" in (ch["reason"] or "")
          and "ALLOW_PRIVILEGED" in ch["reason"], "priv: TaskFailedToStart naming the field and the host setting",
          dump(ch))
    check(all(c["status"] != "RUNNING" for x in ep.changes(ids["priv"]) for c in x["containers"]),
          "priv: no container ever ran")

    ch = ep.wait_status(ids["nopull"], "STOPPED", 60)
    check(ch["stop_code"] == "TaskFailedToStart" and (ch["reason"] or "").startswith("CannotPullContainerError:")
          and "absent" in ch["reason"], "nopull: CannotPullContainerError with the image", dump(ch))
    check(ch["timestamps"]["pull_started"] is not None and ch["timestamps"]["pull_stopped"] is not None,
          "nopull: the pull's timestamps are reported", dump(ch["timestamps"]))

    ch = ep.wait_status(ids["badinit"], "STOPPED", 60)
    check(ch["stop_code"] == "TaskFailedToStart" and "SUCCESS" in (ch["reason"] or "") and "init" in ch["reason"],
          "badinit: TaskFailedToStart, the reason names the failed dependency", dump(ch))
    check(all(ctr(x, "app")["status"] not in ("RUNNING",) for x in ep.changes(ids["badinit"])),
          "badinit: the dependant never ran")
    check(ctr(ch, "init")["exit_code"] == 1, "badinit: init's exit code 1 reported")

    ch = ep.wait_change(ids["unhealthy"], lambda c: ctr(c, "main")["health"] == "UNHEALTHY", 60, "UNHEALTHY")
    ch = ep.wait_status(ids["unhealthy"], "STOPPED", 60)
    check(ch["stop_code"] == "EssentialContainerUnhealthy" and "main" in (ch["reason"] or ""),
          "unhealthy: UNHEALTHY reported, then EssentialContainerUnhealthy", dump(ch))

    ch = ep.wait_status(ids["norestart"], "STOPPED", 60)
    check(ch["stop_code"] == "EssentialContainerExited" and ctr(ch, "main")["restart_count"] == 0
          and ctr(ch, "main")["exit_code"] == 2,
          "norestart: a container that ran less than restartAttemptPeriod is not restarted", dump(ch))
    check(sum(1 for x in ep.changes(ids["norestart"]) if ctr(x, "main")["status"] == "RUNNING"
              and x["status"] != "STOPPED") <= 2, "norestart: the container started once")

    # order: start
    tid = ids["order"]
    ep.wait_status(tid, "RUNNING", 90)
    ep.wait_change(tid, lambda c: ctr(c, "probe")["health"] == "UNHEALTHY", 60, "probe UNHEALTHY")
    chs = ep.changes(tid)
    i_app = first_index(chs, lambda c: ctr(c, "app")["status"] == "RUNNING")
    i_init = first_index(chs, lambda c: ctr(c, "init")["status"] == "STOPPED" and ctr(c, "init")["exit_code"] == 0)
    i_db = first_index(chs, lambda c: ctr(c, "db")["health"] == "HEALTHY")
    i_side = first_index(chs, lambda c: ctr(c, "side")["status"] == "RUNNING")
    check(None not in (i_app, i_init, i_db, i_side) and i_init < i_app and i_db < i_app and i_app < i_side,
          "order: app started after init succeeded and db turned HEALTHY; side after app",
          "init %s db %s app %s side %s" % (i_init, i_db, i_app, i_side))
    check(all(ctr(c, "app")["status"] in ("PENDING", "PULLED", "CREATED") for c in chs[:i_app]),
          "order: app was not running before its dependencies allowed it")
    last = chs[-1]
    check(last["status"] == "RUNNING" and ctr(last, "probe")["health"] == "UNHEALTHY",
          "order: a non-essential UNHEALTHY container leaves the task RUNNING", dump(last))
    rc = b.cli("logs", tid, "app").stdout
    check("ready" in rc, "order: app read what init wrote to the shared volume", rc)

    # order: stop in reverse
    ep.stop_task(tid)
    ch = ep.wait_status(tid, "STOPPED", 60)
    check(ch["stop_code"] == "UserInitiated" and ch["desired"] == "STOPPED", "order: UserInitiated", dump(ch))
    chs = ep.changes(tid)
    s_side = first_index(chs, lambda c: ctr(c, "side")["status"] == "STOPPED")
    s_app = first_index(chs, lambda c: ctr(c, "app")["status"] == "STOPPED")
    s_db = first_index(chs, lambda c: ctr(c, "db")["status"] == "STOPPED")
    check(None not in (s_side, s_app, s_db) and s_side < s_app < s_db,
          "order: stopped in reverse dependency order: side, then app, then db", "side %s app %s db %s"
          % (s_side, s_app, s_db))
    check(ctr(ch, "side")["exit_code"] == 0 and "side got TERM" in b.cli("logs", tid, "side").stdout,
          "order: the stop signal reached side, which exited 0", dump(ch))
    check(ctr(ch, "db")["exit_code"] == 137, "order: db ignored SIGTERM and was killed after stopTimeout (137)",
          dump(ch))
    check(ctr(ch, "init")["exit_code"] == 0, "order: init's exit code stays 0")

    verify_changes(ep.changes(), "stops", final=list(ids.values()))


if __name__ == "__main__":
    run(main)
