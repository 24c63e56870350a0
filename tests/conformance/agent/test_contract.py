#!/usr/bin/env python3
"""Conformance: what a task asked for is what its containers get. One task assigned through
berth-endpoint, two containers that ask for different things; checked from inside each
container (berth exec, /proc, the container's own cgroup) against the definition and the
task's reported state: user, uid/gid and groups, capabilities (effective and bounding),
seccomp, no_new_privs, read-only root and a tmpfs, memory, cpu and pids accounting in the
container's cgroup, rlimits, hostname, the task's own IP on eth0, DNS files (dnsServers,
dnsSearchDomains, extraHosts), environment, berth-init as pid 1; then the reported
transitions from PROVISIONING to STOPPED (UserInitiated by the endpoint). A second task checks
task-wide pid and ipc namespaces, sharedMemorySize, entryPoint, workingDirectory,
systemControls, host and task volumes, volumesFrom read-only, disableNetworking, portMappings
and berth's stopSignal; a third networkMode none; a fourth, with the host policy allowing
them, networkMode host, pidMode host, privileged, pseudoTerminal and json-file log
rotation."""
import os

from harness import (check, container, ctr, dump, known_failure, node_setting, note, run, runs_in_any_image, taskdef,
                     verify_changes, wait_until)

CAPS = ["CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
        "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
        "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP"]
# Docker's (and ECS's) 14 default capabilities
DEFAULT_CAPS = {"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP",
                "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"}
MiB = 1024 * 1024


def capmask(names):
    return sum(1 << CAPS.index(n) for n in names)


def proc_status(text):
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        out[k.strip()] = v.strip()
    return out


