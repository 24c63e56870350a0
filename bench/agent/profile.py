#!/usr/bin/env python3
"""profile.py start [--runs N] | restart [--tasks N] : where the time of a task start, or of
berthd's restart with N running tasks, goes, step by step.

berthd runs as in bench.py (RUN_DIR on a tmpfs, DATA_DIR on disk, log level info) and
starts N tasks one after the other from its directory source (file renamed into tasks.d
-> RUNNING event). The kernel records, on the monotonic clock, with no tracer stopping
any process:
  * uprobes on berthd's own functions (entry and return): the dir source's hand-over,
    task_accept, the network job, cgroups_create, berth_spawn (the shim), imagecache_pull
    (image resolve), imagecache_rootfs_prepare (overlay mount), ctr_write_bundle, the shim
    calls `create` and `start` and their answers, task_report, every atomic file write
    (berth_write_file_atomic_at, with its path) and the state/outbox writes;
  * sched_process_fork/exec/exit: the shim and each berth-runtime process;
  * the dir source thread's poll() returns (inotify wake-up, end of the debounce);
  * sched_switch/sched_wakeup: how long each process of the start waited for a CPU.
tracefs is mounted in a mount namespace of its own (a holder process; reached through
/proc/<pid>/root), events go to a tracing instance of our own, and the probes are removed
at the end. Prints the median of every step over the runs, and the raw per-run timelines
with --verbose.

restart: N tasks run from the directory source; berthd is killed -9 and started again
with uprobes on the recovery (store_load_all, engine_recover, on_shim_state for each
shim's answer, recover_collect, on_ready = READY=1, task_report, every atomic write).
Prints when each step ran after berthd's execve and what the writes cost."""
import argparse
import os
import re
import subprocess
import sys
import time

from benchlib import (IMAGE, PID, SLEEPER, BenchBerthd, Events, build_path, image_layout, log, make_work, median,
                      memory, pct, remove_many, start_many, taskdef, write_task_file)



def file_offset(binary, symbol):
    addr = None
    for line in subprocess.run(["nm", binary], capture_output=True, text=True, check=True).stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == symbol and parts[1] in "tT":
            addr = int(parts[0], 16)
    if addr is None:
        raise KeyError("%s: no symbol %s (inlined?)" % (binary, symbol))
    for line in subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True, check=True).stdout.splitlines():
        p = line.split()
        if p and p[0] == "LOAD":
            off, vaddr, memsz = int(p[1], 16), int(p[2], 16), int(p[5], 16)
            if vaddr <= addr < vaddr + memsz:
                return addr - vaddr + off
    raise KeyError("%s: %s not in a LOAD segment" % (binary, symbol))


class Tracer:
    def __init__(self):
        self.holder = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             "mount -t tracefs nodev /sys/kernel/tracing && echo ok && exec sleep 1000000"],
            stdout=subprocess.PIPE, text=True)
        if self.holder.stdout.readline().strip() != "ok":
            raise RuntimeError("cannot mount tracefs in a private mount namespace")
        self.fs = "/proc/%d/root/sys/kernel/tracing" % self.holder.pid
        self.group = "agb%d" % PID
        self.inst = os.path.join(self.fs, "instances", self.group)
        os.mkdir(self.inst)
        self.put("trace_clock", "mono")
        self.put("buffer_size_kb", "8192")
        self.probes = []
        self.enabled = []

    def put(self, rel, text, append=False, base=None):
        # plain write(2): tracefs files cannot seek (Python's "a" mode does), and O_TRUNC on
        # uprobe_events would remove every probe on the machine
        fd = os.open(os.path.join(base or self.inst, rel), os.O_WRONLY | (os.O_APPEND if append else os.O_TRUNC))
        try:
            os.write(fd, (text + "\n").encode())
        finally:
            os.close(fd)

    def uprobe(self, name, binary, symbol, ret=False, args=""):
        off = file_offset(binary, symbol)
        self.put("uprobe_events", "%s:%s/%s %s:0x%x %s" % ("r" if ret else "p", self.group, name, binary, off, args),
                 append=True, base=self.fs)
        self.probes.append(name)

    def enable(self, event, filt=None):
        d = os.path.join(self.inst, "events", event)
        if filt:
            self.put(os.path.join(d, "filter"), filt)
        self.put(os.path.join(d, "enable"), "1")
        self.enabled.append(event)

    def enable_probes(self):
        for p in self.probes:
            self.enable("%s/%s" % (self.group, p))

    def take(self):
        with open(os.path.join(self.inst, "trace")) as f:
            text = f.read()
        self.put("trace", "")
        return text

    def close(self):
        for e in self.enabled:
            try:
                self.put(os.path.join("events", e, "enable"), "0")
            except OSError:
                pass
        try:
            os.rmdir(self.inst)
        except OSError as e:
            log("tracing instance %s: %s" % (self.inst, e))
        for p in self.probes:
            try:
                self.put("uprobe_events", "-:%s/%s" % (self.group, p), append=True, base=self.fs)
            except OSError as e:
                log("uprobe %s: %s" % (p, e))
        self.holder.kill()
        self.holder.wait()


