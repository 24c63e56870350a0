"""Pieces of the agent benchmark (bench/agent/bench.py, profile-start.py): a berthd laid out
as on a systemd host (RUN_DIR on a tmpfs of its own, DATA_DIR on disk), its event stream
and its task directory watched with timestamps, podman as the peer with everything in a
work directory of its own, and /proc readers for memory, CPU time and wakeups.
Only the standard library; the berthd itself is tests/lib/berthd.py."""
import ctypes
import json
import os
import select
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
from berthd import Berthd, build_path  # noqa: E402

IMAGE = "localhost/bench/busybox:latest"
PID = os.getpid()


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def run(cmd, check=True, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
    return p


# ------------------------------------------------------------------ statistics

def median(xs):
    return statistics.median(xs) if xs else float("nan")


def pct(xs, p):
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = (len(s) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


# ------------------------------------------------------------------ the image

def image_layout(work):
    """The busybox OCI layout the e2e tests use (Debian's busybox-static, one layer)."""
    rootfs, layout = os.path.join(work, "rootfs"), os.path.join(work, "layout")
    if not os.path.exists(os.path.join(layout, "index.json")):
        run([os.path.join(TOP, "tests", "lib", "mkrootfs.sh"), rootfs])
        run([sys.executable, os.path.join(TOP, "tests", "lib", "oci-image.py"), rootfs, layout, "--name", "latest"])
    return layout


def taskdef(family, command, **extra):
    c = {"name": "main", "image": IMAGE, "essential": True, "command": command, "memory": 16, "stopTimeout": 1}
    c.update(extra)
    return {"family": family, "networkMode": "awsvpc", "containerDefinitions": [c]}


# ------------------------------------------------------------------ /proc

def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def smaps_rollup(pid):
    """Rss, Pss, Private_* ... in KiB."""
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[-1] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1])
    return out


def memory(pid):
    st, sm = proc_status(pid), smaps_rollup(pid)
    return {"vmrss_kib": int(st["VmRSS"].split()[0]), "rss_kib": sm.get("Rss", 0), "pss_kib": sm.get("Pss", 0),
            "private_kib": sm.get("Private_Clean", 0) + sm.get("Private_Dirty", 0),
            "threads": int(st["Threads"]), "fds": len(os.listdir("/proc/%d/fd" % pid))}


def cpu_sample(pid):
    """CPU of a process, all its threads: utime+stime (clock ticks), the scheduler's
    nanoseconds on CPU and times scheduled in (schedstat), and context switches."""
    s = {"ticks": 0, "run_ns": 0, "slices": 0, "vol": 0, "invol": 0, "threads": {}}
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    s["ticks"] = int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                run_ns, _, slices = (int(x) for x in f.read().split())
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                comm = f.read().strip()
            st = proc_status_path("/proc/%d/task/%s/status" % (pid, tid))
        except OSError:
            continue
        vol, invol = int(st["voluntary_ctxt_switches"]), int(st["nonvoluntary_ctxt_switches"])
        s["run_ns"] += run_ns
        s["slices"] += slices
        s["vol"] += vol
        s["invol"] += invol
        s["threads"]["%s/%s" % (tid, comm)] = (run_ns, slices, vol, invol)
    return s


def proc_status_path(path):
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def cpu_delta(a, b):
    d = {k: b[k] - a[k] for k in ("ticks", "run_ns", "slices", "vol", "invol")}
    d["threads"] = {t: tuple(y - x for x, y in zip(a["threads"][t], v))
                    for t, v in b["threads"].items() if t in a["threads"]}
    return d


# ------------------------------------------------------------------ berthd

