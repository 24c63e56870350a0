#!/usr/bin/env python3
"""End-to-end: a two-container awsvpc task through the CLI — run, ps, inspect, logs, exec,
events, stop in reverse dependency order, rm — and what the containers see: their own IP on
eth0, a default route, DNS files, the hostname, the other container over localhost."""
import json
import os
import pty
import select
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
    check(tid in b.cli("ps", "-q").stdout.split(), "berth ps -q prints the task id")
    check(tid in b.cli("ps", "-aq").stdout.split(), "berth ps -aq: short flags together")
    bad = b.cli("ps", "--bogus", check=False)
    check(bad.returncode == 2 and "--bogus" in bad.stderr, "berth ps refuses an unknown option, naming it", bad.stderr)
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

    # an interactive shell on a terminal (berth exec -it): the CLI relays a pty
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(b.env and os.path.join(os.environ["BERTH_BUILD_DIR"], "agent", "cli", "berth"),
                  ["berth", "exec", "-it", tid, "sh"], b.env)
    out = b""
    os.write(fd, b"tty -s && echo on-a-tty; echo $((6*7)); exit 3\n")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    check(b"on-a-tty" in out and b"42" in out, "berth exec -it: a shell on a terminal", out[-300:])
    check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3, "berth exec -it passes the exit code", status)

    # stats from the containers' cgroups
    st = json.loads(b.cli("stats", tid).stdout)
    web_stats = [x for x in st if x["container"] == "web"]
    check(web_stats and web_stats[0]["memory"]["current"] > 0 and web_stats[0]["pids"]["current"] >= 1,
          "berth stats: memory and pids of the container", st)

    # berth logs -f follows new lines and ends when the task stops
    follower = subprocess.Popen([os.path.join(os.environ["BERTH_BUILD_DIR"], "agent", "cli", "berth"), "logs", "-f",
                                 tid, "side"], stdout=subprocess.PIPE, text=True, env=b.env)

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
    try:
        followed, _ = follower.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        follower.kill()
        followed, _ = follower.communicate()
        check(False, "berth logs -f ends when the task stops")
    check("side got TERM" in followed and followed.count("hello-from-web") >= 2,
          "berth logs -f followed the container's output to its end", followed[-300:])
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

    # a stopped task is removed by itself after STOPPED_TASK_RETENTION
    r = berthd("retain", extra_config={"STOPPED_TASK_RETENTION": "2s"})
    tid = r.run_task(taskdef("short", container("main", ["/bin/sh", "-c", "echo bye"])))
    r.wait_status(tid, "STOPPED", 60)
    check(wait_until(lambda: r.task(tid) is None, 20), "a stopped task is removed after its retention time")
    check(not os.path.exists(os.path.join(r.logs, tid)) and not os.path.exists(os.path.join(r.data, "tasks", tid)),
          "with its logs and state")


if __name__ == "__main__":
    run(main)