# "comm-tid [cpu] flags seconds: event: fields"; a syscall exit reads "sys_poll -> 0x1"
LINE = re.compile(r"^\s*(.*?)-(\d+)\s+\[(\d+)\]\s+\S+\s+(\d+\.\d+):\s+(\w+)(?::\s?|\s+)(.*)$")


def parse(text):
    evs = []
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            evs.append((float(m.group(4)), int(m.group(2)), m.group(5), m.group(6), m.group(1)))
    return evs


def field(s, k):
    m = re.search(r"\b%s=(\"[^\"]*\"|\S+)" % re.escape(k), s)
    return m.group(1).strip('"') if m else None


def analyse(evs, t0, t_end, berthd_pid, dir_tid, berthd_tids):
    """One start: the steps on its critical path, in ms."""
    steps = {}
    first = {}
    spans = {}
    open_ = {}
    writes = {"main": [0, 0.0], "dir": [0, 0.0], "worker": [0, 0.0]}
    write_paths = []
    reports, calls = [], []
    procs = {}  # pid -> {"parent", "fork", "exec": [(t, filename)], "exit"}
    for t, tid, name, rest, comm in evs:
        if name == "sched_process_fork":
            procs[int(field(rest, "child_pid"))] = {"parent": int(field(rest, "pid")), "fork": t, "exec": [],
                                                    "exit": None}
        elif name == "sched_process_exec" and int(field(rest, "pid")) in procs:
            procs[int(field(rest, "pid"))]["exec"].append((t, field(rest, "filename") or ""))
        elif name == "sched_process_exit" and int(field(rest, "pid")) in procs:
            procs[int(field(rest, "pid"))]["exit"] = t

    def ours_(pid):  # a descendant of our berthd (other berthds run on this machine too)
        while pid in procs:
            pid = procs[pid]["parent"]
            if pid in berthd_tids:
                return True
        return False

    ours = {p: v for p, v in procs.items() if ours_(p)}
    shim_pid = next((p for p, v in ours.items() if any(f.endswith("berth-shim") for _, f in v["exec"])), None)
    rts = sorted((v for p, v in ours.items() if v["parent"] == shim_pid and v["exec"]
                  and v["exec"][0][1].endswith("berth-runtime")), key=lambda v: v["fork"])
    inits = [p for p, v in ours.items() if any(f.startswith("/bin/") for _, f in v["exec"])]
    for t, tid, name, rest, comm in evs:
        if t < t0 - 0.001 or t > t_end + 0.001:
            continue
        if name.endswith("_ret"):
            base = name[:-4]
            key = (base, tid)
            if key in open_:
                st = open_.pop(key)
                spans.setdefault(base, []).append((st[0], t, tid, st[1]))
            continue
        if name.startswith("sched_") or name.startswith("sys_"):
            continue
        open_[(name, tid)] = (t, rest)
        first.setdefault(name, t)
        if name == "task_report":
            reports.append(t)
        if name == "shimconn_call":
            calls.append((t, field(rest, "op")))

    def span(name, idx=0):
        s = spans.get(name, [])
        return s[idx] if len(s) > idx else None

    def dur(name, idx=0):
        s = span(name, idx)
        return (s[1] - s[0]) * 1000 if s else None

    # the dir source: woken by inotify, (debounce,) scan, hand-over
    poll_rets = []
    for t, tid, name, rest, comm in evs:
        if name == "sys_poll" and tid == dir_tid and t0 <= t <= t_end:
            m = re.search(r"0x([0-9a-f]+)", rest)
            poll_rets.append((t, int(m.group(1), 16) if m else None))
    wake = next((t for t, r in poll_rets if r), None)
    submit = first.get("source_sink_submit")
    settled = next((t for t, r in poll_rets if r == 0 and wake and t > wake and (submit is None or t < submit)), None)
    sink = span("on_sink_wakeup")
    accept = span("task_accept")
    net = span("net_job_run")
    cg = spans.get("cgroups_create", [])
    spawn = span("berth_spawn")
    pull = span("imagecache_pull")
    prep = span("imagecache_rootfs_prepare")
    bundle = span("ctr_write_bundle")
    created = first.get("on_created")
    started = first.get("on_started")
    net_done = first.get("net_job_done")
    pull_done = first.get("pull_job_done")
    c_create = next((t for t, op in calls if op == "create"), None)
    c_start = next((t for t, op in calls if op == "start"), None)

    def ms(a, b):
        return (b - a) * 1000 if a is not None and b is not None else None

    def rt(i):  # the i-th berth-runtime the shim ran: fork, exec, re-exec (memfd), init forked, exit
        if len(rts) <= i:
            return {}
        v = rts[i]
        kids = sorted(w["fork"] for p, w in ours.items() if w["parent"] in (p_ for p_, x in ours.items() if x is v))
        return {"fork": v["fork"], "exec": v["exec"][0][0], "reexec": v["exec"][1][0] if len(v["exec"]) > 1 else None,
                "child": kids[0] if kids else None, "exit": v["exit"]}

    cr, st = rt(0), rt(1)
    steps["dir: inotify wake-up of the dir thread"] = ms(t0, wake)
    steps["dir: settle (DIR_DEBOUNCE_MS)"] = ms(wake, settled) if settled else 0.0
    steps["dir: scan + hand-over to the engine"] = ms(settled or wake, submit)
    steps["engine: wake-up after the hand-over"] = ms(submit, sink[0] if sink else None)
    steps["engine: accept (task_accept: task.json, state, outbox, PROVISIONING)"] = ms(*accept[:2]) if accept else None
    steps["engine: rest of the update (sources.json, snapshot)"] = ms(accept[1], sink[1]) if accept and sink else None
    steps["gap: update handled -> network job runs"] = ms(sink[1] if sink else None, net[0] if net else None)
    steps["network: netns, veth, address, routes, files (worker)"] = ms(*net[:2]) if net else None
    steps["gap: network job done -> handled by the loop"] = ms(net[1] if net else None, net_done)
    steps["cgroup: task cgroup (cgroups_create)"] = ms(*cg[0][:2]) if cg else None
    steps["shim: posix_spawn (berth_spawn)"] = ms(*spawn[:2]) if spawn else None
    steps["rest: network handled -> pull job runs (persist, PENDING)"] = ms(net_done, pull[0] if pull else None)
    steps["image: resolve (imagecache_pull, policy if-not-present)"] = ms(*pull[:2]) if pull else None
    steps["image: overlay mount (imagecache_rootfs_prepare)"] = ms(*prep[:2]) if prep else None
    steps["gap: pull job done -> handled by the loop"] = ms(prep[1] if prep else None, pull_done)
    steps["cgroup: container cgroup (cgroups_create)"] = ms(*cg[1][:2]) if len(cg) > 1 else None
    steps["bundle: config.json (ctr_write_bundle)"] = ms(*bundle[:2]) if bundle else None
    steps["rest: pull handled -> create sent (persist, ACTIVATING)"] = ms(pull_done, c_create)
    steps["create: sent -> berth-runtime exec'd by the shim"] = ms(c_create, cr.get("exec"))
    steps["create: runtime exec -> re-exec of its memfd copy"] = ms(cr.get("exec"), cr.get("reexec"))
    steps["create: re-exec -> container init forked"] = ms(cr.get("reexec") or cr.get("exec"), cr.get("child"))
    steps["create: init forked -> runtime exit"] = ms(cr.get("child"), cr.get("exit"))
    steps["create: runtime exit -> answer handled by berthd"] = ms(cr.get("exit"), created)
    steps["rest: create answered -> start sent (persist, CREATED)"] = ms(created, c_start)
    steps["start: sent -> berth-runtime exec'd by the shim"] = ms(c_start, st.get("exec"))
    steps["start: berth-runtime start (exec -> exit)"] = ms(st.get("exec"), st.get("exit"))
    steps["start: runtime exit -> answer handled by berthd"] = ms(st.get("exit"), started)
    steps["RUNNING: answer handled -> event sent (persist, report)"] = ms(started, t_end)
    steps["total: task file renamed -> RUNNING event"] = ms(t0, t_end)

    # atomic writes (each: write, fsync, rename, fsync of the directory)
    for s_ in spans.get("berth_write_file_atomic_at", []):
        who = "dir" if s_[2] == dir_tid else "main" if s_[2] == berthd_pid else "worker"
        writes[who][0] += 1
        writes[who][1] += (s_[1] - s_[0]) * 1000
        write_paths.append((s_[0], (s_[1] - s_[0]) * 1000, who, field(s_[3], "path")))
    # waiting for a CPU: woken -> switched in, for berthd's threads, the shim, the runtimes
    kind = {p: "berthd" for p in berthd_tids}
    for p, v in ours.items():
        f = v["exec"][0][1] if v["exec"] else ""
        kind[p] = "shim" if f.endswith("berth-shim") else "runtime" if "berth-runtime" in f or \
            (v["parent"] in kind and kind[v["parent"]] == "runtime") else "other"
    for p in inits:
        kind[p] = "container"
    kind[berthd_pid] = "berthd main"
    woken, oncpu = {}, {}
    waits = {k: 0.0 for k in ("berthd main", "berthd", "shim", "runtime", "container", "other")}
    runs = dict(waits)
    for t, tid, name, rest, comm in evs:
        if not (t0 <= t <= t_end):
            continue
        if name in ("sched_wakeup", "sched_wakeup_new"):
            p = int(field(rest, "pid"))
            if p in kind:
                woken[p] = t
        elif name == "sched_switch":
            p = int(field(rest, "prev_pid"))
            if p in oncpu:
                runs[kind[p]] += (t - oncpu.pop(p)) * 1000
            if p in kind and (field(rest, "prev_state") or "").startswith("R"):
                woken[p] = t  # preempted: runnable, waiting for a CPU again
            p = int(field(rest, "next_pid"))
            if p in woken:
                waits[kind[p]] += (t - woken.pop(p)) * 1000
            if p in kind:
                oncpu[p] = t
    for p, t in oncpu.items():
        runs[kind[p]] += (t_end - t) * 1000
    return steps, writes, write_paths, {"waited": waits, "ran": runs}