class BenchBerthd(Berthd):
    """tests/lib/berthd.py's berthd with RUN_DIR on a tmpfs of its own, as /run is on a
    systemd host (here /run is on the root ext4 disk, where every fsync of a file under
    RUN_DIR would cost what it costs on disk); DATA_DIR stays on disk, as /var/lib/berth
    would. Logging at info, berthd's default."""

    def __init__(self, name, extra_config=None, data_on_tmpfs=False):
        cfg = {"LOG_LEVEL": "info", "LOG_FORMAT": "json"}
        cfg.update(extra_config or {})
        super().__init__(name, extra_config=cfg)
        run(["mount", "-t", "tmpfs", "-o", "mode=0700,size=1g", "berth-bench-run", self.run])
        if data_on_tmpfs:  # a what-if: DATA_DIR where fsync costs nothing
            run(["mount", "-t", "tmpfs", "-o", "mode=0700,size=2g", "berth-bench-data", self.data])

    def pid(self):
        return self.proc.pid


class Events:
    """berthd's event stream (the local API's `events`, what `berth events --json` prints),
    every change stamped with the kernel's time of its sending (SO_TIMESTAMPNS: the
    CLOCK_REALTIME nanosecond at which berthd queued the message), so neither this
    process's scheduling nor Python's threads add to what is measured. connect() again
    after berthd restarted; the changes seen so far are kept."""

    def __init__(self, api):
        self.api = api
        self.items = []
        self.cv = threading.Condition()
        self.connect()

    def connect(self):
        old = getattr(self, "sock", None)
        if old is not None:
            old.close()
            self.thread.join()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.connect(self.api)
        self.sock.send(json.dumps({"id": 1, "op": "events"}).encode())
        self.closed = False
        self.thread = threading.Thread(target=self._read, args=(self.sock,), daemon=True)
        self.thread.start()

    def _read(self, sock):
        while True:
            try:
                data, anc, _, _ = sock.recvmsg(1 << 20, 64)
            except OSError:
                data, anc = b"", []
            now = time.time_ns()
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= 16:
                    sec, nsec = struct.unpack("qq", payload[:16])
                    now = sec * 1000000000 + nsec
            if not data:
                with self.cv:
                    self.closed = self.closed or sock is self.sock
                    self.cv.notify_all()
                return
            m = json.loads(data)
            ch = m.get("change")
            if ch is not None:
                with self.cv:
                    self.items.append((now, ch))
                    self.cv.notify_all()

    def mark(self):
        with self.cv:
            return len(self.items)

    def wait(self, pred, since=0, timeout=60):
        """The first change at or after index `since` that pred() accepts: (time, change,
        the index after it)."""
        deadline = time.monotonic() + timeout
        i = since
        with self.cv:
            while True:
                while i < len(self.items):
                    t, ch = self.items[i]
                    i += 1
                    if pred(ch):
                        return t, ch, i
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise TimeoutError("no matching event in %ss" % timeout)
                self.cv.wait(left)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join()
        self.sock.close()


IN_MOVED_TO = 0x80
SO_TIMESTAMPNS = 35  # asm-generic/socket.h (SO_TIMESTAMPNS_OLD), = SCM_TIMESTAMPNS
_libc = ctypes.CDLL(None, use_errno=True)


