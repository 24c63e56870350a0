"""The conformance harness: what every scenario of tests/conformance/agent/ shares.

It plays or drives the control endpoint of a node agent and checks what the agent reports
through the berth control protocol (docs/control-protocol.md) and what its containers see.
Two endpoints: `Endpoint` runs the reference `berth-endpoint` and reads its admin API;
`FakeEndpoint` is the protocol written here in Python, for scenarios that need an endpoint
that misbehaves on purpose or stops at an exact point of the protocol. The node is a private
berthd (tests/lib/berthd.py) whose task source is that endpoint. Only the standard library.
docs/conformance.md says what each scenario checks and how to run it against another agent."""
import http.server
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
sys.path.insert(0, os.path.join(TOP, "tests", "e2e", "agent"))
from berthd import Berthd, CliError, build_path, stop_process  # noqa: E402,F401
# the busybox image, built once per build tree, and the task definition builders
from e2e import IMAGE, ctr, image_layout, taskdef  # noqa: E402,F401
from e2e import container as e2e_container  # noqa: E402

# Ports of the endpoint module's range (20000-20999); 20900 and above are the benchmarks'.
PORT_FIRST, PORT_LAST = 20000, 20899

TASK_ORDER = ["PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING",
              "DEPROVISIONING", "STOPPED"]
CONTAINER_ORDER = ["PENDING", "PULLED", "CREATED", "RUNNING", "STOPPED"]
STOP_CODES = {"TaskFailedToStart", "EssentialContainerExited", "EssentialContainerUnhealthy", "UserInitiated"}
CHANGE_KEYS = {"seq", "task_id", "time", "status", "desired", "stop_code", "reason", "ip", "timestamps", "containers"}
CONTAINER_KEYS = {"name", "status", "exit_code", "reason", "health", "restart_count", "image_digest"}
TIMESTAMP_KEYS = {"pull_started", "pull_stopped", "started", "stopped"}

failures = []
known_failures = []


def check(cond, what, detail=""):
    print(("ok   " if cond else "FAIL ") + what + ("" if cond or not detail else "\n     " + str(detail)[:3000]))
    sys.stdout.flush()
    if not cond:
        failures.append(what)
    return cond


def known_failure(cond, what, issue, detail=""):
    """A check that fails because of a bug described in docs/conformance.md (issue): reported,
    not counted, and reported loudly the day it starts to pass so the mark gets removed."""
    if cond:
        print("ok   %s (marked as a known failure: %s; remove the mark)" % (what, issue))
        failures.append("known failure now passes: " + what)
    else:
        print("KNOWN FAILURE %s (%s)%s" % (what, issue, "" if not detail else "\n     " + str(detail)[:2000]))
        known_failures.append(what)
    sys.stdout.flush()


def follow_events(b):
    """Every state change berthd's local API reports from now on (`berth events --json`),
    appended to the returned list by a thread; the second value is the CLI process, to
    terminate and wait for at the end."""
    local = []
    events = subprocess.Popen([build_path("agent", "cli", "berth"), "events", "--json"], stdout=subprocess.PIPE,
                              text=True, env=b.env)

    def reader():
        for line in events.stdout:
            if line.strip():
                local.append(json.loads(line))
    threading.Thread(target=reader, daemon=True).start()
    time.sleep(0.3)  # subscribed before what the caller does next
    return local, events


def note(msg):
    print("     " + msg)
    sys.stdout.flush()


def dump(o):
    return json.dumps(o, indent=1, sort_keys=True)


