#!/usr/bin/env python3
"""bench.py : berthd against the targets of issue 6, with podman (runc, conmon) as the peer
in the same run. Run through bench/agent/run.sh (which installs podman and builds berth).

  start   task start, image cached, awsvpc: a task file renamed into the directory source
          -> RUNNING (the event on the local API; the status file beside the task file
          too), `berth run --wait`, `podman run -d` with --network none and with a bridge
          network, interleaved (the order rotates every round), RUNS rounds after WARMUP
  shim    berth-shim vs conmon memory (VmRSS, Rss and Pss of smaps_rollup) with a running
          container that logs a line every 100 ms
  scale   TASKS tasks running from the directory source: berthd's memory, then berthd's
          CPU time and wakeups over IDLE seconds with nothing changing (and the shims'),
          then kill -9 and restart RESTARTS times: time to READY=1, and once more under
          strace to see when the last shim answered berthd's `state` (re-adopted)

Prints a summary table; raw samples go to WORK/results.json."""
import argparse
import json
import os
import re
import subprocess
import sys
import time

from benchlib import (IMAGE, PID, SLEEPER, BenchBerthd, Events, Podman, StatusWatch, build_path, cpu_delta,
                      cpu_sample, image_layout, kill_pid, log, make_work, median, memory, pct, remove_many, run,
                      start_many, taskdef, write_task_file)

LOGGER = ["sh", "-c", "i=0; while :; do echo \"log line $i from the benchmark's container\"; i=$((i+1)); usleep 100000; done"]


def machine():
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    cpu = "?"
    for l in open("/proc/cpuinfo"):
        if l.startswith("model name"):
            cpu = l.split(":", 1)[1].strip()
            break
    mem = 0
    for l in open("/proc/meminfo"):
        if l.startswith("MemTotal"):
            mem = int(l.split()[1]) // 1024
    return {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "kernel": os.uname().release,
            "cpus": os.cpu_count(), "cpu": cpu, "mem_mib": mem, "load": load}


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


# ------------------------------------------------------------------ 1. task start

def start_round(variant, i, b, ev, sw, pm, sample):
    """One measured start of `variant`; fills sample; tears the instance down (untimed)."""
    if variant == "berth-dir":
        name = "r%d.json" % i
        m_ev, m_sw = ev.mark(), sw.mark()
        t0 = write_task_file(b.tasks_dir, name, taskdef("benchdir%d" % i, SLEEPER))
        t_ev, ch, _ = ev.wait(lambda c: c["task_id"].startswith("r%d-" % i) and c["status"] in ("RUNNING", "STOPPED"),
                           m_ev, 120)
        if ch["status"] != "RUNNING":
            raise RuntimeError("task %s: %s %s" % (ch["task_id"], ch["status"], ch.get("reason")))
        t_st, _ = sw.wait(name, "RUNNING", m_sw, 60)
        sample["berth-dir-event"] = (t_ev - t0) / 1e9
        sample["berth-dir-status"] = (t_st - t0) / 1e9
        m_ev = ev.mark()
        os.unlink(os.path.join(b.tasks_dir, name))
        ev.wait(lambda c: c["task_id"] == ch["task_id"] and c["status"] == "STOPPED", m_ev, 120)
        b.cli("rm", ch["task_id"], check=False)
    elif variant == "berth-run":
        path = os.path.join(b.root, "def-%d.json" % i)
        with open(path, "w") as f:
            json.dump(taskdef("benchrun%d" % i, SLEEPER), f)
        t0 = time.monotonic()
        p = subprocess.run([build_path("agent", "cli", "berth"), "run", "--wait", path], capture_output=True,
                           text=True, env=b.env)
        t1 = time.monotonic()
        if p.returncode != 0 or "RUNNING" not in p.stdout:
            raise RuntimeError("berth run --wait: %s %s" % (p.stdout, p.stderr))
        sample["berth-run-wait"] = t1 - t0
        tid = p.stdout.split()[0]
        m_ev = ev.mark()
        b.cli("stop", tid)
        ev.wait(lambda c: c["task_id"] == tid and c["status"] == "STOPPED", m_ev, 120)
        b.cli("rm", tid, check=False)
    elif variant in ("podman-none", "podman-bridge"):
        name = "agb%d-%s-%d" % (PID, variant[7:], i)
        net = "none" if variant == "podman-none" else pm.network
        sample[variant] = pm.run_detached(name, net, SLEEPER)
        pm.rm(name)
    else:
        raise ValueError(variant)