START_PROBES = [
    ("source_sink_submit", "source_sink_submit", False, ""),
    ("on_sink_wakeup", "on_sink_wakeup", False, ""), ("on_sink_wakeup_ret", "on_sink_wakeup", True, ""),
    ("task_accept", "task_accept", False, ""), ("task_accept_ret", "task_accept", True, ""),
    ("net_job_run", "net_job_run", False, ""), ("net_job_run_ret", "net_job_run", True, ""),
    ("net_job_done", "net_job_done", False, ""),
    ("cgroups_create", "cgroups_create", False, ""), ("cgroups_create_ret", "cgroups_create", True, ""),
    ("berth_spawn", "berth_spawn", False, ""), ("berth_spawn_ret", "berth_spawn", True, ""),
    ("imagecache_pull", "imagecache_pull", False, ""), ("imagecache_pull_ret", "imagecache_pull", True, ""),
    ("imagecache_rootfs_prepare", "imagecache_rootfs_prepare", False, ""),
    ("imagecache_rootfs_prepare_ret", "imagecache_rootfs_prepare", True, ""),
    ("pull_job_done", "pull_job_done", False, ""),
    ("ctr_write_bundle", "ctr_write_bundle", False, ""), ("ctr_write_bundle_ret", "ctr_write_bundle", True, ""),
    ("shimconn_call", "shimconn_call", False, "op=+0(%si):string"),
    ("on_created", "on_created", False, ""), ("on_started", "on_started", False, ""),
    ("task_report", "task_report", False, ""),
    ("berth_write_file_atomic_at", "berth_write_file_atomic_at", False, "path=+0(%si):string"),
    ("berth_write_file_atomic_at_ret", "berth_write_file_atomic_at", True, "")]

