#!/usr/bin/env python3
"""End-to-end: a two-container awsvpc task through the CLI — run, ps, inspect, logs, exec,
events, stop in reverse dependency order, rm — and what the containers see: their own IP on
eth0, a default route, DNS files, the hostname, the other container over localhost."""
import json
import os
import subprocess
import time
import urllib.request

from e2e import check, container, ctr, dump, run, taskdef, wait_until


def main(berthd):
    b = berthd("life")
    events = subprocess.Popen([os.path.join(os.environ["BERTH_BUILD_DIR"], "agent", "cli", "berth"), "events", "--json"],
                              stdout=subprocess.PIPE, text=True, env=b.env)
    time.sleep(0.2)
    web = container("web", ["/bin/sh", "-c", "mkdir -p /www && echo hello-from-web > /www/index.html && "
                                          "echo web up && exec httpd -f -p 80 -h /www"],
                    stopTimeout=5)
    side = container("side", ["/bin/sh", "-c", "trap 'echo side got TERM; exit 0' TERM; "
                                           "while true; do wget -q -O - http://127.0.0.1/ 2>&1; sleep 0.3; done"],
                     essential=False, dependsOn=[{"containerName": "web", "condition": "START"}])
    td = taskdef("lifecycle", web, side, cpu="256", memory="256")
    tid = b.run_task(td)
    check(tid.startswith("t-"), "berth run prints the task id", tid)
    t = b.wait_status(tid, "RUNNING", 60)
    check(t["ip"] and t["ip"].startswith(b.subnet.rsplit(".", 1)[0]), "the task has its own address from the pool", dump(t))
    check(ctr(t, "web")["status"] == "RUNNING" and ctr(t, "side")["status"] == "RUNNING", "both containers RUNNING", dump(t))
    check(ctr(t, "web")["image_digest"] is not None, "the image digest is reported")

    ps = b.cli("ps").stdout
    check(tid in ps and "RUNNING" in ps and "lifecycle" in ps, "berth ps lists the task", ps)
    insp = json.loads(b.cli("inspect", tid[:8]).stdout)
    check(insp["task_id"] == tid and insp["definition"]["family"] == "lifecycle", "berth inspect by id prefix")

    # inside the task
    ex = b.cli("exec", tid, "ip", "-4", "-o", "addr", "show", "eth0", check=False)
    check(ex.returncode == 0 and t["ip"] in ex.stdout, "eth0 carries the task's address", ex.stdout + ex.stderr)
    ex = b.cli("exec", tid, "ip", "route", check=False)
    check("default via" in ex.stdout, "a default route", ex.stdout)
    ex = b.cli("exec", tid, "cat", "/etc/hosts", check=False)
    check(t["ip"] in ex.stdout, "/etc/hosts names the task's address", ex.stdout)
    ex = b.cli("exec", tid, "cat", "/etc/resolv.conf", check=False)
    check("nameserver" in ex.stdout, "/etc/resolv.conf has a nameserver", ex.stdout)
    ex = b.cli("exec", "-c", "side", tid, "sh", "-c", "exit 7", check=False)
    check(ex.returncode == 7, "berth exec passes the exit code through", ex.returncode)
    ex = b.cli("exec", tid, "sh", "-c", "ls /proc | grep -c '^[0-9]'", check=False)
    check(ex.returncode == 0 and int(ex.stdout.strip() or 99) < 10, "the container sees only its own processes", ex.stdout)
    try:
        body = urllib.request.urlopen("http://%s/" % t["ip"], timeout=10).read().decode()
    except OSError as e:
        body = str(e)
    check("hello-from-web" in body, "the host reaches the task on its own address", body)

    # logs
    ok = wait_until(lambda: "hello-from-web" in b.cli("logs", tid, "side").stdout, 20)
    check(ok, "the sidecar reached the web container over localhost (berth logs)")
    lg = b.cli("logs", tid).stdout
    check("web | web up" in lg and "side | hello-from-web" in lg, "berth logs prefixes each container's lines", lg[-500:])
    lg = b.cli("logs", "--tail", "1", tid, "web").stdout
    check(lg.strip() == "web up", "berth logs --tail", lg)

    # stop: the dependant (side) first, then web
    b.cli("stop", tid)
    t = b.wait_status(tid, "STOPPED", 60)
    check(t["stop_code"] == "UserInitiated" and "berth stop" in (t["reason"] or ""), "stopped by request", dump(t))
    insp = json.loads(b.cli("inspect", tid).stdout)
    fs, fw = ctr(insp, "side")["finished_at"], ctr(insp, "web")["finished_at"]
    check(fs <= fw, "reverse dependency order: side stopped before web", "%s %s" % (fs, fw))
    check("side got TERM" in b.cli("logs", tid, "side").stdout, "the stop signal reached the container first")
    check(ctr(t, "side")["exit_code"] == 0, "side exited 0 on SIGTERM", dump(t))

    events.terminate()
    evs = [json.loads(l) for l in events.stdout.read().splitlines() if l.strip()]
    seq = [e["status"] for e in evs if e["task_id"] == tid]
    order = ["PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"]
    seen = [s for i, s in enumerate(seq) if i == 0 or seq[i - 1] != s]
    check(all(s in seen for s in ["PROVISIONING", "PENDING", "RUNNING", "STOPPED"])
          and [s for s in order if s in seen] == seen, "berth events shows every task transition in order", seen)

    b.cli("rm", tid)
    check(b.task(tid) is None, "berth rm forgets the task")
    check(not os.path.exists(os.path.join(b.logs, tid)), "and removes its logs")


if __name__ == "__main__":
    run(main)
