#!/usr/bin/env python3
"""End-to-end: 200 tasks started and stopped through berthd: afterwards no growth in
berthd's fds or RSS (beyond a small allocator slack), and no cgroups, netns, leases,
mounts, veths or shims left. Also prints berthd's RSS with 200 tasks running and the time
berthd takes to re-adopt them after kill -9 (the benchmark in bench/agent measures these
against their targets)."""
import os
import time

from e2e import check, container, run, taskdef, wait_until
from leaks import diff, snapshot

N = int(os.environ.get("BERTH_SCALE_TASKS", "200"))


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rss_kib(pid):
    for l in open("/proc/%d/status" % pid):
        if l.startswith("VmRSS"):
            return int(l.split()[1])
    return 0


def cycle(b, n, tag):
    ids = [b.run_task(taskdef("%s%d" % (tag, i), container("main", ["sleep", "3600"], memory=8)))
           for i in range(n)]
    ok = wait_until(lambda: all(t["status"] == "RUNNING" for t in b.ps() if t["task_id"] in ids), 600, 0.5)
    running = {t["task_id"]: t["status"] for t in b.ps() if t["task_id"] in ids}
    return ids, ok, running


def stop_all(b, ids):
    for i in ids:
        b.cli("stop", i)
    ok = wait_until(lambda: all(t["status"] == "STOPPED" for t in b.ps() if t["task_id"] in ids), 600, 0.5)
    for i in ids:
        b.cli("rm", i, check=False)
    return ok


def main(berthd):
    b = berthd("scale")
    base = snapshot(b)
    ids, ok, _ = cycle(b, 10, "warm")
    check(ok and stop_all(b, ids), "a warm-up of 10 tasks")
    pid = b.proc.pid
    fd0, rss0 = fds(pid), rss_kib(pid)

    t0 = time.monotonic()
    ids, ok, running = cycle(b, N, "scale")
    check(ok, "%d tasks RUNNING (%.1f s)" % (N, time.monotonic() - t0),
          {k: v for k, v in running.items() if v != "RUNNING"})
    print("     berthd with %d running tasks: RSS %d KiB, %d fds" % (N, rss_kib(b.proc.pid), fds(b.proc.pid)))
    b.kill9()
    took = b.start(timeout=120)
    print("     berthd kill -9 and restart with %d running tasks: READY after %.3f s" % (N, took))
    check(all(t["status"] == "RUNNING" for t in b.ps() if t["task_id"] in ids), "all re-adopted after kill -9")
    check(stop_all(b, ids), "all %d stopped" % N)
    time.sleep(1)
    pid = b.proc.pid
    # the restart reset berthd's own growth baseline: compare a second, smaller cycle
    fd1, rss1 = fds(pid), rss_kib(pid)
    ids, ok, _ = cycle(b, 50, "again")
    check(ok and stop_all(b, ids), "50 more tasks after that")
    fd2, rss2 = fds(pid), rss_kib(pid)
    check(fd2 == fd1, "no fd growth over a cycle of tasks (%d -> %d)" % (fd1, fd2))
    check(rss2 <= rss1 + 2048, "no RSS growth over a cycle of tasks (%d -> %d KiB)" % (rss1, rss2))
    print("     before the run: %d fds, %d KiB" % (fd0, rss0))
    time.sleep(0.5)
    leaked = diff(base, snapshot(b))
    check(not leaked, "nothing left: cgroups, netns, leases, mounts, veths, shims", leaked)


if __name__ == "__main__":
    run(main)