RESTART_PROBES = [
    ("store_load_all", "store_load_all", False, ""), ("store_load_all_ret", "store_load_all", True, ""),
    ("engine_recover", "engine_recover", False, ""), ("engine_recover_ret", "engine_recover", True, ""),
    ("on_shim_state", "on_shim_state", False, ""), ("on_shim_state_ret", "on_shim_state", True, ""),
    ("recover_collect", "recover_collect", False, ""), ("recover_collect_ret", "recover_collect", True, ""),
    ("source_sink_submit", "source_sink_submit", False, ""),
    ("on_sink_wakeup", "on_sink_wakeup", False, ""), ("on_sink_wakeup_ret", "on_sink_wakeup", True, ""),
    ("on_ready", "on_ready", False, ""),
    ("task_report", "task_report", False, ""),
    ("berth_write_file_atomic_at", "berth_write_file_atomic_at", False, "path=+0(%si):string"),
    ("berth_write_file_atomic_at_ret", "berth_write_file_atomic_at", True, "")]


def find_dir_tid(pid):
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/syscall" % (pid, tid)) as f:
            if f.read().split()[0] == "7":  # poll(2): the dir source's thread waits there
                return int(tid)
    return None


def profile_start(args, b, ev, tr, berthd_bin):
    pid = b.pid()
    tids = [int(x) for x in os.listdir("/proc/%d/task" % pid)]
    dir_tid = find_dir_tid(pid)
    for name, sym, ret, a in START_PROBES:
        tr.uprobe(name, berthd_bin, sym, ret, a)
    tr.enable_probes()
    for e in ("sched/sched_process_fork", "sched/sched_process_exec", "sched/sched_process_exit",
              "sched/sched_switch", "sched/sched_wakeup", "sched/sched_wakeup_new"):
        tr.enable(e)
    if dir_tid:
        tr.enable("syscalls/sys_exit_poll", "common_pid == %d" % dir_tid)
    tr.take()
    results = []
    off = time.time_ns() - time.monotonic_ns()  # realtime - monotonic, for the event stamps
    for i in range(args.warmup + args.runs):
        name = "p%d.json" % i
        m = ev.mark()
        t0_rt = write_task_file(b.tasks_dir, name, taskdef("prof%d" % i, SLEEPER))
        t_ev, ch, _ = ev.wait(lambda c: c["task_id"].startswith("p%d-" % i) and c["status"] in ("RUNNING", "STOPPED"),
                              m, 120)
        time.sleep(0.2)
        text = tr.take()
        if ch["status"] != "RUNNING":
            raise RuntimeError("%s: %s" % (ch["task_id"], ch.get("reason")))
        t0, t_end = (t0_rt - off) / 1e9, (t_ev - off) / 1e9
        if args.raw:
            with open(args.raw, "w") as f:
                f.write("# t0 %.6f t_end %.6f dir_tid %s berthd %d\n" % (t0, t_end, dir_tid, pid))
                f.writelines(l + "\n" for l in text.splitlines() if "sched_switch" not in l and "sched_wakeup" not in l)
        if i >= args.warmup:
            steps, writes, paths, waits = analyse(parse(text), t0, t_end, pid, dir_tid, tids)
            results.append((steps, writes, waits))
            if args.verbose:
                print("---- run %d" % i)
                for k, v in steps.items():
                    print("  %-75s %s" % (k, "%.1f" % v if v is not None else "-"))
                for t, d, who, p in paths:
                    print("  write %-6s %+8.1f ms  %6.2f ms  %s" % (who, (t - t0) * 1000, d, p))
                print("  on a CPU / waiting for one (ms): %s" % waits)
        m = ev.mark()
        os.unlink(os.path.join(b.tasks_dir, name))
        ev.wait(lambda c: c["task_id"] == ch["task_id"] and c["status"] == "STOPPED", m, 120)
        b.cli("rm", ch["task_id"], check=False)
        time.sleep(0.3)
        tr.take()
        log("run %d/%d: %.1f ms" % (i + 1, args.warmup + args.runs, (t_end - t0) * 1000))
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print("task start, step by step: median (p10-p90) over %d runs, ms; load average at the end %s" %
          (len(results), " ".join(load)))
    for k in results[0][0]:
        xs = [r[0][k] for r in results if r[0][k] is not None]
        if xs:
            print("  %-78s %7.1f  (%5.1f-%5.1f)" % (k, median(xs), pct(xs, 10), pct(xs, 90)))
    for who in ("main", "dir", "worker"):
        n = [r[1][who][0] for r in results]
        d = [r[1][who][1] for r in results]
        print("  atomic file writes (write+fsync+rename+fsync dir) on berthd's %-6s thread(s): median %d writes, "
              "%.1f ms" % (who, median(n), median(d)))
    print("  %-14s %18s %22s" % ("", "ran on a CPU (ms)", "runnable, waited (ms)"))
    for k in results[0][2]["ran"]:
        print("  %-14s %18.1f %22.1f" % (k, median([r[2]["ran"][k] for r in results]),
                                         median([r[2]["waited"][k] for r in results])))