class StatusWatch(threading.Thread):
    """The task directory watched with inotify: when a NAME.json.status file is renamed into
    place (how the dir source writes it), the time.time_ns() at which this thread woke up
    for it (so this time can be a little late, never early), and its status."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.fd = _libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if self.fd < 0 or _libc.inotify_add_watch(self.fd, path.encode(), IN_MOVED_TO) < 0:
            raise OSError(ctypes.get_errno(), "inotify on %s" % path)
        self.stop_r, self.stop_w = os.pipe()
        self.items = []
        self.cv = threading.Condition()
        self.start()

    def run(self):
        while True:
            r, _, _ = select.select([self.fd, self.stop_r], [], [])
            if self.stop_r in r:
                return
            now = time.time_ns()
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                continue
            off = 0
            while off < len(buf):
                _, mask, _, n = struct.unpack_from("iIII", buf, off)
                name = buf[off + 16:off + 16 + n].split(b"\0", 1)[0].decode()
                off += 16 + n
                if not name.endswith(".json.status"):
                    continue
                try:
                    with open(os.path.join(self.path, name)) as f:
                        st = json.load(f)
                except (OSError, ValueError):
                    continue
                with self.cv:
                    self.items.append((now, name[:-len(".status")], st.get("status"), st.get("task_id")))
                    self.cv.notify_all()

    def mark(self):
        with self.cv:
            return len(self.items)

    def wait(self, file, status, since=0, timeout=60):
        deadline = time.monotonic() + timeout
        i = since
        with self.cv:
            while True:
                while i < len(self.items):
                    t, f, s, tid = self.items[i]
                    i += 1
                    if f == file and s == status:
                        return t, tid
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("%s: no status %s in %ss" % (file, status, timeout))
                self.cv.wait(left)

    def close(self):
        os.write(self.stop_w, b"x")
        self.join()
        for fd in (self.fd, self.stop_r, self.stop_w):
            os.close(fd)


SLEEPER = ["sleep", "3600"]


def start_many(b, ev, n, family):
    """n sleeping tasks (8 MiB each) dropped into the directory source as s000.json, s001.json...:
    returns {task_id: time.time_ns() of its RUNNING event} once every one runs, and the
    time.time_ns() before the first file was written."""
    m = ev.mark()
    t0 = time.time_ns()
    for i in range(n):
        write_task_file(b.tasks_dir, "s%03d.json" % i, taskdef("%s%d" % (family, i), SLEEPER, memory=8))
    running = {}
    while len(running) < n:
        t, ch, m = ev.wait(lambda c: c["task_id"].startswith("s") and c["status"] in ("RUNNING", "STOPPED"), m, 1800)
        if ch["status"] == "STOPPED":
            raise RuntimeError("task %s stopped: %s" % (ch["task_id"], ch.get("reason")))
        running[ch["task_id"]] = t
    return running, t0


def remove_many(b, ev, n, running):
    """The n task files of start_many removed: waits until every task in running is STOPPED,
    then removes it (berth rm)."""
    m = ev.mark()
    for i in range(n):
        os.unlink(os.path.join(b.tasks_dir, "s%03d.json" % i))
    stopped = set()
    while len(stopped) < n:
        _, ch, m = ev.wait(lambda c: c["task_id"] in running and c["status"] == "STOPPED", m, 1800)
        stopped.add(ch["task_id"])
    for t in running:
        b.cli("rm", t, check=False)


def write_task_file(tasks_dir, name, definition):
    """Written beside, renamed into place: the file appears whole. Returns time.time_ns()
    just before the rename."""
    path = os.path.join(tasks_dir, name)
    with open(path + ".tmp", "w") as f:
        json.dump(definition, f)
    t = time.time_ns()
    os.rename(path + ".tmp", path)
    return t


# ------------------------------------------------------------------ podman

def own_cgroup(controller):
    for line in open("/proc/self/cgroup"):
        _, ctrls, path = line.strip().split(":", 2)
        if controller in ctrls.split(","):
            return path
    return "/"


class Podman:
    """podman (Debian's, with runc and conmon) with its storage, run root, temp dir and CNI
    configuration in the work directory; the run root on a tmpfs, as /run/containers is.
    On this machine podman needs: ulimits it can set without CAP_SYS_RESOURCE (its default
    nofile/nproc exceed the hard limits), a cgroup parent below our own memory cgroup (its
    default /libpod_parent sits at the hierarchy root, outside the supervisor's memory
    cgroup), and runc (crun 1.8.1 refuses the hybrid cgroup layout). Its bridge network is
    one of our own: bridge agb<pid>, 10.19.<n>.0/24, host-local IPAM state in the work dir."""

    def __init__(self, work):
        self.dir = os.path.join(work, "podman")
        for d in ("root", "run", "tmp", "net", "ipam"):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        run(["mount", "-t", "tmpfs", "-o", "mode=0700,size=1g", "berth-bench-podman-run", os.path.join(self.dir, "run")])
        self.base = ["podman", "--root", os.path.join(self.dir, "root"), "--runroot", os.path.join(self.dir, "run"),
                     "--storage-driver", "overlay", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
                     "--tmpdir", os.path.join(self.dir, "tmp"), "--network-config-dir", os.path.join(self.dir, "net"),
                     "--runtime", "runc"]
        self.cgroup_parent = "%s/berth-bench-podman-%d" % (own_cgroup("memory").rstrip("/"), PID)
        self.run_opts = ["--pull", "never", "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096",
                         "--cgroup-parent", self.cgroup_parent]
        self.network = "agentbench%d" % PID
        self.bridge = "agb%d" % (PID % 1000000)
        self.subnet = "10.19.%d.0/24" % (PID % 250 + 1)
        gw = self.subnet.replace(".0/24", ".1")
        conf = {"cniVersion": "0.4.0", "name": self.network, "plugins": [
            {"type": "bridge", "bridge": self.bridge, "isGateway": True, "ipMasq": True, "hairpinMode": True,
             "ipam": {"type": "host-local", "routes": [{"dst": "0.0.0.0/0"}], "dataDir": os.path.join(self.dir, "ipam"),
                      "ranges": [[{"subnet": self.subnet, "gateway": gw}]]},
             "capabilities": {"ips": True}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "firewall", "backend": ""},
            {"type": "tuning"}]}
        with open(os.path.join(self.dir, "net", self.network + ".conflist"), "w") as f:
            json.dump(conf, f, indent=1)
        self.image = None

    def __call__(self, *args, check=True):
        return run(self.base + list(args), check=check)

    def version(self):
        return self("--version").stdout.strip()

    def load(self, layout):
        self.image = self("pull", "-q", "oci:%s:latest" % layout).stdout.strip().splitlines()[-1]
        return self.image

    def run_detached(self, name, network, command, extra=()):
        """podman run -d: returns when the container runs (conmon reported the runtime's
        start). Returns the wall time in seconds."""
        cmd = self.base + ["run", "-d", "--name", name, "--network", network] + self.run_opts + list(extra) + \
            [self.image] + command
        t0 = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True)
        t1 = time.monotonic()
        if p.returncode != 0:
            raise RuntimeError("podman run: %s" % p.stderr.strip())
        return t1 - t0

    def rm(self, name):
        self("rm", "-f", "-t", "0", name, check=False)

    def conmon_pid(self, name):
        return int(self("inspect", "--format", "{{.State.ConmonPid}}", name).stdout.strip())

    def cleanup(self):
        self("rm", "-af", "-t", "0", check=False)
        self("system", "reset", "-f", check=False)
        with open("/proc/self/mountinfo") as f:
            mps = [l.split()[4] for l in f]
        for mp in sorted((m for m in mps if m.startswith(self.dir + "/") or m == self.dir), key=len, reverse=True):
            run(["umount", "-l", mp], check=False)
        run(["ip", "link", "del", self.bridge], check=False)
        # the cgroup parent, in every v1 hierarchy (runc applies one path to all of them)
        for ctrl in os.listdir("/sys/fs/cgroup"):
            top = "/sys/fs/cgroup/%s%s" % (ctrl, self.cgroup_parent)
            if os.path.isdir(top):
                for d, _, _ in sorted(os.walk(top, topdown=False), key=lambda x: -len(x[0])):
                    try:
                        os.rmdir(d)
                    except OSError:
                        pass
        shutil.rmtree(self.dir, ignore_errors=True)


def make_work():
    return tempfile.mkdtemp(prefix="berth-bench-agent.", dir="/var/tmp")


def kill_pid(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except OSError:
        pass
