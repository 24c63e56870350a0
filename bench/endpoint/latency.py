#!/usr/bin/env python3
"""bench/endpoint/latency.py [ROUNDS] [IDLE_SECONDS] : assignment -> RUNNING through the
control endpoint against the same task through the directory source, on one berthd that has
both sources, interleaved in the same run; then berthd's CPU while idle with the http source
configured. Needs root and a build tree: BERTH_BUILD_DIR=build python3 bench/endpoint/latency.py

Method (docs/endpoint-bench.md):
- one berthd (tests/lib/berthd.py: own dirs, bridge, pool) with TASK_SOURCES=dir:...,http://...
  and berth-endpoint on 127.0.0.1 (default long-poll 30 s, heartbeat 30 s); the busybox image
  imported first (cached), awsvpc tasks of one container (sleep);
- endpoint: t0 before `POST /admin/v1/tasks` (the assignment exists once it returns), RUNNING
  when `berth events` (the node's own stream, read by this process) shows it; the time until
  the endpoint has recorded the RUNNING change is printed too;
- directory: t0 before rename(2) of the task file into the watched directory, RUNNING from
  the same `berth events` stream;
- rounds alternate which source goes first; each task is stopped and STOPPED before the next;
- idle: after the rounds, nothing assigned, berthd's CPU time over IDLE_SECONDS: the sum of
  its threads' schedstat run time (ns), and utime+stime of /proc/PID/stat (clock ticks) as
  a cross-check, with its context switches;
- the load average is printed at the start, before and after the idle window (the machine
  is shared: other engineers' builds and tests run at the same time)."""
import json
import os
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "conformance", "agent"))
import harness  # noqa: E402
from harness import Berthd, Endpoint, IMAGE, build_path, container, image_layout, taskdef  # noqa: E402

harness.PORT_FIRST, harness.PORT_LAST = 20900, 20998  # the benchmarks' ports


def thread_stats(pid):
    run_ns, switches = 0, 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                run_ns += int(f.read().split()[0])
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        switches += int(line.split()[1])
        except OSError:
            pass  # a thread that just ended
    return run_ns, switches


