"""Shared pieces of the agent's end-to-end tests: a check() that records failures, the
busybox image in berth's store, and task definition builders. Each test file runs its own
berthd (tests/lib/berthd.py) and is one meson test."""
import json
import os
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
from berthd import Berthd, CliError  # noqa: E402,F401

IMAGE = "localhost/berth-test/busybox:latest"
failures = []


def check(cond, what, detail=""):
    print(("ok   " if cond else "FAIL ") + what + ("" if cond or not detail else "\n     " + str(detail)[:2000]))
    sys.stdout.flush()
    if not cond:
        failures.append(what)
    return cond


def require_root():
    if os.geteuid() != 0:
        print("SKIP: the end-to-end tests need root (namespaces, cgroups, mounts, networks)")
        sys.exit(77)


def image_layout():
    """A busybox OCI layout, built once per build tree."""
    build = os.environ["BERTH_BUILD_DIR"]
    layout = os.path.join(build, "tests", "e2e-busybox-layout")
    if not os.path.exists(os.path.join(layout, "index.json")):
        rootfs = layout + ".rootfs"
        subprocess.run([os.path.join(TOP, "tests", "lib", "mkrootfs.sh"), rootfs], check=True)
        tmp = layout + ".tmp%d" % os.getpid()
        subprocess.run([sys.executable, os.path.join(TOP, "tests", "lib", "oci-image.py"), rootfs, tmp,
                        "--name", "latest"], check=True, capture_output=True)
        try:
            os.rename(tmp, layout)
        except OSError:
            subprocess.run(["rm", "-rf", tmp])
    return layout


def setup(name, **kw):
    require_root()
    b = Berthd(name, **kw)
    b.start()
    b.import_image(image_layout(), IMAGE)
    return b


def container(name, command, essential=True, **extra):
    # a shell or sleep as pid 1 ignores SIGTERM: keep stops short unless a test says otherwise
    c = {"name": name, "image": IMAGE, "essential": essential, "command": command, "memory": 64, "stopTimeout": 3}
    c.update(extra)
    return c


def taskdef(family, *containers, **extra):
    d = {"family": family, "networkMode": "awsvpc", "containerDefinitions": list(containers)}
    d.update(extra)
    return d


def ctr(task, name):
    for c in task["containers"]:
        if c["name"] == name:
            return c
    raise KeyError(name)


def run(main):
    """Runs main(b-factory) and exits with the verdict; cleans up whatever happened."""
    instances = []

    def factory(name, **kw):
        b = setup(name, **kw)
        instances.append(b)
        return b
    try:
        main(factory)
    except Exception:
        traceback.print_exc()
        failures.append("exception")
        for b in instances:
            print("---- berthd log (%s) ----\n%s" % (b.name, b.log()[-6000:]))
    finally:
        for b in instances:
            b.cleanup()
            if getattr(b, "sanitizer", None):
                failures.append("sanitizer reports in berthd's log")
    if failures:
        print("%d check(s) failed: %s" % (len(failures), ", ".join(failures)))
        sys.exit(1)
    print("all checks passed")
    sys.exit(0)


def wait_until(pred, timeout=30, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return None


def dump(o):
    return json.dumps(o, indent=1)
