"""What a berthd instance holds in the kernel and on disk, to compare before and after."""
import os
import subprocess


def snapshot(b):
    s = {}
    with open("/proc/self/mountinfo") as f:
        s["mounts"] = sorted(l.split()[4] for l in f if b.root in l.split()[4])
    nsdir = os.path.join(b.run, "netns")
    s["netns"] = sorted(os.listdir(nsdir)) if os.path.isdir(nsdir) else []
    ipam = os.path.join(b.data, "ipam")
    s["leases"] = sorted(os.path.relpath(os.path.join(d, f), ipam) for d, _, fs in os.walk(ipam) for f in fs
                         if not f.startswith(".") and "lock" not in f) if os.path.isdir(ipam) else []
    r = subprocess.run(["ip", "-o", "link", "show", "master", b.bridge], capture_output=True, text=True)
    s["veths"] = sorted(l.split(":")[1].strip() for l in r.stdout.splitlines() if l.strip())
    s["shims"] = sorted(p for p in os.listdir("/proc") if p.isdigit() and _is_shim_of(p, b))
    s["cgroups"] = []
    for line in open("/proc/self/cgroup"):
        _, ctrls, path = line.strip().split(":", 2)
        for c in ctrls.split(","):
            c = c[5:] if c.startswith("name=") else c
            base = "/sys/fs/cgroup/%s%s/berth" % (c or "unified", path.rstrip("/"))
            if os.path.isdir(base):
                # only this instance's tasks: other berthds (tests running beside) have theirs
                s["cgroups"] += ["%s:%s" % (c, d) for d in os.listdir(base)
                                 if d.startswith("task-") and d[5:] in b.seen and os.path.isdir(os.path.join(base, d))]
    s["cgroups"].sort()
    return s


def _is_shim_of(pid, b):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            cmd = f.read().split(b"\0")
        return cmd and cmd[0].endswith(b"berth-shim") and b.run.encode() in b" ".join(cmd)
    except OSError:
        return False


def diff(before, after):
    return {k: sorted(set(after[k]) - set(before[k])) for k in after if set(after[k]) - set(before[k])}