def proc_stat_ticks(pid):
    """utime + stime of /proc/PID/stat (fields 14 and 15, after the parenthesised comm)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def loadavg():
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    idle_s = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    if os.geteuid() != 0:
        print("needs root")
        return 77
    print("%s, %d rounds, idle %d s; %s" % (time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), rounds, idle_s,
                                            loadavg()))
    sys.stdout.flush()
    ep = Endpoint("bench")
    ep.start()
    b = None
    events = None
    try:
        b = Berthd("epbench", extra_config={"ENDPOINT_ALLOW_PLAIN_HTTP": "true", "LOG_LEVEL": "info"})
        with open(b.config) as f:
            cfg = f.read()
        with open(b.config, "w") as f:
            f.write(cfg.replace("TASK_SOURCES=dir:" + b.tasks_dir,
                                "TASK_SOURCES=dir:%s,%s" % (b.tasks_dir, ep.url)))
        b.start()
        b.import_image(image_layout(), IMAGE)
        running = {}  # task id -> monotonic time the node reported RUNNING
        cond = threading.Condition()
        events = subprocess.Popen([build_path("agent", "cli", "berth"), "events", "--json"],
                                  stdout=subprocess.PIPE, text=True, env=b.env)

        def reader():
            for line in events.stdout:
                if not line.strip():
                    continue
                now = time.monotonic()
                ch = json.loads(line)
                with cond:
                    if ch["status"] in ("RUNNING", "STOPPED") and (ch["task_id"], ch["status"]) not in running:
                        running[(ch["task_id"], ch["status"])] = now
                        cond.notify_all()
        threading.Thread(target=reader, daemon=True).start()
        time.sleep(0.5)

        def wait_for(pred, timeout=120):
            with cond:
                if not cond.wait_for(lambda: pred(), timeout=timeout):
                    raise TimeoutError("no event in %ss" % timeout)
                return pred()

        def task_def(i, kind):
            # the pid: a directory task's id is a hash of its content, and ids name cgroups
            return taskdef("bench-%s-%d-%d" % (kind, i, os.getpid()), container("main", ["sleep", "600"], memory=32))

        def via_endpoint(i):
            t0 = time.monotonic()
            tid = ep.submit(task_def(i, "ep"))
            t1 = wait_for(lambda: running.get((tid, "RUNNING")))
            seen = ep.wait_status(tid, "RUNNING", 60)
            t2 = time.monotonic()
            ep.stop_task(tid)
            wait_for(lambda: running.get((tid, "STOPPED")))
            return t1 - t0, t2 - t0, seen

        def via_dir(i):
            name = "bench%d" % i
            path = os.path.join(b.tasks_dir, name + ".json")
            with open(path + ".tmp", "w") as f:
                json.dump(task_def(i, "dir"), f)
            t0 = time.monotonic()
            os.rename(path + ".tmp", path)
            key = wait_for(lambda: next((k for k in running if k[0].startswith(name + "-") and k[1] == "RUNNING"),
                                        None))
            t1 = running[key]
            os.unlink(path)
            wait_for(lambda: running.get((key[0], "STOPPED")))
            return t1 - t0

        via_endpoint(-1)  # warm: first task's network, first pull lookups
        via_dir(-1)
        ep_lat, ep_seen, dir_lat = [], [], []
        for i in range(rounds):
            order = (0, 1) if i % 2 == 0 else (1, 0)
            for which in order:
                if which == 0:
                    a, c, _ = via_endpoint(i)
                    ep_lat.append(a)
                    ep_seen.append(c)
                else:
                    dir_lat.append(via_dir(i))
        med_ep, med_dir = statistics.median(ep_lat), statistics.median(dir_lat)
        print("assignment -> RUNNING on the node, %d rounds, interleaved (ms):" % rounds)
        print("  endpoint   median %7.1f  min %7.1f  max %7.1f" % (med_ep * 1e3, min(ep_lat) * 1e3, max(ep_lat) * 1e3))
        print("  directory  median %7.1f  min %7.1f  max %7.1f" % (med_dir * 1e3, min(dir_lat) * 1e3,
                                                                   max(dir_lat) * 1e3))
        print("  ratio endpoint/directory (medians): %.2f (target <= 1.5)" % (med_ep / med_dir))
        print("  endpoint: RUNNING recorded by the endpoint, median %.1f ms" % (statistics.median(ep_seen) * 1e3))

        # idle
        time.sleep(5)  # let the last stop's state changes and heartbeat settle
        n0 = ep.nodes()[0]
        print("before idle: %s" % loadavg())
        r0, s0 = thread_stats(b.proc.pid)
        k0 = proc_stat_ticks(b.proc.pid)
        w0 = time.monotonic()
        time.sleep(idle_s)
        r1, s1 = thread_stats(b.proc.pid)
        k1 = proc_stat_ticks(b.proc.pid)
        w1 = time.monotonic()
        n1 = ep.nodes()[0]
        print("idle %.0f s, http source configured (long-poll 30 s, heartbeat 30 s), no task:" % (w1 - w0))
        print("  berthd CPU %.2f ms (%.4f%% of a core), %d context switches (%.2f/s)"
              % ((r1 - r0) / 1e6, (r1 - r0) / 1e7 / (w1 - w0), s1 - s0, (s1 - s0) / (w1 - w0)))
        hz = os.sysconf("SC_CLK_TCK")
        print("  /proc/PID/stat utime+stime: %d tick(s) of %.0f ms = %.0f ms" % (k1 - k0, 1e3 / hz, (k1 - k0) * 1e3 / hz))
        print("  the endpoint heard from the node during it: last_seen advanced %.1f s, generation %d -> %d"
              % ((n1["last_seen_ms"] - n0["last_seen_ms"]) / 1e3, n0["generation"], n1["generation"]))
        print("after idle: %s" % loadavg())
    finally:
        if events:
            events.terminate()
        if b:
            b.cleanup()
        ep.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