def bench_start(b, ev, sw, pm, runs, warmup):
    variants = ["berth-dir", "berth-run", "podman-none", "podman-bridge"]
    samples = []
    for r in range(warmup + runs):
        sample = {"load": loadavg()}
        k = r % len(variants)
        for v in variants[k:] + variants[:k]:
            start_round(v, r, b, ev, sw, pm, sample)
            time.sleep(0.3)  # let the previous instance's teardown finish before the next start
        if r >= warmup:
            samples.append(sample)
        log("start round %d/%d%s: %s" % (r + 1, warmup + runs, " (warm-up)" if r < warmup else "",
                                         "  ".join("%s %.0f ms" % (k, v * 1000) for k, v in sample.items() if k != "load")))
    return samples


# ------------------------------------------------------------------ 2. shim vs conmon

def bench_shim(b, ev, pm, settle=5, samples=5):
    out = {}
    path = os.path.join(b.root, "def-logger.json")
    with open(path, "w") as f:
        json.dump(taskdef("benchlogger", LOGGER), f)
    p = b.cli("run", "--wait", path)
    tid = p.stdout.split()[0]
    insp = json.loads(b.cli("inspect", tid).stdout)
    shim = insp["shim_pid"]
    logf = insp["containers"][0]["log_path"]
    name = "agb%d-logger" % PID
    pm.run_detached(name, "none", LOGGER)
    conmon = pm.conmon_pid(name)
    time.sleep(settle)
    for who, pid in (("berth-shim", shim), ("conmon", conmon)):
        ms = []
        for _ in range(samples):
            ms.append(memory(pid))
            time.sleep(1)
        out[who] = {"pid": pid, "samples": ms, "max": {k: max(m[k] for m in ms) for k in ms[0]}}
    out["berth-shim"]["log_bytes"] = os.path.getsize(logf) if os.path.exists(logf) else 0
    out["berth-shim"]["static"] = "statically linked" in run(["file", "-L", "/proc/%d/exe" % shim]).stdout
    m = ev.mark()
    b.cli("stop", tid)
    ev.wait(lambda c: c["task_id"] == tid and c["status"] == "STOPPED", m, 120)
    b.cli("rm", tid, check=False)
    pm.rm(name)
    return out


# ------------------------------------------------------------------ 3, 4. scale, idle, restart

def shim_pids(b):
    pids = []
    tasks = os.path.join(b.run, "tasks")
    for t in os.listdir(tasks):
        try:
            with open(os.path.join(tasks, t, "shim.pid")) as f:
                pids.append(int(f.read()))
        except (OSError, ValueError):
            pass
    return pids


def container_pids(b, ids):
    """task -> (status, container pid), one `berth inspect` each (the pid is what shows the
    same container was re-adopted, not a new one started)."""
    out = {}
    for i in ids:
        t = json.loads(b.cli("inspect", i).stdout)
        out[i] = (t["status"], t["containers"][0]["pid"])
    return out