def wait_until(pred, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def require_root():
    if os.geteuid() != 0:
        print("SKIP: the conformance suite needs root (berthd makes namespaces, cgroups, mounts, networks)")
        sys.exit(77)


def free_port_pair():
    """Two consecutive ports of the range that nothing listens on right now (the endpoint
    and its admin API); the caller still handles losing a race for them."""
    for _ in range(200):
        p = random.randrange(PORT_FIRST, PORT_LAST, 2)
        ok = True
        for q in (p, p + 1):
            s = socket.socket()
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", q))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return p
    raise RuntimeError("no free port pair in %d-%d" % (PORT_FIRST, PORT_LAST))


# ---------------------------------------------------------------- task definitions
def container(name, command, essential=True, **extra):
    # the end-to-end tests' container with shorter stops (2 s) unless a scenario says otherwise
    return e2e_container(name, command, essential, **dict({"stopTimeout": 2}, **extra))


# ---------------------------------------------------------------- the node
def node(name, url, extra_config=None, start=True, second=False, with_dir=False):
    """A berthd whose task source is the endpoint at url, with the test image imported.
    second: a second node in the same test process (the fixture gives every instance of a
    process its own bridge, pool and table; its bridge and table names also get a suffix so a
    log tells the two apart). with_dir: its task directory (b.tasks_dir) is a
    second source."""
    cfg = {"TASK_SOURCES": url, "ENDPOINT_ALLOW_PLAIN_HTTP": "true"}
    if os.environ.get("BERTH_TEST_INIT"):
        # a sanitizer build's berth-init is dynamically linked and cannot run in the image
        cfg["INIT_PATH"] = os.environ["BERTH_TEST_INIT"]
    cfg.update(extra_config or {})
    # no net_index: the fixture derives a /24 from the pid and the instance number (12000 of
    # them, free of host interfaces); a fixed small range here (220 + pid % 30) let two
    # scenarios running in parallel, or two runs of the suite, pick the same subnet
    b = Berthd(name, extra_config=cfg)
    if with_dir:
        with open(b.config) as f:
            text = f.read()
        with open(b.config, "w") as f:
            f.write(text.replace("TASK_SOURCES=" + url + "\n", "TASK_SOURCES=dir:%s,%s\n" % (b.tasks_dir, url)))
    if second:
        b.bridge, b.nft_table = b.bridge + "b", b.nft_table + "b"
        with open(b.config) as f:
            text = f.read()
        for key, value in (("NET_BRIDGE", b.bridge), ("NET_NFT_TABLE", b.nft_table), ("NET_NAME", b.bridge)):
            text = "".join(l if not l.startswith(key + "=") else "%s=%s\n" % (key, value)
                           for l in text.splitlines(True))
        with open(b.config, "w") as f:
            f.write(text)
    if start:
        b.start()
        b.import_image(image_layout(), IMAGE)
    return b


def node_setting(b, key):
    with open(b.config) as f:
        for line in f:
            if line.startswith(key + "="):
                return line[len(key) + 1:].rstrip("\n")
    return None


def runs_in_any_image(path):
    """Whether the ELF executable at path needs no program interpreter (statically linked):
    berth-init is bound into containers whose images may have no libc."""
    import struct
    with open(path, "rb") as f:
        hdr = f.read(64)
        if hdr[:4] != b"\x7fELF" or hdr[4] != 2:
            return False
        phoff, = struct.unpack_from("<Q", hdr, 32)
        phentsize, phnum = struct.unpack_from("<HH", hdr, 54)
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
    return not any(struct.unpack_from("<I", ph, i * phentsize)[0] == 3 for i in range(phnum))  # PT_INTERP


# ---------------------------------------------------------------- checks on reported changes
def verify_changes(records, what, final=None):
    """The protocol's rules for a node's recorded state changes, in the order the endpoint
    recorded them: seq strictly increasing; every key present with its type; per task the
    status only moves forward through the lifecycle, after STOPPED only the desired status may
    change, stop_code is
    set exactly when STOPPED, the desired status never goes back to RUNNING, time never goes
    back, a timestamp once set keeps its value (started and stopped only), a container's
    status moves forward except across a restart (restart_count grows). final: task ids that
    must end STOPPED. Returns {task_id: [changes]}."""
    problems = []
    last_seq = 0
    per_task = {}
    for ch in records:
        if set(ch.keys()) != CHANGE_KEYS:
            problems.append("seq %s: keys %s" % (ch.get("seq"), sorted(set(ch.keys()) ^ CHANGE_KEYS)))
            continue
        if not isinstance(ch["seq"], int) or ch["seq"] <= last_seq:
            problems.append("seq %s after %s: not strictly increasing" % (ch["seq"], last_seq))
        last_seq = ch["seq"] if isinstance(ch["seq"], int) else last_seq
        per_task.setdefault(ch["task_id"], []).append(ch)
    for tid, chs in per_task.items():
        prev = None
        for ch in chs:
            where = "task %s seq %d (%s)" % (tid, ch["seq"], ch["status"])
            if ch["status"] not in TASK_ORDER:
                problems.append(where + ": unknown status")
                continue
            if ch["desired"] not in ("RUNNING", "STOPPED"):
                problems.append(where + ": desired %r" % ch["desired"])
            if (ch["status"] == "STOPPED") != (ch["stop_code"] is not None):
                problems.append(where + ": stop_code %r" % ch["stop_code"])
            if ch["stop_code"] is not None and ch["stop_code"] not in STOP_CODES:
                problems.append(where + ": unknown stop_code %r" % ch["stop_code"])
            if ch["status"] == "STOPPED" and not ch["reason"]:
                problems.append(where + ": STOPPED without a reason")
            if set(ch["timestamps"].keys()) != TIMESTAMP_KEYS:
                problems.append(where + ": timestamps keys %s" % sorted(ch["timestamps"].keys()))
            for c in ch["containers"]:
                if set(c.keys()) != CONTAINER_KEYS:
                    problems.append(where + ": container keys %s" % sorted(set(c.keys()) ^ CONTAINER_KEYS))
                elif c["status"] not in CONTAINER_ORDER or c["health"] not in ("UNKNOWN", "HEALTHY", "UNHEALTHY"):
                    problems.append(where + ": container %s status %r health %r" % (c["name"], c["status"], c["health"]))
                elif c["status"] != "STOPPED" and c["exit_code"] is not None:
                    problems.append(where + ": container %s has an exit code before it stopped" % c["name"])
            if prev is not None:
                if TASK_ORDER.index(ch["status"]) < TASK_ORDER.index(prev["status"]):
                    problems.append(where + ": went back from %s" % prev["status"])
                # after STOPPED only the desired status may still change (an endpoint that
                # asks to stop a task that already stopped)
                if prev["status"] == "STOPPED" and (ch["status"] != "STOPPED" or ch["stop_code"] != prev["stop_code"]
                                                    or ch["reason"] != prev["reason"]):
                    problems.append(where + ": a different change after STOPPED")
                if prev["desired"] == "STOPPED" and ch["desired"] == "RUNNING":
                    problems.append(where + ": desired went back to RUNNING")
                if ch["time"] < prev["time"]:
                    problems.append(where + ": time %s before %s" % (ch["time"], prev["time"]))
                for k in ("started", "stopped"):
                    if prev["timestamps"][k] is not None and ch["timestamps"][k] != prev["timestamps"][k]:
                        problems.append(where + ": timestamps.%s changed" % k)
                pc = {c["name"]: c for c in prev["containers"] if "name" in c}
                for c in ch["containers"]:
                    p = pc.get(c.get("name"))
                    if p is None or c.keys() != CONTAINER_KEYS or p.keys() != CONTAINER_KEYS:
                        continue
                    if c["restart_count"] < p["restart_count"]:
                        problems.append(where + ": container %s restart_count went down" % c["name"])
                    elif (c["restart_count"] == p["restart_count"] and c["status"] in CONTAINER_ORDER
                          and p["status"] in CONTAINER_ORDER
                          and CONTAINER_ORDER.index(c["status"]) < CONTAINER_ORDER.index(p["status"])):
                        problems.append(where + ": container %s went back from %s to %s"
                                        % (c["name"], p["status"], c["status"]))
            prev = ch
    for tid in final or []:
        chs = per_task.get(tid)
        if not chs or chs[-1]["status"] != "STOPPED":
            problems.append("task %s: last change %s, not STOPPED" % (tid, chs[-1]["status"] if chs else None))
    check(not problems, what + ": every change well formed, in order, per task", "\n".join(problems[:30]))
    return per_task


def statuses(chs):
    """The task statuses of a task's changes, repeats collapsed."""
    out = []
    for ch in chs:
        if not out or out[-1] != ch["status"]:
            out.append(ch["status"])
    return out


def first_index(chs, pred):
    for i, ch in enumerate(chs):
        if pred(ch):
            return i
    return None


# ---------------------------------------------------------------- berth-endpoint
class Endpoint:
    """berth-endpoint serve on 127.0.0.1, its state in a directory of its own; restartable on
    the same ports and state (the node's configuration names the URL)."""

    def __init__(self, name, args=(), admin_token=None):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="berth-conf-ep-%s." % name, dir="/tmp")
        self.state_dir = os.path.join(self.dir, "state")
        self.log_path = os.path.join(self.dir, "endpoint.log")
        self.args = list(args)
        self.admin_token = admin_token  # sent on admin requests (serve --admin-token-file)
        self.proc = None
        self.port = None

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("https" if "--tls-cert" in self.args else "http", self.port)

    @property
    def admin_url(self):
        return "http://127.0.0.1:%d" % (self.port + 1)

    def start(self):
        for attempt in range(20):
            port = self.port if self.port is not None else free_port_pair()
            r, w = os.pipe()
            proc = subprocess.Popen([build_path("agent", "endpoint", "berth-endpoint"), "serve",
                                     "--state-dir", self.state_dir, "--listen", "127.0.0.1:%d" % port,
                                     "--admin-listen", "127.0.0.1:%d" % (port + 1), "--ready-fd", str(w),
                                     "--debug", *self.args],
                                    pass_fds=[w], stdout=open(self.log_path, "a"), stderr=subprocess.STDOUT)
            os.close(w)
            ready = os.read(r, 16)
            os.close(r)
            if ready.startswith(b"ready"):
                self.proc, self.port = proc, port
                return
            proc.wait()
            # a port taken in the meantime: a new pair, or the same one a little later
            if self.port is not None:
                time.sleep(0.5)
        raise RuntimeError("berth-endpoint did not start; log:\n" + self.log())

    def stop(self, sig=signal.SIGTERM):
        stop_process(self.proc, sig)
        self.proc = None

    def kill9(self):
        self.stop(signal.SIGKILL)

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()[-20000:]
        except OSError:
            return ""

    def cleanup(self):
        self.stop()
        subprocess.run(["rm", "-rf", self.dir])

    # admin API
    def admin(self, method, path, body=None, timeout=60):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if self.admin_token:
            headers["Authorization"] = "Bearer " + self.admin_token
        req = urllib.request.Request(self.admin_url + path, method=method, data=data, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                text = resp.read()
                return resp.status, (json.loads(text) if text else {})
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, {"raw": text.decode(errors="replace")}

    def submit(self, definition, node=None, task_id=None, metadata=None):
        body = {"definition": definition}
        if node:
            body["node"] = node
        if task_id:
            body["task_id"] = task_id
        if metadata:
            body["metadata"] = metadata
        st, o = self.admin("POST", "/admin/v1/tasks", body)
        if st != 201:
            raise RuntimeError("submit: %d %s" % (st, o))
        return o["task_id"]

    def stop_task(self, tid):
        st, o = self.admin("POST", "/admin/v1/tasks/%s/stop" % tid)
        if st != 200:
            raise RuntimeError("stop %s: %d %s" % (tid, st, o))
        return o

    def nodes(self):
        return self.admin("GET", "/admin/v1/nodes")[1]["nodes"]

    def task(self, tid):
        st, o = self.admin("GET", "/admin/v1/tasks/%s" % tid)
        if st != 200:
            raise RuntimeError("task %s: %d %s" % (tid, st, o))
        return o["tasks"][0]

    def events(self, task=None, after=0, wait=0):
        """Every recorded state change (after the event id `after`), in the order recorded."""
        out = []
        while True:
            q = "after=%d&limit=1000" % after + ("&task=%s" % task if task else "") + ("&wait=%d" % wait if wait else "")
            st, o = self.admin("GET", "/admin/v1/events?" + q, timeout=wait + 30)
            if st != 200:
                raise RuntimeError("events: %d %s" % (st, o))
            out.extend(o["events"])
            if len(o["events"]) < 1000:
                return out
            after = o["last_id"]
            wait = 0

    def changes(self, task=None):
        return [e["change"] for e in self.events(task)]

    def wait_change(self, tid, pred, timeout=90, what="condition"):
        """The first recorded change of task tid that satisfies pred (a harness watches events)."""
        deadline = time.monotonic() + timeout
        after = 0
        seen = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("task %s: %s not reported in %ss; changes: %s\nendpoint log tail:\n%s"
                                   % (tid, what, timeout, [c["change"]["status"] for c in seen], self.log()[-3000:]))
            evs = self.events(task=tid, after=after, wait=max(1, min(int(left), 10)))
            for e in evs:
                seen.append(e)
                after = e["id"]
                if pred(e["change"]):
                    return e["change"]

    def wait_status(self, tid, status, timeout=90):
        return self.wait_change(tid, lambda c: c["status"] == status, timeout, "status " + status)

    def wait_node(self, pred, timeout=90, what="node condition"):
        v = wait_until(lambda: next((n for n in self.nodes() if pred(n)), None), timeout, 0.2)
        if v is None:
            raise TimeoutError("%s not reached in %ss: %s" % (what, timeout, dump(self.nodes())))
        return v


# ---------------------------------------------------------------- the protocol in Python
class FakeEndpoint:
    """The berth control protocol, version 1, written for the harness: one node, complete
    manifests, state changes recorded and deduplicated by seq, and hooks that let a scenario
    answer anything at any point. Hooks run in the request's thread:

      on_register(body) / on_heartbeat(body)             -> None or (status, bytes[, headers])
      on_assignments(generation_param, wait)             -> None or (status, bytes[, headers])
      after_assignments(generation, body_bytes)          -> called once the response was sent
      on_ack(body)                                       -> None or (status, bytes)
      on_state_changes(body)                             -> None or (status, bytes)
      after_state_changes(body)                          -> called once recorded, before the answer
    """

    def __init__(self, name, wait_s=5):
        self.name = name
        self.lock = threading.Condition()
        self.generation = 1  # a new node's desired set: empty at generation 1
        self.tasks = {}  # task_id -> {"desired", "definition"}
        self.node_id = None
        self.registers = []
        self.acks = []
        self.timeline = []  # ("register" | "ack", generation) in the order received
        self.heartbeats = []
        self.changes = []
        self.duplicates = []  # changes received again (seq at or below the recorded one)
        self.batch_errors = []
        self.requests = []
        self.poll = {"wait_s": wait_s, "heartbeat_s": 5, "min_interval_ms": 0}
        self.hooks = {}
        self.served = []  # (generation, complete) of every 200 manifest
        self.polled = 0  # the highest generation a poll carried (which acknowledges it)
        self.token = None  # when set, every request must carry "Authorization: Bearer <token>"
        self.unauthorized = 0
        self.server = None
        self.port = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def reply(self, status, body=b"", headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()

            def reply_hook(self, r):
                self.reply(r[0], r[1], r[2] if len(r) > 2 else None)

            def refused(self):
                """401 for a request without the endpoint's current bearer token."""
                if owner.token is None or self.headers.get("Authorization") == "Bearer " + owner.token:
                    return False
                owner.unauthorized += 1
                n = int(self.headers.get("Content-Length", "0") or 0)
                if n:
                    self.rfile.read(n)
                self.reply(401, b'{"protocol":1,"error":{"code":"Unauthorized","message":"bad token"}}')
                return True

            def do_GET(self):
                owner.requests.append((time.monotonic(), "GET", self.path))
                if self.refused():
                    return
                path, _, query = self.path.partition("?")
                q = dict(kv.split("=", 1) for kv in query.split("&") if "=" in kv)
                if not path.endswith("/assignments"):
                    return self.reply(404, b'{"protocol":1,"error":{"code":"NotFound","message":"no such path"}}')
                g, wait = int(q.get("generation", "0")), int(q.get("wait", "30"))
                if g:  # a poll with generation=G acknowledges G too
                    with owner.lock:
                        owner.polled = max(owner.polled, g)
                        owner.timeline.append(("ack", g))
                        owner.lock.notify_all()
                hook = owner.hooks.get("on_assignments")
                r = hook(g, wait) if hook else None
                if r is not None:
                    self.reply_hook(r)
                    return
                with owner.lock:
                    if g != 0 and g >= owner.generation:
                        owner.lock.wait_for(lambda: owner.generation > g, timeout=wait)
                    if g != 0 and g >= owner.generation:
                        body = None
                    else:
                        gen, body = owner.generation, owner.manifest_bytes()
                        owner.served.append((gen, True))
                if body is None:
                    return self.reply(204)
                self.reply(200, body)
                after = owner.hooks.get("after_assignments")
                if after:
                    after(gen, body)

            def do_POST(self):
                owner.requests.append((time.monotonic(), "POST", self.path))
                if self.refused():
                    return
                n = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(n)
                try:
                    body = json.loads(raw)
                except ValueError:
                    return self.reply(400, b'{"protocol":1,"error":{"code":"BadRequest","message":"not JSON"}}')
                p = self.path
                if p == "/v1/register":
                    with owner.lock:
                        owner.registers.append(body)
                        owner.timeline.append(("register", body.get("generation")))
                    hook = owner.hooks.get("on_register")
                    r = hook(body) if hook else None
                    if r is not None:
                        return self.reply_hook(r)
                    with owner.lock:
                        owner.node_id = body["node_id"]
                        # an agent ahead of the endpoint: continue above its generation
                        if body.get("generation", 0) > owner.generation:
                            owner.generation = body["generation"] + 1
                        acked = owner.changes[-1]["seq"] if owner.changes else 0
                    return self.reply(200, json.dumps({"protocol": 1, "node_id": body["node_id"], "acked_seq": acked,
                                                       "poll": owner.poll}).encode())
                if p.endswith("/assignments/ack"):
                    hook = owner.hooks.get("on_ack")
                    r = hook(body) if hook else None
                    with owner.lock:
                        owner.acks.append(body)
                        if body.get("accepted"):
                            owner.timeline.append(("ack", body.get("generation")))
                        owner.lock.notify_all()
                    if r is not None:
                        return self.reply_hook(r)
                    return self.reply(204)
                if p.endswith("/state-changes"):
                    hook = owner.hooks.get("on_state_changes")
                    r = hook(body) if hook else None
                    if r is not None:
                        return self.reply_hook(r)
                    with owner.lock:
                        seqs = [c.get("seq") for c in body.get("changes", [])]
                        if any(not isinstance(s, int) for s in seqs) or seqs != sorted(set(seqs)):
                            owner.batch_errors.append(seqs)
                            return self.reply(400, b'{"protocol":1,"error":{"code":"BadRequest","message":"seq order"}}')
                        last = owner.changes[-1]["seq"] if owner.changes else 0
                        for c in body["changes"]:
                            if c["seq"] > last:
                                owner.changes.append(c)
                                last = c["seq"]
                            else:
                                owner.duplicates.append(c)
                        owner.lock.notify_all()
                    after = owner.hooks.get("after_state_changes")
                    if after:
                        after(body)
                    return self.reply(200, json.dumps({"protocol": 1, "acked_seq": last}).encode())
                if p.endswith("/heartbeat"):
                    with owner.lock:
                        owner.heartbeats.append(body)
                        owner.lock.notify_all()
                    return self.reply(200, json.dumps({"protocol": 1, "poll": owner.poll}).encode())
                return self.reply(404, b'{"protocol":1,"error":{"code":"NotFound","message":"no such path"}}')

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request, client_address):
                # the agent closing a kept-alive connection, or being killed -9 on purpose
                if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
                    return
                super().handle_error(request, client_address)

        for _ in range(50):
            port = self.port if self.port is not None else free_port_pair()
            try:
                self.server = Server(("127.0.0.1", port), Handler)
                self.port = port
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("the fake endpoint found no port")
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def cleanup(self):
        self.stop()

    # the desired set
    def manifest_bytes(self, generation=None, tasks=None, complete=True):
        tasks = self.tasks if tasks is None else tasks
        return json.dumps({"protocol": 1, "generation": self.generation if generation is None else generation,
                           "complete": complete, "poll": self.poll,
                           "tasks": [dict(task_id=t, **v) for t, v in tasks.items()]}).encode()

    def assign(self, tid, definition, desired="RUNNING"):
        with self.lock:
            self.tasks[tid] = {"desired": desired, "definition": definition}
            self.generation += 1
            self.lock.notify_all()
            return self.generation

    def set_desired(self, tid, desired):
        with self.lock:
            self.tasks[tid]["desired"] = desired
            self.generation += 1
            self.lock.notify_all()
            return self.generation

    def remove(self, tid):
        with self.lock:
            del self.tasks[tid]
            self.generation += 1
            self.lock.notify_all()
            return self.generation

    def wait_ack(self, generation, timeout=60):
        with self.lock:
            ok = self.lock.wait_for(lambda: self.polled >= generation or any(
                a.get("generation", 0) >= generation and a.get("accepted") for a in self.acks), timeout=timeout)
        if not ok:
            raise TimeoutError("generation %d not acknowledged in %ss; acks %s" % (generation, timeout, self.acks[-5:]))

    def task_changes(self, tid):
        with self.lock:
            return [c for c in self.changes if c["task_id"] == tid]

    def wait_change(self, tid, pred, timeout=90, what="condition"):
        with self.lock:
            ok = self.lock.wait_for(lambda: any(c["task_id"] == tid and pred(c) for c in self.changes), timeout=timeout)
            if not ok:
                raise TimeoutError("task %s: %s not reported in %ss; changes: %s"
                                   % (tid, what, timeout, [c["status"] for c in self.changes if c["task_id"] == tid]))
            return next(c for c in self.changes if c["task_id"] == tid and pred(c))

    def wait_status(self, tid, status, timeout=90):
        return self.wait_change(tid, lambda c: c["status"] == status, timeout, "status " + status)


# ---------------------------------------------------------------- running a scenario
def run(main):
    """Runs main(ctx) where ctx.node(...) / ctx.endpoint(...) / ctx.fake(...) make the pieces;
    everything made is cleaned up whatever happens; exits with the verdict."""
    require_root()

    class Ctx:
        def __init__(self):
            self.nodes, self.endpoints = [], []
            self.tmp = tempfile.mkdtemp(prefix="berth-conf-", dir="/tmp")

        def endpoint(self, name, args=(), admin_token=None):
            ep = Endpoint(name, args, admin_token)
            self.endpoints.append(ep)
            ep.start()
            return ep

        def fake(self, name, **kw):
            ep = FakeEndpoint(name, **kw)
            self.endpoints.append(ep)
            ep.start()
            return ep

        def node(self, name, url, extra_config=None, start=True, second=False, with_dir=False):
            b = node(name, url, extra_config, start=False, second=second, with_dir=with_dir)
            self.nodes.append(b)
            if start:
                b.start()
                b.import_image(image_layout(), IMAGE)
            return b

    ctx = Ctx()
    try:
        main(ctx)
    except Exception:
        traceback.print_exc()
        failures.append("exception")
    finally:
        # a failed check or an exception: the logs say why (they are removed with the node)
        # (BERTH_CONF_LOG_TAIL: how many characters of each berthd log, default 8000)
        if failures:
            tail = int(os.environ.get("BERTH_CONF_LOG_TAIL", "8000"))
            for b in ctx.nodes:
                print("---- berthd log (%s) ----\n%s" % (b.name, b.log(whole=True)[-tail:]))
            for ep in ctx.endpoints:
                if isinstance(ep, Endpoint):
                    print("---- berth-endpoint log (%s) ----\n%s" % (ep.name, ep.log()[-3000:]))
        for b in ctx.nodes:
            b.cleanup()
            if getattr(b, "sanitizer", None):
                failures.append("sanitizer reports in berthd's log")
        for ep in ctx.endpoints:
            ep.cleanup()
        subprocess.run(["rm", "-rf", ctx.tmp])
    n_ok = "%d check(s) failed" % len(failures) if failures else "all checks passed"
    if known_failures:
        print("%d known failure(s): %s" % (len(known_failures), "; ".join(known_failures)))
    if failures:
        print("%s: %s" % (n_ok, ", ".join(failures)))
        sys.exit(1)
    print(n_ok)
    sys.exit(0)
