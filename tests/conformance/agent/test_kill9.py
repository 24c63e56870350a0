#!/usr/bin/env python3
"""Conformance: berthd killed -9 in the middle of an assignment, at exact points of the
protocol, played by the harness's own endpoint (FakeEndpoint):
  response   the instant the manifest carrying the task has been sent
  ack        when the node acknowledges it (the task's files must already be on disk: an
             assignment is acknowledged only after it is persisted)
  changes    when the node's first state changes of the task arrive (recorded, but the
             acknowledgement never reaches the node): the task is half-way through its start
  start+N    N ms (50, 150, 400) after the ack: other moments of the start
After each kill berthd is started again: the node registers with the same identity, and the
task runs exactly once (one start of its container, one RUNNING), not twice, not never. State
changes sent again after the restart are the same changes with the same seq (deduplicated)."""
import os
import signal
import threading

from harness import (check, container, ctr, dump, note, run, taskdef, verify_changes, wait_until)

# and a few moments of the start itself, after the ack: (point, seconds after the ack)
DELAYED = (("start+50ms", 0.05), ("start+150ms", 0.15), ("start+400ms", 0.4))
timers = {}


def mem_total_mib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


def host_boot_id():
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()


def host_cgroup():
    """v2 (cgroup2 at /sys/fs/cgroup), hybrid (v1 controllers and a cgroup2 mount), or v1."""
    mounts = [l.split() for l in open("/proc/self/mounts")]
    if any(m[1] == "/sys/fs/cgroup" and m[2] == "cgroup2" for m in mounts):
        return "v2"
    return "hybrid" if any(m[2] == "cgroup2" for m in mounts) else "v1"