def restart_traced(b, strace_out):
    """kill -9, then berthd under strace (only connect/sendmsg/sendto/recvmsg stop it, by
    seccomp-bpf): when READY=1 was sent and when each shim's answer to `state` arrived,
    relative to berthd's execve, on one clock."""
    b.kill9()
    wrapper = ["strace", "-f", "--seccomp-bpf", "-ttt", "-s", "96", "-o", strace_out,
               "-e", "trace=execve,connect,sendmsg,sendto,recvmsg"]
    b.start(timeout=300, wrapper=wrapper)
    time.sleep(5)  # every answer is in by now; measured below from the trace
    execve = ready = None
    answers, handled, pending = [], [], set()
    for line in open(strace_out):
        m = re.match(r"(\d+) (\d+\.\d+) (\w+)\((\d+)?", line)
        if not m:
            continue
        t, call, fd = float(m.group(2)), m.group(3), m.group(4)
        if call == "execve" and execve is None and "berthd" in line:
            execve = t
        elif call in ("sendmsg", "sendto") and "READY=1" in line and ready is None:
            ready = t
        elif call == "recvmsg" and '\\"shim_pid\\"' in line:
            # a shim's answer to `state`: handled when berthd next reads that socket
            answers.append(t)
            pending.add(fd)
        elif call == "recvmsg" and fd in pending:
            pending.discard(fd)
            handled.append(t)
    # the traced berthd goes; a plain one takes over
    strace_pid = b.proc.pid
    children = []
    for tid in os.listdir("/proc/%d/task" % strace_pid):
        with open("/proc/%d/task/%s/children" % (strace_pid, tid)) as f:
            children += [int(x) for x in f.read().split()]
    for c in children:
        kill_pid(c)
    b.proc.wait()
    b.proc = None
    took = b.start(timeout=300)
    return {"ready_s": ready - execve if ready and execve else None,
            "answers": len(answers),
            "last_answer_s": max(answers) - execve if answers and execve else None,
            "last_handled_s": max(handled) - execve if handled and execve else None,
            "first_answer_s": min(answers) - execve if answers and execve else None,
            "untraced_ready_after_s": took}


def bench_scale(b, ev, sw, n, idle, restarts, work):
    out = {"tasks": n}
    running, t0 = start_many(b, ev, n, "benchscale")
    out["all_running_s"] = (max(running.values()) - t0) / 1e9
    ids = sorted(running)
    log("%d tasks RUNNING after %.1f s" % (n, out["all_running_s"]))
    # quiet: no event and no status file for 5 s
    quiet_since = time.monotonic()
    last = (ev.mark(), sw.mark())
    while time.monotonic() - quiet_since < 5:
        time.sleep(0.5)
        now = (ev.mark(), sw.mark())
        if now != last:
            last, quiet_since = now, time.monotonic()
    pid = b.pid()
    out["berthd_memory"] = memory(pid)
    shims = shim_pids(b)
    out["shims"] = len(shims)
    shim_mem = [memory(p) for p in shims]
    out["shim_memory_median"] = {k: median([x[k] for x in shim_mem]) for k in shim_mem[0]}
    log("berthd with %d tasks: %s" % (n, out["berthd_memory"]))

    # idle
    m_ev, m_sw = ev.mark(), sw.mark()
    a = cpu_sample(pid)
    sa = {p: cpu_sample(p) for p in shims}
    t0 = time.monotonic()
    time.sleep(idle)
    secs = time.monotonic() - t0
    bb = cpu_sample(pid)
    sb = {p: cpu_sample(p) for p in shims}
    d = cpu_delta(a, bb)
    out["idle"] = {"seconds": secs, "berthd": d, "events": ev.mark() - m_ev, "status_writes": sw.mark() - m_sw,
                   "shims_run_ns": sum(cpu_delta(sa[p], sb[p])["run_ns"] for p in shims if p in sb),
                   "shims_slices": sum(cpu_delta(sa[p], sb[p])["slices"] for p in shims if p in sb),
                   "shims_vol": sum(cpu_delta(sa[p], sb[p])["vol"] for p in shims if p in sb)}
    log("idle %.0f s: berthd %.3f ms on CPU, %d ticks, %d times scheduled, %d voluntary switches" %
        (secs, d["run_ns"] / 1e6, d["ticks"], d["slices"], d["vol"]))

    # restart
    before = container_pids(b, ids)
    out["restarts"] = []
    for r in range(restarts):
        b.kill9()
        took = b.start(timeout=300)
        ev.connect()
        after = container_pids(b, ids)
        ok = all(st == "RUNNING" for st, _ in after.values())
        same = after == before
        out["restarts"].append({"ready_s": took, "all_running": ok, "same_container_pids": same})
        log("restart %d: READY after %.3f s; all RUNNING: %s; the same container pids: %s" % (r + 1, took, ok, same))
        time.sleep(5)
    out["traced_restart"] = restart_traced(b, os.path.join(work, "restart.strace"))
    ev.connect()
    log("traced restart: %s" % out["traced_restart"])
    out["after_restart_memory"] = memory(b.pid())

    # stop all: remove the files
    remove_many(b, ev, n, running)
    return out


