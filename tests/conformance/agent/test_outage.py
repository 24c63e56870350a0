#!/usr/bin/env python3
"""Conformance: the endpoint goes away, the node carries on.

1. berth-endpoint killed -9 and restarted on its state: the node, its generation, the tasks
   and every recorded change are still there, the node is not registered twice, and a task
   assigned afterwards runs (the generation keeps growing).
2. berth-endpoint down for two minutes (longer than the agent's 60 s backoff cap, so its
   reconnects reach the cap) while tasks change state: one assigned just before (it
   provisions and starts during the outage), one whose essential container exits, one that
   turns HEALTHY, one whose container is restarted by its restart policy (it must run for
   restartAttemptPeriod, 60 s, first), one stopped on the node by `berth stop`. Nothing is stopped for the endpoint being away. Once the
   endpoint is back, every change the node made (as `berth events` showed them on the
   node) reaches the endpoint, none lost, none reordered, none changed, each once."""
import time

from harness import (follow_events, check, container, ctr, dump, note, run, taskdef, verify_changes, wait_until)

OUTAGE_MIN_S = 120  # issue 7: "the endpoint down for minutes"
RESTARTER_RUN_S = 62  # just over the restart policy's restartAttemptPeriod (60 s)


def strip(ch):
    return {k: v for k, v in ch.items() if k != "seq"}


