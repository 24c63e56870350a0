#!/usr/bin/env python3
"""Conformance: an endpoint that says the wrong things (the harness's own FakeEndpoint).
A task runs throughout and must never be touched. Assignment responses that are garbage,
larger than ENDPOINT_MAX_RESPONSE_SIZE, malformed (a bad task id, a mistyped generation, a
task twice, an unknown desired status), an error status, or 404 NodeUnknown: each is rejected
and logged with its cause, the agent keeps polling and takes the next good response (a 404
makes it register again). Stale responses (an older generation whose complete list would
stop the task and add another) and duplicates (the same generation again; a new generation
repeating the running task) change nothing. A delta adds a task; a complete manifest
without it stops it (UserInitiated); a definition the node cannot run is acknowledged and
reported STOPPED (TaskFailedToStart naming the field). The state-change stream survives
5xx answers, 413 (smaller batches) and partial acknowledgements: the endpoint ends up with
exactly the changes the node made (berth events), once each, in order. Every request carries
the bearer token of ENDPOINT_TOKEN_FILE; when the file is rewritten and the endpoint answers
401 to the old token, the agent reads the file again and goes on; the token is never logged.
The node's task directory is a second source: its task is never stopped by the endpoint's
manifests, never reported to the endpoint, and counted in the heartbeats' free memory."""
import json
import os
import time

from harness import (follow_events, check, container, dump, note, run, taskdef, verify_changes, wait_until)

MAX = 65536

# Task ids name the task's cgroups (berth/task-<id> below the test's own cgroup, shared by
# every berthd started from it): two runs of this scenario at once (two engineers, or a
# rerun beside a run) must not share them
SFX = "-%d" % os.getpid()
KEEP, OTHER, DELTA1, SECRET, AFTER_ROTATION = ("keep" + SFX, "other" + SFX, "delta1" + SFX, "secret" + SFX,
                                               "after-rotation" + SFX)