def main(ctx):
    ep = ctx.endpoint("contract")
    b = ctx.node("contract", ep.url, {"ALLOWED_CAPABILITIES": "NET_ADMIN", "ALLOWED_HOST_PATHS": ctx.tmp,
                                      "ALLOWED_DEVICES": "/dev/net/tun", "ALLOW_HOST_NETWORK": "true",
                                      "ALLOW_HOST_NAMESPACES": "true", "ALLOW_PRIVILEGED": "true"})

    app = container("app", ["sleep", "600"], user="berth", readonlyRootFilesystem=True,
                    linuxParameters={"capabilities": {"drop": ["NET_RAW", "CHOWN"]},
                                     "tmpfs": [{"containerPath": "/scratch", "size": 8}]},
                    memory=48, memoryReservation=32, cpu=256,
                    ulimits=[{"name": "nofile", "softLimit": 512, "hardLimit": 768}],
                    hostname="conf-app", dnsServers=["127.0.0.11"], dnsSearchDomains=["conf.test"],
                    extraHosts=[{"hostname": "db.conf.test", "ipAddress": "127.0.1.5"}],
                    environment=[{"name": "CONF_ENV", "value": "from-the-task"}])
    init_path = node_setting(b, "INIT_PATH")
    init_ok = runs_in_any_image(init_path)
    check(init_ok, "berth-init (%s) is statically linked: it runs in any image" % init_path,
          "a sanitizer build links it dynamically: run the suite with BERTH_TEST_INIT=<a static berth-init> "
          "(docs/conformance.md); initProcessEnabled is left out below")
    root = container("root", ["/bin/sh", "-c", "sleep 600 & sleep 600 & wait"], essential=False,
                     linuxParameters={"capabilities": {"add": ["NET_ADMIN"], "drop": ["MKNOD"]},
                                      "initProcessEnabled": init_ok},
                     memory=32, cpu=128)
    td = taskdef("contract", app, root, cpu="512", memory="128", berth={"hostname": "conf-task"})
    tid = ep.submit(td)
    ch = ep.wait_status(tid, "RUNNING", 90)
    ip = ch["ip"]
    check(ip and ip.startswith(b.subnet.rsplit(".", 1)[0] + "."), "RUNNING reported with the task's own address", dump(ch))
    check(all(c["status"] == "RUNNING" for c in ch["containers"]), "both containers RUNNING when the task is", dump(ch))
    check(ch["timestamps"]["started"] is not None and ch["timestamps"]["pull_started"] is not None,
          "RUNNING carries the pull and start timestamps", dump(ch["timestamps"]))
    check(all(c["image_digest"] and c["image_digest"].startswith("sha256:") for c in ch["containers"]),
          "each container reports its image digest")

    def sh(name, script):
        p = b.cli("exec", "-c", name, tid, "/bin/sh", "-c", script, check=False)
        return p.returncode, p.stdout + p.stderr

    # user, groups
    rc, out = sh("app", "id")
    check(rc == 0 and "uid=1000(berth) gid=1000(berth)" in out and "2000(extra)" in out,
          "user berth: uid 1000, gid 1000, supplementary group 2000 (from the image's files)", out)
    rc, out = sh("root", "id -u; id -g")
    check(out.split() == ["0", "0"], "no user: root", out)

    # the containers' own processes (pid 1 of each container's pid namespace)
    st_app = proc_status(sh("app", "cat /proc/1/status")[1])
    st_root = proc_status(sh("root", "cat /proc/1/status")[1])
    want_app = capmask(DEFAULT_CAPS - {"NET_RAW", "CHOWN"})
    want_root = capmask((DEFAULT_CAPS - {"MKNOD"}) | {"NET_ADMIN"})
    check(int(st_app.get("CapBnd", "0"), 16) == want_app, "app: bounding set is the defaults minus NET_RAW and CHOWN",
          "%s want %016x" % (st_app.get("CapBnd"), want_app))
    check(int(st_app.get("CapEff", "1"), 16) == 0, "app: a non-root user has no effective capabilities",
          st_app.get("CapEff"))
    check(int(st_root.get("CapEff", "0"), 16) == want_root and int(st_root.get("CapBnd", "0"), 16) == want_root,
          "root: effective and bounding sets are the defaults plus NET_ADMIN minus MKNOD",
          "%s %s want %016x" % (st_root.get("CapEff"), st_root.get("CapBnd"), want_root))
    check(int(st_root.get("CapAmb", "1"), 16) == 0 and int(st_root.get("CapInh", "1"), 16) == 0,
          "root: no ambient or inheritable capabilities", st_root)
    for name, st in (("app", st_app), ("root", st_root)):
        check(st.get("Seccomp") == "2", name + ": seccomp filter mode", st.get("Seccomp"))
        check(st.get("NoNewPrivs") == "1", name + ": no_new_privs", st.get("NoNewPrivs"))
    rc, out = sh("root", "unshare -U true")
    check(rc != 0 and "not permitted" in out, "root: the seccomp profile denies unshare without SYS_ADMIN", out)
    # NET_ADMIN acts on the task's own network namespace only (a capability whose effect
    # reaches the host, such as SYS_TIME, must never be probed here)
    rc, out = sh("root", "ip link set dev lo mtu 65536 && echo ok")
    check(rc == 0 and "ok" in out, "root: the added NET_ADMIN is effective (in the task's network namespace)", out)
    rc, out = sh("app", "ip link set dev lo mtu 65536")
    check(rc != 0 and "not permitted" in out, "app: without it the same change is refused", out)

    # root filesystem
    rc, out = sh("app", "touch /probe")
    check(rc != 0 and "Read-only file system" in out, "app: readonlyRootFilesystem", out)
    rc, out = sh("app", "echo x > /scratch/f && cat /scratch/f && df -k /scratch | tail -1")
    check(rc == 0 and out.startswith("x") and " 8192 " in out, "app: the 8 MiB tmpfs is writable", out)
    rc, out = sh("root", "touch /probe && echo ok")
    check(rc == 0 and "ok" in out, "root: a writable root filesystem", out)

    # the containers' cgroups (their cgroup namespace root is their own cgroup)
    v2 = sh("app", "test -f /sys/fs/cgroup/cgroup.controllers && echo v2")[1].strip() == "v2"

    def cg(name, v1, v2path):
        return sh(name, "cat /sys/fs/cgroup/%s" % (v2path if v2 else v1))[1].strip()

    check(cg("app", "memory/memory.limit_in_bytes", "memory.max") == str(48 * MiB), "app: memory limit 48 MiB",
          cg("app", "memory/memory.limit_in_bytes", "memory.max"))
    check(cg("app", "memory/memory.soft_limit_in_bytes", "memory.low") == str(32 * MiB),
          "app: memory reservation 32 MiB", cg("app", "memory/memory.soft_limit_in_bytes", "memory.low"))
    check(cg("root", "memory/memory.limit_in_bytes", "memory.max") == str(32 * MiB), "root: memory limit 32 MiB")
    # cpu.shares as Docker's --cpu-shares; on cgroup v2 the runc/crun conversion to cpu.weight
    want = (lambda s: str(1 + ((s - 2) * 9999) // 262142)) if v2 else str
    check(cg("app", "cpu/cpu.shares", "cpu.weight") == want(256), "app: cpu 256 units",
          cg("app", "cpu/cpu.shares", "cpu.weight"))
    check(cg("root", "cpu/cpu.shares", "cpu.weight") == want(128), "root: cpu 128 units")
    # the root container runs berth-init, sh and 2 sleeps; the exec adds its shell, which execs cat
    pids = cg("root", "pids/pids.current", "pids.current")
    check(pids.isdigit() and int(pids) == (5 if init_ok else 4),
          "root: the container's pids cgroup counts its own processes only", pids)
    note("pids.max (no task setting exists for it): %s" % cg("root", "pids/pids.max", "pids.max"))
    rc, out = sh("app", "grep 'open files' /proc/1/limits")
    check(out.split()[3:5] == ["512", "768"], "app: ulimit nofile 512/768", out)
    rc, out = sh("root", "grep 'open files' /proc/1/limits")
    check(out.split()[3:5] == ["1024", "1024"], "root: the default nofile 1024/1024", out)

    # network identity and DNS files
    for name in ("app", "root"):
        rc, out = sh(name, "ip -4 -o addr show eth0")
        check(rc == 0 and (" %s/" % ip) in out, name + ": eth0 carries the task's reported address", out)
    rc, out = sh("app", "hostname; cat /etc/hostname")
    check(out.split() == ["conf-app", "conf-app"], "app: its own hostname", out)
    rc, out = sh("root", "hostname; cat /etc/hostname")
    check(out.split() == ["conf-task", "conf-task"], "root: the task's hostname (berth.hostname)", out)
    rc, out = sh("app", "cat /etc/resolv.conf")
    ns = [l.split()[1] for l in out.splitlines() if l.startswith("nameserver")]
    check(ns == ["127.0.0.11"] and "search conf.test" in out, "app: dnsServers and dnsSearchDomains", out)
    rc, out = sh("root", "cat /etc/resolv.conf")
    check("127.0.0.11" not in out and "conf.test" not in out and "nameserver" in out,
          "root: the task's resolv.conf, not app's", out)
    rc, out = sh("app", "cat /etc/hosts")
    lines = [l.split() for l in out.splitlines()]
    check(["127.0.1.5", "db.conf.test"] in lines, "app: extraHosts appended to /etc/hosts", out)
    check(any(l and l[0] == ip for l in lines), "app: /etc/hosts names the task's address", out)
    rc, out = sh("root", "cat /etc/hosts")
    check("db.conf.test" not in out, "root: no extraHosts of another container", out)
    rc, out = sh("app", "echo $CONF_ENV; echo $HOME")
    check(out.split() == ["from-the-task", "/home/berth"], "app: environment, HOME from the image's passwd", out)
    if init_ok:
        rc, out = sh("root", "tr '\\0' ' ' < /proc/1/cmdline")
        check("berth-init" in out and "sleep 600 & sleep 600" in out,
              "root: initProcessEnabled: pid 1 is berth-init running the command", out)
    rc, out = sh("app", "ls /proc | grep -c '^[0-9]'")
    check(out.strip().isdigit() and int(out.strip()) <= 4, "app: its own pid namespace", out)

    # stop through the endpoint
    ep.stop_task(tid)
    ch = ep.wait_status(tid, "STOPPED", 60)
    check(ch["stop_code"] == "UserInitiated" and ch["desired"] == "STOPPED", "stopped by the endpoint: UserInitiated",
          dump(ch))
    check(ctr(ch, "app")["status"] == "STOPPED" and ctr(ch, "root")["status"] == "STOPPED", "every container STOPPED")
    check(ch["timestamps"]["stopped"] is not None, "STOPPED carries timestamps.stopped")
    per = verify_changes(ep.changes(), "contract", final=[tid])
    seen = [c["status"] for c in per[tid]]
    check(all(s in seen for s in ("PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "STOPPING", "DEPROVISIONING",
                                  "STOPPED")), "every task state reported", seen)
    t = ep.task(tid)
    check(t["status"] == "STOPPED" and t["ip"] == ip, "the endpoint's task record says STOPPED with the address", dump(t))
    more(ctx, ep, b)


def more(ctx, ep, b):
    """Task-wide namespaces, volumes, and the remaining container settings."""
    hostdir = os.path.join(ctx.tmp, "hostvol")
    os.makedirs(hostdir)
    with open(os.path.join(hostdir, "hostfile"), "w") as f:
        f.write("from-the-host\n")
    a = container("a", ["pwd > /scratch/cwd; echo shm-from-a > /dev/shm/from-a; mkdir -p /w && echo a-web > /w/index.html; "
                        "echo from-a > /host/from-a; exec httpd -f -p 8080 -h /w"],
                  entryPoint=["/bin/sh", "-c"], workingDirectory="/tmp",
                  mountPoints=[{"sourceVolume": "hostvol", "containerPath": "/host"},
                               {"sourceVolume": "scratch", "containerPath": "/scratch"}],
                  systemControls=[{"namespace": "net.ipv4.ip_unprivileged_port_start", "value": "80"}],
                  linuxParameters={"sharedMemorySize": 32},
                  portMappings=[{"containerPort": 8080, "protocol": "tcp"}])
    bb = container("b", ["/bin/sh", "-c", "trap 'echo b got USR1; exit 0' USR1; while :; do sleep 0.2; done"],
                   essential=False, volumesFrom=[{"sourceContainer": "a", "readOnly": True}],
                   dependsOn=[{"containerName": "a", "condition": "START"}])
    c = container("c", ["sleep", "602"], essential=False, disableNetworking=True,
                  linuxParameters={"devices": [{"hostPath": "/dev/net/tun", "containerPath": "/dev/conf-tun",
                                                "permissions": ["read"]}]})
    td = taskdef("more", a, bb, c, pidMode="task", ipcMode="task",
                 volumes=[{"name": "hostvol", "host": {"sourcePath": hostdir}}, {"name": "scratch"}],
                 berth={"containers": {"b": {"stopSignal": "SIGUSR1"}}})
    tid = ep.submit(td)
    ch = ep.wait_status(tid, "RUNNING", 90)
    ip = ch["ip"]

    def sh(name, script):
        p = b.cli("exec", "-c", name, tid, "/bin/sh", "-c", script, check=False)
        return p.returncode, p.stdout + p.stderr

    rc, out = sh("b", "ps -o args")
    check("httpd -f -p 8080" in out and "sleep 602" in out, "pidMode task: b sees a's and c's processes", out)
    rc, out = sh("b", "cat /dev/shm/from-a; df -k /dev/shm | tail -1")
    check(out.startswith("shm-from-a") and " 32768 " in out, "ipcMode task: one /dev/shm of sharedMemorySize 32 MiB",
          out)
    rc, out = sh("a", "cat /scratch/cwd")
    check(out.strip() == "/tmp", "workingDirectory: the command started in it", out)
    rc, out = sh("a", "cat /proc/sys/net/ipv4/ip_unprivileged_port_start")
    check(out.strip() == "80", "systemControls: the sysctl in the task's network namespace", out)
    rc, out = sh("b", "cat /host/hostfile /host/from-a; touch /host/x; touch /scratch/x")
    check("from-the-host" in out and "from-a" in out and out.count("Read-only file system") == 2,
          "volumesFrom readOnly: a's host and task volumes, read-only in b", out)
    check(os.path.exists(os.path.join(hostdir, "from-a")), "a wrote through its host volume to the host directory")
    # /dev/net/tun, not a default device (the defaults, /dev/zero and the like, stay rwm as
    # in runc); opening it creates nothing (that needs TUNSETIFF and NET_ADMIN)
    rc, out = sh("c", "ls -l /dev/conf-tun && exec 3</dev/conf-tun && echo opened")
    check(rc == 0 and "10, 200" in out and "opened" in out, "devices: /dev/net/tun at /dev/conf-tun, open for reading",
          out)
    rc, out = sh("c", "exec 3>/dev/conf-tun && echo opened")
    check(rc != 0 and "opened" not in out and "not permitted" in out,
          "devices: permissions read only: opening for writing is refused (device cgroup)",
          out + sh("c", "cat /sys/fs/cgroup/devices/devices.list 2>/dev/null | head -1")[1])
    rc, out = sh("a", "test -e /dev/conf-tun && echo present")
    check("present" not in out, "devices: only in the container that asked", out)
    rc, out = sh("c", "ls /sys/class/net")
    check(out.split() == ["lo"], "disableNetworking: only lo", out)
    import urllib.request
    try:
        body = urllib.request.urlopen("http://%s:8080/" % ip, timeout=5).read().decode().strip()
    except OSError as e:
        body = str(e)
    check(body == "a-web", "portMappings: the host reaches the container port on the task's address", body)

    none = ep.submit(taskdef("none", container("main", ["sleep", "600"]), networkMode="none"))
    ch_none = ep.wait_status(none, "RUNNING", 90)
    p = b.cli("exec", none, "ls", "/sys/class/net", check=False)
    check(p.stdout.split() == ["lo"] and ch_none["ip"] is None, "networkMode none: only lo, no address reported",
          p.stdout + dump(ch_none))

    for t in (tid, none):
        ep.stop_task(t)
    ch = ep.wait_status(tid, "STOPPED", 60)
    check(ctr(ch, "b")["exit_code"] == 0 and "b got USR1" in b.cli("logs", tid, "b").stdout,
          "berth stopSignal: b was asked to stop with SIGUSR1", dump(ch))
    ep.wait_status(none, "STOPPED", 60)
    host = host_task(ctx, ep, b)
    verify_changes(ep.changes(), "contract", final=[tid, none] + host)


def host_task(ctx, ep, b):
    """What the node's policy must allow explicitly (ALLOW_HOST_NETWORK, ALLOW_HOST_NAMESPACES,
    ALLOW_PRIVILEGED): the host's network and pid namespaces, a privileged container; and a
    pseudo-terminal and json-file log rotation. Returns the task ids (all STOPPED)."""
    lines = "i=0; while [ $i -lt 300 ]; do echo line-$i-0123456789abcdef0123456789; i=$((i+1)); done"
    tty = container("tty", ["/bin/sh", "-c", "tty; exec sleep 603"], pseudoTerminal=True)
    logger = container("logger", ["/bin/sh", "-c", lines + "; echo last-line; exec sleep 603"], essential=False,
                       logConfiguration={"logDriver": "json-file", "options": {"max-size": "4k", "max-file": "2"}})
    tid = ep.submit(taskdef("hostmode", tty, logger, networkMode="host", pidMode="host"))
    ptid = ep.submit(taskdef("priv", container("priv", ["sleep", "603"], privileged=True)))
    ch = ep.wait_status(tid, "RUNNING", 90)
    note("networkMode host: reported ip %r" % ch["ip"])

    def sh(t, name, script):
        p = b.cli("exec", "-c", name, t, "/bin/sh", "-c", script, check=False)
        return p.returncode, p.stdout + p.stderr

    rc, out = sh(tid, "tty", "cat /proc/net/dev")
    check(b.bridge + ":" in out, "networkMode host: the host's interfaces (the node's bridge %s)" % b.bridge, out)
    rc, out = sh(tid, "tty", "test -d /proc/%d && echo berthd-visible" % b.proc.pid)
    check("berthd-visible" in out, "pidMode host: the host's processes (berthd, pid %d) are visible" % b.proc.pid, out)
    rc, out = sh(tid, "tty", "cat /proc/self/status")
    check(proc_status(out).get("CapEff") == "%016x" % capmask(DEFAULT_CAPS), "host mode, not privileged: the default "
          "capabilities", out)
    tlog = b.cli("logs", tid, "tty").stdout
    check(tlog.strip().startswith("/dev/pts/"), "pseudoTerminal: the command's stdin is a terminal", tlog)
    logdir = os.path.join(b.logs, tid)
    have = lambda: "last-line" in b.cli("logs", tid, "logger").stdout  # noqa: E731
    wait_until(have, 20)
    files = sorted(f for f in os.listdir(logdir) if f.startswith("logger")) if os.path.isdir(logdir) else []
    sizes = {f: os.path.getsize(os.path.join(logdir, f)) for f in files}
    check(have() and files, "logConfiguration json-file: the container's log in LOG_DIR/<task>/, read by berth logs",
          sizes)
    check(have() and 1 <= len(files) <= 2 and all(v <= 4096 + 512 for v in sizes.values()),
          "logConfiguration max-size 4k, max-file 2: at most 2 files of about 4 KiB", sizes)

    # privileged: every capability the host can grant, no seccomp filter, /sys read-write
    with open("/proc/self/status") as f:
        host_bnd = proc_status(f.read())["CapBnd"]
    pch = ep.wait_change(ptid, lambda c: c["status"] in ("RUNNING", "STOPPED"), 90, "RUNNING or STOPPED")
    if check(pch["status"] == "RUNNING", "privileged: the container runs (with the host's bounding set %s)"
             % host_bnd, dump(pch)):
        rc, out = sh(ptid, "priv", "cat /proc/self/status")
        st = proc_status(out)
        check(st.get("CapEff") == host_bnd and st.get("CapBnd") == host_bnd and st.get("Seccomp") == "0",
              "privileged: every capability the host has (%s), no seccomp filter" % host_bnd, out)
        rc, out = sh(ptid, "priv", "grep ' /sys ' /proc/mounts")
        check(out.split()[3:4] and out.split()[3].split(",")[0] == "rw", "privileged: /sys read-write", out)
    for t in (tid, ptid):
        ep.stop_task(t)
    ch = ep.wait_status(tid, "STOPPED", 60)
    check(ch["stop_code"] == "UserInitiated", "hostmode: stopped by the endpoint", dump(ch))
    ep.wait_status(ptid, "STOPPED", 60)
    return [tid, ptid]


if __name__ == "__main__":
    run(main)