# ------------------------------------------------------------------ report

def ms(x):
    return "%.1f" % (x * 1000)


def summary(res):
    lines = []
    mach = res["machine"]
    lines.append("berthd benchmark  %s  %s, %d cpus, %d MiB, load at start %s, at end %s" % (
        mach["date"], mach["kernel"], mach["cpus"], mach["mem_mib"], mach["load"], res.get("load_end", "?")))
    lines.append("peers: %s; %s" % (res.get("podman_version", "?"), res.get("conmon_version", "?")))
    if res["method"].get("data_on_tmpfs"):
        lines.append("WHAT-IF: berthd's DATA_DIR on a tmpfs (not how berthd runs: /var/lib/berth is on disk)")
    if "start" in res:
        s = res["start"]
        keys = ["berth-dir-event", "berth-dir-status", "berth-run-wait", "podman-none", "podman-bridge"]
        lines.append("")
        lines.append("1. task start, image cached (%d interleaved rounds; ms)" % len(s))
        lines.append("   %-40s %8s %8s %8s %8s" % ("", "median", "p10", "p90", "min"))
        label = {"berth-dir-event": "berth: task file -> RUNNING event",
                 "berth-dir-status": "berth: task file -> status file RUNNING",
                 "berth-run-wait": "berth run --wait (whole CLI process)",
                 "podman-none": "podman run -d --network none",
                 "podman-bridge": "podman run -d, bridge network"}
        med = {}
        for k in keys:
            xs = [x[k] for x in s if k in x]
            med[k] = median(xs)
            lines.append("   %-40s %8s %8s %8s %8s" % (label[k], ms(med[k]), ms(pct(xs, 10)), ms(pct(xs, 90)), ms(min(xs))))
        lines.append("   load average during the rounds: median %.1f" % median([x["load"] for x in s]))
        for b_ in ("berth-dir-event", "berth-run-wait"):
            for p in ("podman-bridge", "podman-none"):
                lines.append("   ratio %-17s / %-14s = %.2f   (target <= 0.30)" % (b_, p, med[b_] / med[p]))
    if "shim" in res:
        lines.append("")
        lines.append("2. per-container monitor, container logging a line every 100 ms (KiB, max of %d samples)"
                     % len(res["shim"]["berth-shim"]["samples"]))
        lines.append("   %-12s %8s %8s %8s %8s" % ("", "VmRSS", "Rss", "Pss", "private"))
        for who in ("berth-shim", "conmon"):
            mx = res["shim"][who]["max"]
            lines.append("   %-12s %8d %8d %8d %8d" % (who, mx["vmrss_kib"], mx["rss_kib"], mx["pss_kib"], mx["private_kib"]))
        lines.append("   berth-shim VmRSS %.2f MiB (target < 1 MiB); berth-shim / conmon RSS = %.2f" % (
            res["shim"]["berth-shim"]["max"]["vmrss_kib"] / 1024.0,
            res["shim"]["berth-shim"]["max"]["vmrss_kib"] / res["shim"]["conmon"]["max"]["vmrss_kib"]))
    if "scale" in res:
        sc = res["scale"]
        m = sc["berthd_memory"]
        lines.append("")
        lines.append("3. %d tasks running (all RUNNING %.1f s after their files appeared)" % (sc["tasks"], sc["all_running_s"]))
        lines.append("   berthd: VmRSS %.1f MiB, Pss %.1f MiB, %d threads, %d fds (target < 30 MiB)" % (
            m["vmrss_kib"] / 1024.0, m["pss_kib"] / 1024.0, m["threads"], m["fds"]))
        sm = sc["shim_memory_median"]
        lines.append("   %d shims: median VmRSS %d KiB, Pss %d KiB each" % (sc["shims"], sm["vmrss_kib"], sm["pss_kib"]))
        i = sc["idle"]
        d = i["berthd"]
        lines.append("   idle %.0f s, nothing changing: berthd %.1f ms on CPU (%.4f%% of one CPU), %d clock ticks, "
                     "%d times scheduled (%.2f/s), %d voluntary + %d involuntary switches; %d events, %d status writes"
                     % (i["seconds"], d["run_ns"] / 1e6, d["run_ns"] / 1e7 / i["seconds"], d["ticks"], d["slices"],
                        d["slices"] / i["seconds"], d["vol"], d["invol"], i["events"], i["status_writes"]))
        busy = sorted(((v[0], t) for t, v in d["threads"].items() if v[1]), reverse=True)
        if busy:
            lines.append("   berthd threads that ran: " + ", ".join("%s %.2f ms" % (t, ns / 1e6) for ns, t in busy))
        lines.append("   the %d shims over the same time: %.1f ms on CPU, %d times scheduled" % (
            sc["shims"], i["shims_run_ns"] / 1e6, i["shims_slices"]))
        lines.append("")
        rs = sc["restarts"]
        lines.append("4. kill -9 and restart with %d running tasks (target < 1 s)" % sc["tasks"])
        lines.append("   READY=1 after (exec -> notify): %s s; median %.3f s" % (
            " ".join("%.3f" % r["ready_s"] for r in rs), median([r["ready_s"] for r in rs])))
        lines.append("   after each restart every task RUNNING (berth inspect): %s; with the same container pid: %s" % (
            all(r["all_running"] for r in rs), all(r["same_container_pids"] for r in rs)))
        tr = sc["traced_restart"]
        if tr.get("last_answer_s") is not None:
            lines.append("   under strace (seccomp-bpf, 5 syscalls): READY at %.3f s, shims answered `state` from %.3f s "
                         "to %.3f s (%d answers; the last one handled at %.3f s) after berthd's execve" % (
                             tr["ready_s"] or -1, tr["first_answer_s"], tr["last_answer_s"], tr["answers"],
                             tr["last_handled_s"] or -1))
        lines.append("   berthd after the restarts: VmRSS %.1f MiB" % (sc["after_restart_memory"]["vmrss_kib"] / 1024.0))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", 20)))
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--tasks", type=int, default=int(os.environ.get("TASKS", 200)))
    ap.add_argument("--idle", type=float, default=float(os.environ.get("IDLE", 60)))
    ap.add_argument("--restarts", type=int, default=3)
    ap.add_argument("--only", default="start,shim,scale", help="comma-separated: start, shim, scale")
    ap.add_argument("--work", help="work directory (default: a new one in /var/tmp, removed at the end)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--data-on-tmpfs", action="store_true",
                    help="what-if: berthd's DATA_DIR on a tmpfs (its fsyncs cost nothing there)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench.py needs root")
    only = set(args.only.split(","))
    work = args.work or make_work()
    os.makedirs(work, exist_ok=True)
    res = {"machine": machine(), "method": vars(args)}
    log("work directory %s; machine %s" % (work, res["machine"]))
    layout = image_layout(work)
    b = pm = ev = sw = None
    try:
        b = BenchBerthd("agbench", data_on_tmpfs=args.data_on_tmpfs)
        b.start()
        b.import_image(layout, IMAGE)
        ev = Events(b.api)
        sw = StatusWatch(b.tasks_dir)
        if only & {"start", "shim"}:
            pm = Podman(work)
            res["podman_version"] = pm.version()
            res["conmon_version"] = run(["conmon", "--version"]).stdout.splitlines()[0]
            pm.load(layout)
        if "start" in only:
            res["start"] = bench_start(b, ev, sw, pm, args.runs, args.warmup)
        if "shim" in only:
            res["shim"] = bench_shim(b, ev, pm)
        if pm:
            pm.cleanup()
            pm = None
        if "scale" in only:
            res["scale"] = bench_scale(b, ev, sw, args.tasks, args.idle, args.restarts, work)
        res["load_end"] = "%.2f" % loadavg()
    finally:
        if ev:
            ev.close()
        if sw:
            sw.close()
        if pm:
            pm.cleanup()
        if b:
            b.cleanup()
        with open(os.path.join(work, "results.json"), "w") as f:
            json.dump(res, f, indent=1)
    text = summary(res)
    print(text)
    with open(os.path.join(work, "summary.txt"), "w") as f:
        f.write(text + "\n")
    if not args.keep and not args.work:
        subprocess.run(["rm", "-rf", work])
    else:
        log("results in %s" % work)


if __name__ == "__main__":
    main()