def main(ctx):
    ep = ctx.fake("bad", wait_s=2)
    ep.token = "conf-token-one"
    token_file = os.path.join(ctx.tmp, "token")
    with open(token_file, "w") as f:
        f.write("  %s\n" % ep.token)  # surrounding whitespace is not part of the token
    b = ctx.node("bad", ep.url, {"ENDPOINT_MAX_RESPONSE_SIZE": str(MAX), "ENDPOINT_TOKEN_FILE": token_file},
                 with_dir=True)
    check(ep.unauthorized == 0 and ep.registers, "every request carries the bearer token from the file",
          ep.unauthorized)
    local, events = follow_events(b)

    # a task of the node's other source, its task directory: the endpoint never hears of it
    # and none of its manifests may stop it, but the node's free resources count it
    with open(os.path.join(b.tasks_dir, "local.json.tmp"), "w") as f:
        # (the family carries the pid: a directory task's id is a hash of its file's content)
        json.dump(taskdef("local" + SFX, container("main", ["sleep", "600"], memory=512)), f)
    os.rename(os.path.join(b.tasks_dir, "local.json.tmp"), os.path.join(b.tasks_dir, "local.json"))
    local_task = wait_until(lambda: next((t for t in b.ps() if t["task_id"].startswith("local-")
                                          and t["status"] == "RUNNING"), None), 90)
    check(local_task, "the directory source's task runs beside the endpoint's")
    local_id = local_task["task_id"] if local_task else "local-"

    keep_cmd = "echo started-$(cat /proc/sys/kernel/random/uuid); exec sleep 600"
    ep.wait_ack(ep.assign(KEEP, taskdef("keep", container("main", ["/bin/sh", "-c", keep_cmd]))))
    ep.wait_status(KEEP, "RUNNING", 90)
    script = []

    def on_assignments(g, wait):
        with ep.lock:
            if not script:
                return None
            item = script.pop(0)
        return item(g, wait)
    ep.hooks["on_assignments"] = on_assignments

    def play(name, items, log_text=None, timeout=90):
        """Serves items to the next polls; then the next good response must be taken."""
        polls0 = sum(1 for r in ep.requests if r[1] == "GET")
        with ep.lock:
            script.extend(items)
        ok = wait_until(lambda: not script, timeout, 0.1)
        check(ok, "%s: served to the agent's polls" % name)
        marker = "marker-" + "".join(ch if ch.isalnum() else "-" for ch in name) + SFX
        gen = ep.assign(marker, taskdef("marker", container("main", ["sleep", "600"])))
        ep.wait_ack(gen, timeout)
        polls = sum(1 for r in ep.requests if r[1] == "GET") - polls0
        check(polls >= len(items) + 1, "%s: the agent kept polling and took the next good response" % name, polls)
        if log_text:
            log = b.log(whole=True)
            check(log_text in log, "%s: logged with its cause (%r)" % (name, log_text),
                  "\n".join(l for l in log.splitlines() if "assignments" in l or "register" in l)[-1500:])
        ep.remove(marker)

    def raw(status, body, headers=None):
        return lambda g, w: (status, body, headers or {})

    def manifest(**override):
        def f(g, w):
            doc = json.loads(ep.manifest_bytes())
            doc["generation"] = ep.generation
            doc.update(override)
            return (200, json.dumps(doc).encode())
        return f

    def tasks_with(extra):
        def f(g, w):
            doc = json.loads(ep.manifest_bytes())
            doc["tasks"].append(extra)
            return (200, json.dumps(doc).encode())
        return f

    play("garbage", [raw(200, b"<html>this is not json"), raw(200, b'{"protocol":1,"generation":')],
         "invalid JSON")
    pad = {"task_id": "padded", "desired": "RUNNING", "metadata": {"pad": "x" * (2 * MAX)},
           "definition": taskdef("padded", container("main", ["sleep", "600"]))}
    play("oversized", [tasks_with(pad)], "response larger than %d bytes" % MAX)
    play("bad task id", [tasks_with({"task_id": "../x", "desired": "RUNNING",
                                     "definition": taskdef("x", container("main", ["true"]))})],
         "not a valid identifier")
    play("mistyped generation", [manifest(generation="7")], "generation")
    play("a task twice", [tasks_with({"task_id": KEEP, "desired": "RUNNING",
                                      "definition": taskdef("keep", container("main", ["true"]))})],
         "also at tasks[")
    play("unknown desired", [tasks_with({"task_id": "odd", "desired": "MAYBE",
                                         "definition": taskdef("odd", container("main", ["true"]))})],
         'unknown value "MAYBE"')
    play("5xx", [raw(500, b'{"protocol":1,"error":{"code":"Internal","message":"boom"}}'),
                 raw(503, b"{}", {"Retry-After": "1"})])
    regs = len(ep.registers)
    play("404 NodeUnknown", [raw(404, b'{"protocol":1,"error":{"code":"NodeUnknown","message":"who?"}}')])
    check(len(ep.registers) > regs and ep.registers[-1]["node_id"] == ep.registers[0]["node_id"],
          "404 NodeUnknown: the agent registered again, same identity", len(ep.registers))
    for name in ("padded", "x", "odd"):
        check(b.task(name) is None, "rejected responses created nothing (%s)" % name)

    # the token rotated: the endpoint answers 401 to the old one, then the file is rewritten
    ep.token = "conf-token-two"
    check(wait_until(lambda: ep.unauthorized > 0, 30), "the endpoint refuses the old token (401)")
    with open(token_file + ".tmp", "w") as f:
        f.write("conf-token-two")
    os.rename(token_file + ".tmp", token_file)
    gen = ep.assign(AFTER_ROTATION, taskdef("rotated", container("main", ["sleep", "600"])))
    try:
        ep.wait_ack(gen, 90)
        acked = True
    except TimeoutError:
        acked = False
    check(acked, "token rotation: after 401s the agent reads the file again and goes on (%d refused)"
          % ep.unauthorized)
    check("conf-token" not in b.log(whole=True), "the token never appears in berthd's log")
    ep.remove(AFTER_ROTATION)

    # stale: an older generation whose complete list would stop keep and add ghost
    g_now = ep.generation
    play("stale", [lambda g, w: (200, ep.manifest_bytes(generation=g_now - 1, tasks={
        "ghost": {"desired": "RUNNING", "definition": taskdef("ghost", container("main", ["sleep", "600"]))}}))],
        "stale generation")
    check(b.task("ghost") is None, "stale: its new task was not created")
    # duplicates: the generation the node holds, again; then a new generation repeating keep
    play("same generation again", [lambda g, w: (200, ep.manifest_bytes(generation=g if g else ep.generation))])
    gen = ep.set_desired(KEEP, "RUNNING")
    ep.wait_ack(gen)
    check(b.task(KEEP)["status"] == "RUNNING", "duplicates: keep still RUNNING")

    # a delta adds; a complete manifest without it stops it
    delta = {DELTA1: {"desired": "RUNNING", "definition": taskdef("delta1", container("main", ["sleep", "600"]))}}
    served = []

    def serve_delta(g, w):
        with ep.lock:  # a delta at the next generation, which the endpoint then holds
            ep.generation += 1
            served.append(ep.generation)
            return (200, ep.manifest_bytes(tasks=delta, complete=False))
    with ep.lock:
        script.append(serve_delta)
    wait_until(lambda: served, 30, 0.1)
    g_delta = served[0] if served else 0
    ep.wait_ack(g_delta)
    ep.wait_status(DELTA1, "RUNNING", 90)
    check(b.task(KEEP)["status"] == "RUNNING", "delta: the tasks it does not list are untouched")
    gen = ep.assign(OTHER, taskdef("other", container("main", ["sleep", "600"])))  # complete, no delta1
    ep.wait_ack(gen)
    ch = ep.wait_status(DELTA1, "STOPPED", 60)
    check(ch["stop_code"] == "UserInitiated" and "absent" in (ch["reason"] or ""),
          "complete manifest without a task: it is stopped, UserInitiated", dump(ch))

    # a definition the node cannot run
    gen = ep.assign(SECRET, taskdef("secret", container("main", ["true"], secrets=[{"name": "X", "valueFrom": "y"}])))
    ep.wait_ack(gen)
    ch = ep.wait_status(SECRET, "STOPPED", 60)
    check(ch["stop_code"] == "TaskFailedToStart" and "containerDefinitions[0].secrets" in (ch["reason"] or ""),
          "an unrunnable definition is acknowledged, then TaskFailedToStart naming the field", dump(ch))

    # the state-change stream: 5xx, 413, partial acknowledgements
    faults = [(500, None), (413, None), (503, None), ("partial", None)]
    sizes = []
    after_413 = []  # (size answered 413, size of the next batch)

    def stopped_on_node():
        return all(any(c["task_id"] == t and c["status"] == "STOPPED" for c in list(local)) for t in (KEEP, OTHER))

    def on_changes(body):
        sizes.append(len(body["changes"]))
        if len(sizes) == 1:
            # the first request is held until both tasks stopped on the node (one request in
            # flight at a time: the rest piles up in the outbox), so that the retries carry
            # a backlog: a batch of more than one, and one the 413 can halve
            wait_until(stopped_on_node, 60, 0.1)
        with ep.lock:
            if after_413 and after_413[-1][1] is None:
                after_413[-1] = (after_413[-1][0], len(body["changes"]))
            if not faults:
                return None
            kind, _ = faults.pop(0)
            if kind == 413:
                after_413.append((len(body["changes"]), None))
            if kind != "partial":
                return (kind, b'{"protocol":1,"error":{"code":"X","message":"fault"}}')
            first = body["changes"][0]
            last = ep.changes[-1]["seq"] if ep.changes else 0
            if first["seq"] > last:
                ep.changes.append(first)
                last = first["seq"]
            ep.lock.notify_all()
        return (200, json.dumps({"protocol": 1, "acked_seq": last}).encode())
    ep.hooks["on_state_changes"] = on_changes
    for tid in (KEEP, OTHER):
        ep.set_desired(tid, "STOPPED")
    for tid in (KEEP, OTHER):
        ep.wait_status(tid, "STOPPED", 120)
    check(not faults, "state changes: every fault was served", faults)
    note("batch sizes seen: %s" % sizes[:20])
    check(max(sizes) > 1, "state changes are batched: what piled up while the endpoint failed went in one request",
          sizes)
    a, nxt = after_413[0] if after_413 else (0, None)
    check(nxt is not None and nxt == max(1, a // 2),
          "413: the agent halves the batch and resends (%s then %s)" % (a, nxt), sizes)

    # the other source's task
    t = b.task(local_id)
    check(t and t["status"] == "RUNNING", "the directory source's task was never stopped by the endpoint's manifests",
          dump(t))
    check(not any(c["task_id"] == local_id for c in ep.changes)
          and not any(x.get("task_id") == local_id for h in ep.heartbeats for x in h.get("tasks", [])),
          "the endpoint never heard of the other source's task (changes, heartbeats)")
    total = ep.registers[-1]["resources"]["memory_mib"]
    hb = ep.heartbeats[-1] if ep.heartbeats else {}
    check(hb.get("free", {}).get("memory_mib", total) <= total - 512,
          "heartbeat: free memory counts the other source's task (512 MiB)",
          "%s of %d" % (hb.get("free"), total))
    os.unlink(os.path.join(b.tasks_dir, "local.json"))
    b.wait_status(local_id, "STOPPED", 60)

    # what the endpoint has against what the node did (its own tasks)
    mine = [c for c in local if c["task_id"] != local_id]

    def caught_up():
        with ep.lock:
            got = [dict((k, v) for k, v in c.items() if k != "seq") for c in ep.changes]
        return len(got) >= len(mine) and got
    got = wait_until(caught_up, 60, 0.2)
    check(got == mine, "the endpoint recorded exactly the node's changes, in order (%d)" % len(mine),
          "endpoint %d, node %d" % (len(got or []), len(mine)))
    by_seq = {c["seq"]: c for c in ep.changes}
    check(all(by_seq.get(d["seq"]) == d for d in ep.duplicates),
          "changes sent again are the same changes (%d re-sent)" % len(ep.duplicates))
    check(not ep.batch_errors, "every batch in seq order", ep.batch_errors)
    logs = b.cli("logs", KEEP, "main").stdout
    check(logs.count("started-") == 1, "keep ran once through all of it", logs)
    events.terminate()
    events.wait()
    for tid in (DELTA1, SECRET, KEEP, OTHER):
        check(b.task(tid)["status"] == "STOPPED", "%s STOPPED" % tid)
    verify_changes(ep.changes, "bad responses", final=[KEEP, OTHER, DELTA1, SECRET])


if __name__ == "__main__":
    run(main)
