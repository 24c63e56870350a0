#!/usr/bin/env python3
"""Conformance: the node restarts while its endpoint is away. berth-endpoint is stopped; a task
assigned just before runs, another's essential container exits; then berthd is stopped
(SIGTERM) and started again, then killed -9 and started again, all before the endpoint
returns. Nothing is stopped for it; the changes the node made before the restarts stay in its
outbox across both and reach the endpoint once it is back, first, in order and each once;
whatever the node reports after the restarts is well formed and in order per task; one node
identity throughout. berthd says READY only once every task source has reported once
(docs/control-protocol.md, "sources ready"), so the restarted node answers on its API but is
not READY until its endpoint is back: checked, since a service manager's start timeout
(systemd's TimeoutStartSec) runs meanwhile."""
import subprocess
import time

from harness import (follow_events, build_path, check, container, dump, note, run, taskdef, verify_changes, wait_until)

OUTAGE_S = 20


def strip(ch):
    return {k: v for k, v in ch.items() if k != "seq"}


def main(ctx):
    ep = ctx.endpoint("outrestart")
    b = ctx.node("outrestart", ep.url)

    local, events = follow_events(b)  # subscribed before the first assignment
    ids = {
        "runner": ep.submit(taskdef("runner", container("main", ["sleep", "600"]))),
        "exiter": ep.submit(taskdef("exiter", container("main", ["/bin/sh", "-c", "sleep 3; exit 4"]))),
    }
    gen = ep.task(ids["exiter"])["changed_generation"]
    ep.wait_node(lambda n: n["acked_generation"] >= gen, 60, "the assignments acknowledged")
    ep.stop()
    down = time.monotonic()
    note("endpoint down")

    b.wait_status(ids["runner"], "RUNNING", 60)
    st = b.wait_status(ids["exiter"], "STOPPED", 60)
    check(st["stop_code"] == "EssentialContainerExited", "outage: the exiting task stopped on the node", dump(st))
    before = list(local)  # what the node made before its restarts (all in its outbox)
    events.terminate()
    events.wait()

    READY = "every task source has reported: ready"

    def start_node(what):
        # without NOTIFY_SOCKET (the fixture's start waits for READY=1): READY is its log line
        b.proc = subprocess.Popen([build_path("agent", "daemon", "berthd"), "--config", b.config],
                                  stdout=open(b.log_path, "a"), stderr=subprocess.STDOUT, env=b.daemon_env)
        ok = wait_until(lambda: b.cli("ps", "--json", check=False).returncode == 0, 60, 0.2)
        check(ok, "%s: berthd answers on its API while its endpoint is away" % what)
        t = b.task(ids["runner"])
        check(t and t["status"] == "RUNNING", "%s during the outage: the running task still RUNNING" % what, dump(t))

    readies = b.log(whole=True).count(READY)
    b.stop()
    start_node("restart")
    b.kill9()
    start_node("kill -9")
    check(b.log(whole=True).count(READY) == readies,
          "berthd not READY while its endpoint has not answered (every source reports once first)",
          b.log()[-2000:])

    left = OUTAGE_S - (time.monotonic() - down)
    if left > 0:
        time.sleep(left)
    ep.start()
    back = time.monotonic()
    check(wait_until(lambda: b.log(whole=True).count(READY) == readies + 1, 150, 0.2),
          "READY once the endpoint is back", b.log()[-2000:])

    def caught_up():
        got = {}
        for e in ep.events():
            got.setdefault(e["task_id"], []).append(e["change"])
        return all(len(got.get(tid, [])) >= sum(1 for c in before if c["task_id"] == tid) for tid in ids.values()) \
            and got
    got = wait_until(caught_up, 150, 0.5) or {}
    check(got, "after the outage the endpoint has at least every change made before the restarts")
    for name, tid in ids.items():
        mine = [c for c in before if c["task_id"] == tid]
        theirs = [strip(c) for c in got.get(tid, [])]
        check(theirs[:len(mine)] == mine,
              "%s: the %d changes made before the restarts were delivered first, in order, unaltered" % (name, len(mine)),
              "endpoint %s\nnode %s" % ([c["status"] for c in theirs], [c["status"] for c in mine]))
    seqs = [e["seq"] for e in ep.events()]
    check(len(seqs) == len(set(seqs)), "each change recorded once", seqs)
    t = ep.task(ids["runner"])
    check(t["status"] == "RUNNING", "the endpoint sees the running task RUNNING", dump(t))
    n = ep.wait_node(lambda n: n["outbox"]["pending"] == 0, 90, "an empty outbox in a heartbeat")
    check(len(ep.nodes()) == 1, "one node throughout (the same identity after both restarts)", dump(ep.nodes()))
    note("node %s, caught up %.1f s after the endpoint came back" % (n["node_id"], time.monotonic() - back))

    ep.stop_task(ids["runner"])
    ep.wait_status(ids["runner"], "STOPPED", 60)
    verify_changes(ep.changes(), "outage with restarts", final=list(ids.values()))


if __name__ == "__main__":
    run(main)
