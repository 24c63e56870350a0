"""A berthd for tests: its own directories, API socket, task directory, network (a bridge,
pool and nftables table of its own), started and stopped like systemd would (readiness
through NOTIFY_SOCKET), and a cleanup that leaves nothing behind even when a test failed:
tasks stopped, shims and containers ended by pid, mounts, networks and cgroups removed.
Only the standard library."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

BUILD = os.environ.get("BERTH_BUILD_DIR", "")


def build_path(*parts):
    return os.path.join(BUILD, *parts)


def stop_process(proc, sig=signal.SIGTERM, timeout=30):
    """Sends sig to proc (a Popen) if it still runs and waits for it; SIGKILL after timeout s."""
    if proc and proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class CliError(Exception):
    def __init__(self, args, rc, out, err):
        super().__init__("berth %s: exit %d: %s%s" % (" ".join(args), rc, out, err))
        self.rc, self.out, self.err = rc, out, err


class Berthd:
    count = 0  # instances made by this process: each gets its own bridge, pool and table

    def __init__(self, name, net_index=None, extra_config=None):
        self.name = name
        pid = os.getpid()
        Berthd.count += 1
        n = Berthd.count
        # sockets need short paths: everything lives under /run/bt-<pid>-<name>
        self.root = tempfile.mkdtemp(prefix="bt%d-%s." % (pid % 100000, name[:8]), dir="/run")
        self.data = os.path.join(self.root, "data")
        self.run = os.path.join(self.root, "run")
        self.logs = os.path.join(self.root, "log")
        self.tasks_dir = os.path.join(self.root, "tasks.d")
        self.api = os.path.join(self.run, "api.sock")
        for d in (self.data, self.run, self.logs, self.tasks_dir):
            os.makedirs(d, exist_ok=True)
        idx = net_index if net_index is not None else ((pid * 7 + n) % 12000)
        # "bt" + up to 5 digits of the pid + the instance number: at most 15 characters
        self.bridge = "bt%d%d" % (pid % 100000, n % 10)
        self.subnet = self._free_subnet(idx)
        self.nft_table = self.bridge
        self.config = os.path.join(self.root, "berthd.conf")
        cfg = {
            "DATA_DIR": self.data,
            "RUN_DIR": self.run,
            "LOG_DIR": self.logs,
            "API_SOCKET": self.api,
            "TASK_SOURCES": "dir:" + self.tasks_dir,
            # BERTH_TEST_RUNTIME: run the tests over another OCI runtime (e.g. runc)
            "RUNTIME_PATH": os.environ.get("BERTH_TEST_RUNTIME", build_path("runtime", "berth-runtime")),
            "SHIM_PATH": build_path("agent", "shim", "berth-shim"),
            "INIT_PATH": build_path("agent", "init", "berth-init"),
            "STOPPED_TASK_RETENTION": "1h",
            "NET_BRIDGE": self.bridge,
            "NET_POOLS": self.subnet,
            "NET_NFT_TABLE": self.nft_table,
            "NET_NAME": self.bridge,
            "NET_NETNS_DIR": os.path.join(self.run, "netns"),
            "NET_FILES_DIR": os.path.join(self.run, "network"),
            "NET_STATE_DIR": os.path.join(self.data, "ipam"),
            "LOG_LEVEL": "debug",
        }
        cfg.update(extra_config or {})
        with open(self.config, "w") as f:
            for k, v in cfg.items():
                f.write("%s=%s\n" % (k, v))
        self.proc = None
        self.seen = set()  # every task id this instance showed: its leftovers are ours to find
        self.log_path = os.path.join(self.root, "berthd.log")
        self.env = dict(os.environ, BERTH_API_SOCKET=self.api,
                        BERTH_IMAGE_ROOT=os.path.join(self.data, "images"))
        # berthd warns about BERTH_* variables that are not its settings: give it none
        self.daemon_env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}

    @staticmethod
    def _free_subnet(idx):
        """A /24 in 10.200.0.0-10.247.255.0 that no interface of the host uses (other
        berthds, tests of other modules, may run beside this one)."""
        used = set()
        out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
        for line in out.split("\n"):
            parts = line.split()
            if "inet" in parts:
                a = parts[parts.index("inet") + 1].split("/")[0].split(".")
                used.add((int(a[1]), int(a[2])))
        for k in range(12000):
            i = (idx + k) % 12000
            second, third = 200 + (i // 250) % 48, i % 250
            if (second, third) not in used:
                return "10.%d.%d.0/24" % (second, third)
        raise RuntimeError("no free /24 for a test network")

    # ---------------------------------------------------------------- lifecycle
    def start(self, timeout=60, wrapper=()):
        """Starts berthd and waits for READY=1; returns the seconds that took. wrapper: a
        command berthd runs under (a tracer; self.proc is then the wrapper's process)."""
        notify_path = os.path.join(self.root, "notify.sock")
        if os.path.exists(notify_path):
            os.unlink(notify_path)
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(notify_path)
        ns.settimeout(0.2)
        env = dict(self.daemon_env, NOTIFY_SOCKET=notify_path)
        self.proc = subprocess.Popen([*wrapper, build_path("agent", "daemon", "berthd"), "--config", self.config],
                                     stdout=open(self.log_path, "a"), stderr=subprocess.STDOUT, env=env)
        t0 = time.monotonic()
        try:
            while True:
                try:
                    if "READY=1" in ns.recv(4096).decode():
                        break
                except socket.timeout:
                    pass
                if self.proc.poll() is not None:
                    raise RuntimeError("berthd exited (%s) before READY; log:\n%s" % (self.proc.returncode, self.log()))
                if time.monotonic() - t0 > timeout:
                    raise RuntimeError("berthd did not report READY in %ds; log:\n%s" % (timeout, self.log()))
        finally:
            ns.close()
        return time.monotonic() - t0

    def stop(self, sig=signal.SIGTERM):
        stop_process(self.proc, sig)
        self.proc = None

    def kill9(self):
        self.stop(signal.SIGKILL)

    def sanitizer_reports(self):
        """ASan/UBSan/LSan reports berthd wrote to its log (a sanitized build)."""
        return [l for l in self.log(whole=True).splitlines() if "Sanitizer" in l or "runtime error:" in l]

    def log(self, whole=False):
        try:
            with open(self.log_path) as f:
                text = f.read()
            return text if whole else text[-20000:]
        except OSError:
            return ""

    # ---------------------------------------------------------------- CLI
    def cli(self, *args, check=True, timeout=120, input=None):
        p = subprocess.run([build_path("agent", "cli", "berth"), *args], capture_output=True, text=True,
                           env=self.env, timeout=timeout, input=input)
        if check and p.returncode != 0:
            raise CliError(args, p.returncode, p.stdout, p.stderr)
        return p

    def ps(self, all=True):
        tasks = json.loads(self.cli("ps", "--json", *(["-a"] if all else [])).stdout)
        self.seen.update(t["task_id"] for t in tasks)
        return tasks

    def task(self, task_id):
        for t in self.ps():
            if t["task_id"] == task_id:
                return t
        return None

    def wait_task(self, task_id, pred, timeout=60, what="condition"):
        deadline = time.monotonic() + timeout
        t = None
        while time.monotonic() < deadline:
            t = self.task(task_id)
            if t is not None and pred(t):
                return t
            time.sleep(0.05)
        raise TimeoutError("task %s: %s not reached in %ss; last: %s\nberthd log:\n%s"
                           % (task_id, what, timeout, json.dumps(t), self.log()[-4000:]))

    def wait_status(self, task_id, status, timeout=60):
        return self.wait_task(task_id, lambda t: t["status"] == status, timeout, "status " + status)

    def run_task(self, definition):
        path = os.path.join(self.root, "def-%d.json" % int(time.monotonic() * 1e6))
        with open(path, "w") as f:
            json.dump(definition, f)
        tid = self.cli("run", path).stdout.strip()
        self.seen.add(tid)
        return tid

    def import_image(self, layout, name):
        return self.cli("image", "import", "--name", name, layout)

    # ---------------------------------------------------------------- cleanup
    def cleanup(self):
        """Stops every task through berthd when it runs, then removes by hand whatever is
        left of this instance: nothing of it may outlive the test."""
        try:
            if self.proc and self.proc.poll() is None:
                for t in self.ps():
                    if t["status"] != "STOPPED":
                        self.cli("stop", t["task_id"], check=False)
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and any(t["status"] != "STOPPED" for t in self.ps()):
                    time.sleep(0.1)
        except Exception as e:  # berthd may be the thing that broke
            print("cleanup: %s" % e)
        self.stop()
        self.sanitizer = self.sanitizer_reports()
        if self.sanitizer:
            print("berthd sanitizer reports:\n" + self.log(whole=True)[-8000:])
        # shims and their containers, by pid
        tasks_run = os.path.join(self.run, "tasks")
        rroot = os.path.join(self.run, "runtime")
        if os.path.isdir(rroot):
            for cid in os.listdir(rroot):
                try:
                    subprocess.run([build_path("runtime", "berth-runtime"), "--root", rroot, "delete", "--force", cid],
                                   capture_output=True, timeout=20)
                except subprocess.TimeoutExpired:
                    print("cleanup: berth-runtime delete %s hung" % cid)
        if os.path.isdir(tasks_run):
            for t in os.listdir(tasks_run):
                try:
                    with open(os.path.join(tasks_run, t, "shim.pid")) as f:
                        shim = int(f.read())
                except (OSError, ValueError):
                    continue
                # the shim's children (container inits, runtime commands) first, then it
                kids = subprocess.run(["pgrep", "-P", str(shim)], capture_output=True, text=True).stdout.split()
                for k in kids:
                    try:
                        os.kill(int(k), signal.SIGKILL)
                    except OSError:
                        pass
                try:
                    os.kill(shim, signal.SIGKILL)
                except OSError:
                    pass
        # network: berth's own reconcile with no live task (before the mounts go: it opens the
        # network's directories again), then the bridge and tables
        subprocess.run([build_path("agent", "cli", "berth"), "network", "--config", self.config, "reconcile",
                        "--all-dead"], capture_output=True, env=self.env)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        subprocess.run(["nft", "delete", "table", "inet", self.nft_table], capture_output=True)
        subprocess.run(["nft", "delete", "table", "ip", self.nft_table], capture_output=True)
        subprocess.run(["nft", "delete", "table", "bridge", self.nft_table], capture_output=True)
        # mounts below the root (rootfs overlays, netns bind mounts), deepest first
        with open("/proc/self/mountinfo") as f:
            mps = [l.split()[4] for l in f]
        for mp in sorted((m for m in mps if m.startswith(self.root + "/")), key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], capture_output=True)
        # cgroups of this instance's tasks (berth/task-<id>) below our own cgroup in each
        # hierarchy; other berthds' tasks (tests running beside this one) are not touched
        ids = set(os.listdir(os.path.join(self.data, "tasks"))) if os.path.isdir(os.path.join(self.data, "tasks")) else set()
        for line in open("/proc/self/cgroup"):
            _, ctrls, path = line.strip().split(":", 2)
            for ctrl in ctrls.split(","):
                if ctrl.startswith("name="):
                    ctrl = ctrl[5:]
                base = "/sys/fs/cgroup/%s%s/berth" % (ctrl if ctrl else "unified", path.rstrip("/"))
                for tid in ids:
                    top = os.path.join(base, "task-" + tid)
                    if not os.path.isdir(top):
                        continue
                    for dirpath, _, _ in sorted(os.walk(top, topdown=False), key=lambda x: -len(x[0])):
                        try:
                            os.rmdir(dirpath)
                        except OSError:
                            pass
                try:
                    os.rmdir(base)  # only when no berthd uses it any more
                except OSError:
                    pass
        shutil.rmtree(self.root, ignore_errors=True)