def write_kind(path):
    base = os.path.basename(path or "")
    if base.endswith(".status"):
        return "status file beside the task file"
    if re.match(r"^\d+\.json$", base):
        return "outbox entry"
    return base or "?"


def profile_restart(args, b, ev, tr, berthd_bin):
    n = args.tasks
    running, _ = start_many(b, ev, n, "restart")
    log("%d tasks RUNNING" % n)
    time.sleep(5)
    mem_before = memory(b.pid())
    for name, sym, ret, a in RESTART_PROBES:
        tr.uprobe(name, berthd_bin, sym, ret, a)
    tr.enable_probes()
    tr.enable("sched/sched_process_exec")
    tr.take()
    ev.close()
    b.kill9()
    took = b.start(timeout=300)
    pid = b.pid()
    time.sleep(3)
    text = tr.take()
    evs = parse(text)
    t_exec = next((t for t, tid, name, rest, _ in evs if name == "sched_process_exec" and field(rest, "pid") == str(pid)),
                  None)
    dir_tid = find_dir_tid(pid)
    spans, open_, first, counts = {}, {}, {}, {}
    tids = set(int(x) for x in os.listdir("/proc/%d/task" % pid))
    for t, tid, name, rest, _ in evs:
        if tid not in tids:
            continue
        if name.endswith("_ret"):
            st = open_.pop((name[:-4], tid), None)
            if st:
                spans.setdefault(name[:-4], []).append((st[0], t, tid, st[1]))
            continue
        open_[(name, tid)] = (t, rest)
        first.setdefault(name, t)
        counts[name] = counts.get(name, 0) + 1

    def rel(t):
        return "%8.1f" % ((t - t_exec) * 1000) if t is not None and t_exec else "       -"

    print("berthd kill -9 and restart with %d running tasks (%s); times in ms after berthd's execve" %
          (n, "DATA_DIR on tmpfs" if args.data_on_tmpfs else "DATA_DIR on disk"))
    print("  READY=1 seen by the test %.1f ms after the kill (the fixture's clock, includes exec)" % (took * 1000))
    mem_after = memory(pid)
    print("  berthd VmRSS before the kill %.1f MiB (Pss %.1f), 3 s after READY %.1f MiB (Pss %.1f)" % (
        mem_before["vmrss_kib"] / 1024, mem_before["pss_kib"] / 1024, mem_after["vmrss_kib"] / 1024,
        mem_after["pss_kib"] / 1024))
    for label, name in [("store_load_all (read every task.json, state.json)", "store_load_all"),
                        ("engine_recover (connect to every shim, ask `state`)", "engine_recover"),
                        ("recover_collect (sources ready: orphans, leases, networks)", "recover_collect")]:
        sp = spans.get(name, [])
        if sp:
            print("  %-62s %s -> %s" % (label, rel(sp[0][0]), rel(sp[0][1])))
    sh = spans.get("on_shim_state", [])
    if sh:
        d = [(e - s) * 1000 for s, e, _, _ in sh]
        print("  %-62s %s -> %s   (%d answers; handling one: median %.2f ms, total %.1f ms)" % (
            "shims' answers handled (on_shim_state)", rel(sh[0][0]), rel(max(e for _, e, _, _ in sh)), len(sh),
            median(d), sum(d)))
    subs = [t for t, tid, name, _, _ in evs if name == "source_sink_submit"]
    print("  %-62s %s" % ("the dir source's first scan handed over", rel(subs[0] if subs else None)))
    print("  %-62s %s" % ("READY (on_ready)", rel(first.get("on_ready"))))
    print("  task_report calls: %d" % counts.get("task_report", 0))
    kinds = {}
    for s, e, tid, rest in spans.get("berth_write_file_atomic_at", []):
        k = ("dir thread: " if tid == dir_tid else "") + write_kind(field(rest, "path"))
        kinds.setdefault(k, []).append((e - s) * 1000)
    for k, d in sorted(kinds.items(), key=lambda x: -sum(x[1])):
        print("  atomic writes %-44s %5d, %8.1f ms in all (median %.2f ms)" % (k, len(d), sum(d), median(d)))
    # the tasks go: their files removed
    ev.connect()
    remove_many(b, ev, n, running)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["start", "restart"])
    ap.add_argument("--runs", type=int, default=10, help="start: measured starts")
    ap.add_argument("--warmup", type=int, default=2, help="start: starts not counted")
    ap.add_argument("--tasks", type=int, default=200, help="restart: running tasks")
    ap.add_argument("--verbose", action="store_true", help="start: every run's steps and file writes")
    ap.add_argument("--raw", help="start: write the last run's trace (without scheduler events) to this file")
    ap.add_argument("--config", action="append", default=[], help="KEY=VALUE for berthd.conf")
    ap.add_argument("--data-on-tmpfs", action="store_true",
                    help="what-if: DATA_DIR on a tmpfs too (fsync costs nothing there)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("profile.py needs root")
    work = make_work()
    layout = image_layout(work)
    berthd_bin = os.path.realpath(build_path("agent", "daemon", "berthd"))
    b = ev = tr = None
    try:
        b = BenchBerthd("agprof", extra_config=dict(kv.split("=", 1) for kv in args.config),
                        data_on_tmpfs=args.data_on_tmpfs)
        b.start()
        b.import_image(layout, IMAGE)
        ev = Events(b.api)
        tr = Tracer()
        (profile_start if args.what == "start" else profile_restart)(args, b, ev, tr, berthd_bin)
    finally:
        if tr:
            tr.close()
        if ev:
            ev.close()
        if b:
            b.cleanup()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