def main(ctx):
    ep = ctx.endpoint("outage")
    b = ctx.node("outage", ep.url)

    # ---------------------------------------------------------------- 1. restart
    t0 = ep.submit(taskdef("before-restart", container("main", ["sleep", "600"])))
    ep.wait_status(t0, "RUNNING", 90)
    nodes = ep.nodes()
    evs = ep.events()
    gen = nodes[0]["generation"]
    ep.kill9()
    ep.start()
    nodes2 = ep.nodes()
    check(len(nodes2) == 1 and nodes2[0]["node_id"] == nodes[0]["node_id"] and nodes2[0]["generation"] == gen,
          "endpoint restart: the same node at the same generation", dump(nodes2))
    check(ep.events() == evs, "endpoint restart: every recorded change kept, same ids and content",
          "%d before, %d after" % (len(evs), len(ep.events())))
    t = ep.task(t0)
    check(t["status"] == "RUNNING" and t["desired"] == "RUNNING", "endpoint restart: the task still RUNNING", dump(t))
    t1 = ep.submit(taskdef("after-restart", container("main", ["sleep", "600"])))
    ep.wait_status(t1, "RUNNING", 120)
    nodes3 = ep.nodes()
    check(len(nodes3) == 1 and nodes3[0]["generation"] > gen and nodes3[0]["acked_generation"] == nodes3[0]["generation"],
          "endpoint restart: a new assignment is taken and acknowledged at a higher generation", dump(nodes3))
    check(b.task(t0)["status"] == "RUNNING", "endpoint restart: the node's first task never stopped")
    for tid in (t0, t1):
        ep.stop_task(tid)
    for tid in (t0, t1):
        ep.wait_status(tid, "STOPPED", 60)

    # ---------------------------------------------------------------- 2. outage
    local, events = follow_events(b)
    time.sleep(0.3)  # subscribed before the first assignment below
    restart_cmd = "test -f /restarted && exec sleep 600; touch /restarted; sleep %d; exit 1" % RESTARTER_RUN_S
    ids = {
        "restarter": ep.submit(taskdef("restarter", container("main", ["/bin/sh", "-c", restart_cmd],
                                                              restartPolicy={"enabled": True,
                                                                             "restartAttemptPeriod": 60}))),
        "exiter": ep.submit(taskdef("exiter", container("main", ["/bin/sh", "-c", "sleep 15; exit 4"]))),
        "healthy": ep.submit(taskdef("healthy", container("main", ["sleep", "600"],
                                                          healthCheck={"command": ["CMD-SHELL", "true"],
                                                                       "interval": 5, "retries": 1}))),
        "localstop": ep.submit(taskdef("localstop", container("main", ["sleep", "600"]))),
        "late": ep.submit(taskdef("late", container("main", ["sleep", "600"]))),
    }
    gen = ep.task(ids["late"])["changed_generation"]
    ep.wait_node(lambda n: n["acked_generation"] >= gen, 60, "the last assignment acknowledged")
    ep.stop()
    down = time.monotonic()
    note("endpoint down")

    # what happens on the node meanwhile
    wait_until(lambda: all((t := b.task(tid)) and t["status"] == "RUNNING"
                           for tid in (ids["late"], ids["localstop"], ids["restarter"])), 60)
    b.cli("stop", ids["localstop"])
    st = b.wait_status(ids["exiter"], "STOPPED", 60)
    check(st["stop_code"] == "EssentialContainerExited", "outage: the exiting task stopped on the node", dump(st))
    b.wait_task(ids["healthy"], lambda t: ctr(t, "main")["health"] == "HEALTHY", 60, "HEALTHY")
    b.wait_task(ids["restarter"], lambda t: ctr(t, "main")["restart_count"] == 1 and ctr(t, "main")["status"] == "RUNNING",
                RESTARTER_RUN_S + 60, "restarted once")
    b.wait_status(ids["localstop"], "STOPPED", 60)
    left = OUTAGE_MIN_S - (time.monotonic() - down)
    if left > 0:
        time.sleep(left)
    live = {n: b.task(tid)["status"] for n, tid in ids.items()}
    check(live == {"restarter": "RUNNING", "exiter": "STOPPED", "healthy": "RUNNING", "localstop": "STOPPED",
                   "late": "RUNNING"}, "outage: nothing was stopped for the endpoint being away", live)
    note("endpoint down for %.0f s; back" % (time.monotonic() - down))
    ep.start()
    back = time.monotonic()

    def caught_up():
        got = {}
        for e in ep.events():
            got.setdefault(e["task_id"], []).append(e["change"])
        mine = {}
        for c in list(local):
            mine.setdefault(c["task_id"], []).append(c)
        return all(len(got.get(tid, [])) >= len(mine.get(tid, [])) for tid in ids.values()) and (got, mine)
    res = wait_until(caught_up, 150, 0.5)
    check(res, "after the outage the endpoint catches up with every change the node made")
    note("caught up %.1f s after the endpoint came back" % (time.monotonic() - back))
    got, mine = res or ({}, {})
    for name, tid in ids.items():
        a = [strip(c) for c in got.get(tid, [])]
        m = mine.get(tid, [])
        check(a == m, "%s: the endpoint recorded exactly the node's %d changes, in order" % (name, len(m)),
              "endpoint %s\nnode %s" % ([c["status"] for c in a], [c["status"] for c in m]))
    chs = got.get(ids["late"], [])
    check(chs and chs[0]["status"] == "PROVISIONING" and any(c["status"] == "RUNNING" for c in chs),
          "late: its whole start, made during the outage, was delivered", [c["status"] for c in chs])
    chs = got.get(ids["restarter"], [])
    check(any(ctr(c, "main")["status"] == "STOPPED" and ctr(c, "main")["exit_code"] == 1 for c in chs)
          and ctr(chs[-1], "main")["restart_count"] == 1 and ctr(chs[-1], "main")["status"] == "RUNNING",
          "restarter: the exit (1) and the restart were both delivered", [ctr(c, "main") for c in chs[-4:]])
    chs = got.get(ids["localstop"], [])
    check(chs and chs[-1]["stop_code"] == "UserInitiated" and "berth stop" in (chs[-1]["reason"] or ""),
          "localstop: stopped on the node, the reason delivered", chs and dump(chs[-1]))
    n = ep.wait_node(lambda n: n["outbox"]["pending"] == 0, 90, "an empty outbox in a heartbeat")
    check(n["outbox"]["coalesced"] == 0, "nothing was coalesced", dump(n))

    for tid in ids.values():
        ep.stop_task(tid)
    for tid in ids.values():
        ep.wait_status(tid, "STOPPED", 60)
    events.terminate()
    events.wait()
    verify_changes(ep.changes(), "outage", final=[t0, t1] + list(ids.values()))


if __name__ == "__main__":
    run(main)