def main(ctx):
    ep = ctx.fake("kill9", wait_s=5)
    b = ctx.node("kill9", ep.url, extra_config={"RESERVED_MEMORY": "512m"})
    fired = {}

    def kill(point):
        if point not in fired and b.proc is not None:
            fired[point] = True
            os.kill(b.proc.pid, signal.SIGKILL)

    def task_on_disk(tid):
        return os.path.exists(os.path.join(b.data, "tasks", tid, "task.json"))

    ids = {}
    on_disk_at_ack = {}

    def after_assignments(gen, body):
        if ids.get("response") and ids["response"].encode() in body:
            kill("response")

    def on_ack(body):
        tid = ids.get("ack")
        if tid and "ack" not in fired and body.get("generation") == ep.generation:
            on_disk_at_ack["ack"] = task_on_disk(tid)
            kill("ack")
        return None

    def on_ack_delayed(body):
        for point, delay in DELAYED:
            tid = ids.get(point)
            if tid and point not in fired and point not in timers and body.get("generation") == ep.generation:
                timers[point] = threading.Timer(delay, kill, (point,))
                timers[point].start()
        return on_ack(body)

    def after_changes(body):
        tid = ids.get("changes")
        if tid and any(c["task_id"] == tid for c in body["changes"]):
            kill("changes")

    ep.hooks.update(after_assignments=after_assignments, on_ack=on_ack_delayed, after_state_changes=after_changes)

    for point in ("response", "ack", "changes") + tuple(p for p, _ in DELAYED):
        # the pid: task ids name cgroups shared by every berthd of this cgroup (a second run
        # of this scenario at the same time must not share them)
        tid = "k9-%s-%d" % (point.replace("+", "-"), os.getpid())
        ids[point] = tid
        cmd = "echo started-$(cat /proc/sys/kernel/random/uuid); exec sleep 600"
        ep.assign(tid, taskdef("k9" + point.replace("+", "-"), container("main", ["/bin/sh", "-c", cmd])))
        rc = b.proc.wait(timeout=60)
        check(rc == -signal.SIGKILL and fired.get(point), "%s: berthd killed -9 at that point" % point, rc)
        b.proc = None
        if point == "ack":
            check(on_disk_at_ack.get("ack") is True, "ack: the task was on disk when its assignment was acknowledged")
        b.start()
        ch = ep.wait_change(tid, lambda c: c["status"] in ("RUNNING", "STOPPED"), 90, "RUNNING")
        check(ch["status"] == "RUNNING", "%s: the task reaches RUNNING after the restart" % point, dump(ch))
        chs = ep.task_changes(tid)
        starts = sum(1 for i, c in enumerate(chs) if ctr(c, "main")["status"] == "RUNNING"
                     and (i == 0 or ctr(chs[i - 1], "main")["status"] != "RUNNING"))
        check(starts == 1 and ctr(chs[-1], "main")["restart_count"] == 0,
              "%s: after the restart the task runs, its container started once" % point,
              [(c["status"], ctr(c, "main")["status"]) for c in chs])
        # RUNNING can be reported before the shell's first line reaches the log
        wait_until(lambda: "started-" in b.cli("logs", tid, "main").stdout, 20)
        logs = b.cli("logs", tid, "main").stdout
        check(logs.count("started-") == 1, "%s: the container's process ran once (its log)" % point, logs)
        tasks = [t for t in b.ps() if t["task_id"] == tid]
        check(len(tasks) == 1 and tasks[0]["status"] == "RUNNING", "%s: the node holds the task once" % point,
              dump(tasks))
        note("%s: %s" % (point, [c["status"] for c in chs]))

    ids_seen = {r["node_id"] for r in ep.registers}
    check(len(ids_seen) == 1 and len(ep.registers) >= 4, "every registration carries the same node identity",
          [r["node_id"] for r in ep.registers])
    acked, bad = 0, []
    for kind, g in ep.timeline:
        if kind == "ack":
            acked = max(acked, g)
        elif g < acked:
            bad.append("registered with %d after %d was acknowledged" % (g, acked))
    check(not bad, "a restarted node registers with at least every generation it acknowledged", bad or ep.timeline)
    reg = ep.registers[-1]
    attrs = reg.get("attributes", {})
    check(reg.get("protocol") == 1 and reg.get("resources", {}).get("cpu") == 1024 * os.cpu_count()
          and abs(reg["resources"].get("memory_mib", 0) - (mem_total_mib() - 512)) <= 1
          and reg.get("agent_version") and reg.get("boot_id") == host_boot_id(),
          "register: protocol 1, 1024 CPU units per online core, MemTotal minus RESERVED_MEMORY (512 MiB), "
          "agent version, this boot's id", dump(reg))
    check(attrs.get("os") == "linux" and attrs.get("arch") == os.uname().machine
          and attrs.get("kernel") == os.uname().release and attrs.get("cgroup") == host_cgroup()
          and "awsvpc" in attrs.get("network_modes", []) and "none" in attrs.get("network_modes", [])
          and isinstance(attrs.get("features"), list),
          "register attributes: os, arch, kernel, cgroup version (%s here), network modes, features" % host_cgroup(),
          dump(attrs))
    hb = [h for h in ep.heartbeats if any(t.get("task_id") == ids["changes"] and t.get("status") == "RUNNING"
                                          for t in h.get("tasks", []))]
    if not hb:
        with ep.lock:
            ep.lock.wait_for(lambda: any(any(t.get("task_id") == ids["changes"] for t in h.get("tasks", []))
                                         for h in ep.heartbeats), timeout=30)
        hb = [h for h in ep.heartbeats if any(t.get("task_id") == ids["changes"] for t in h.get("tasks", []))]
    h = hb[-1] if hb else {}
    check(hb and h.get("free", {}).get("cpu", -1) >= 0 and h["free"].get("memory_mib", 0) > 0
          and {t["task_id"] for t in h["tasks"]} >= set(ids.values()) and "pending" in h.get("outbox", {})
          and h.get("generation", 0) >= 1,
          "heartbeat: free resources, the running set, outbox counters, generation", dump(h))
    by_seq = {c["seq"]: c for c in ep.changes}
    check(all(by_seq.get(d["seq"]) == d for d in ep.duplicates),
          "changes sent again carry the same seq and content (%d re-sent)" % len(ep.duplicates),
          [d["seq"] for d in ep.duplicates if by_seq.get(d["seq"]) != d])
    check(not ep.batch_errors, "every batch in seq order", ep.batch_errors)

    for tid in ids.values():
        ep.set_desired(tid, "STOPPED")
    for tid in ids.values():
        ch = ep.wait_status(tid, "STOPPED", 60)
        check(ch["stop_code"] == "UserInitiated", "%s: stopped by the endpoint" % tid, dump(ch))
    verify_changes(ep.changes, "kill9", final=list(ids.values()))


if __name__ == "__main__":
    run(main)
