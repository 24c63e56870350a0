#!/usr/bin/env python3
# Integration test for berth-init (initProcessEnabled): as pid 1 of a new pid namespace
# (unshare --pid --fork) it forwards SIGTERM to its child, reaps orphans re-parented to it,
# and exits with the child's status. Needs root (exit 77 otherwise). Every process it starts
# is in its own session and killed on the way out.
import os
import signal
import subprocess
import sys

INIT = sys.argv[1]
STATIC = len(sys.argv) > 2 and sys.argv[2] == "static"
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def run_init(script, env=None):
    """Starts berth-init as pid 1 of a new pid namespace running sh -c script."""
    return subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", INIT, "--", "/bin/sh", "-c", script],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True, env=env)


def init_pid(unshare_pid):
    """berth-init's pid on the host: the child of the unshare process."""
    for tid in os.listdir(f"/proc/{unshare_pid}/task"):
        with open(f"/proc/{unshare_pid}/task/{tid}/children") as f:
            kids = f.read().split()
        if kids:
            return int(kids[0])
    raise RuntimeError("unshare has no child")


def finish(p, timeout=60):
    try:
        out, _ = p.communicate(timeout=timeout)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    return out


def test_forwards_sigterm():
    p = run_init('trap "echo got-term; exit 42" TERM; echo ready; '
                 'while :; do sleep 0.05; done')
    try:
        line = p.stdout.readline().strip()
        check(line == "ready", f"payload started (read {line!r})")
        os.kill(init_pid(p.pid), signal.SIGTERM)
    except Exception:
        os.killpg(p.pid, signal.SIGKILL)
        raise
    out = finish(p)
    check("got-term" in out, f"SIGTERM reached the child (output {out!r})")
    check(p.returncode == 42, f"exit status is the child's (42, got {p.returncode})")


def test_reaps_orphans():
    # The inner sh exits at once: its background sleep is orphaned and re-parented to pid 1.
    # Killed, it must disappear from /proc (reaped), not stay a zombie.
    script = r'''
d=$(mktemp -d)
sh -c 'sleep 1000 & echo $! > '"$d"'/orphan'
orphan=$(cat "$d/orphan"); rm -r "$d"
ppid=$(sed 's/.*) . //' /proc/$orphan/stat | cut -d" " -f1)
echo "ppid=$ppid"
kill $orphan
i=0
while [ -e /proc/$orphan ]; do
  i=$((i+1))
  if [ $i -gt 400 ]; then echo "still there: $(cat /proc/$orphan/stat)"; exit 1; fi
  sleep 0.05
done
echo reaped
zombies=0
for s in /proc/[0-9]*/stat; do
  state=$(sed 's/.*) //' "$s" 2>/dev/null | cut -d" " -f1)
  [ "$state" = Z ] && zombies=$((zombies+1))
done
echo "zombies=$zombies"
exit 7
'''
    p = run_init(script)
    out = finish(p)
    check("ppid=1" in out, f"the orphan was re-parented to berth-init ({out!r})")
    check("reaped" in out, "the orphan was reaped")
    check("zombies=0" in out, "no zombie left in the namespace")
    check(p.returncode == 7, f"exit status 7 (got {p.returncode})")


def test_exit_statuses():
    p = run_init("kill -KILL $$")
    finish(p)
    check(p.returncode == 128 + signal.SIGKILL,
          f"killed child: 128+9 (got {p.returncode})")
    p = subprocess.run(["unshare", "--pid", "--fork", INIT, "--", "/nonexistent/cmd"],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 127, f"missing command: 127 (got {p.returncode})")
    check("exec `/nonexistent/cmd`" in p.stderr, f"names the command ({p.stderr!r})")
    p = subprocess.run([INIT], capture_output=True, text=True, timeout=60)
    check(p.returncode == 2 and "Usage" in p.stderr, "no command: usage, status 2")


def test_subreaper_outside_pidns():
    # Not pid 1: berth-init makes itself a child subreaper, so orphans still come to it.
    script = r'''
d=$(mktemp -d)
sh -c 'sleep 1000 & echo $! > '"$d"'/orphan'
orphan=$(cat "$d/orphan"); rm -r "$d"
ppid=$(sed 's/.*) . //' /proc/$orphan/stat | cut -d" " -f1)
kill $orphan
[ "$ppid" = "$PPID" ] && echo adopted || echo "ppid=$ppid init=$PPID"
'''
    p = subprocess.run([INIT, "--", "/bin/sh", "-c", script], capture_output=True, text=True,
                       timeout=60, start_new_session=True)
    check(p.returncode == 0 and "adopted" in p.stdout,
          f"outside a pid namespace the orphan is re-parented to berth-init ({p.stdout!r})")


def test_static():
    if not STATIC:
        print("skip static check: sanitizer/fuzz build links berth-init dynamically")
        return
    out = subprocess.run(["ldd", INIT], capture_output=True, text=True)
    text = out.stdout + out.stderr
    check("not a dynamic executable" in text or "statically linked" in text,
          f"ldd: not dynamic ({text.strip()!r})")
    size = os.path.getsize(INIT)
    check(size < 1024 * 1024, f"berth-init is small ({size} bytes)")


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root for a pid namespace (unshare --pid)")
        sys.exit(77)
    for t in (test_static, test_forwards_sigterm, test_reaps_orphans, test_exit_statuses,
              test_subreaper_outside_pidns):
        t()
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("all berth-init checks passed")


if __name__ == "__main__":
    main()
