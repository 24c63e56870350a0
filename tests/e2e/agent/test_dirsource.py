#!/usr/bin/env python3
"""End-to-end: the directory task source — a file appearing starts its task, its state is
written beside it, a changed file replaces the task, a removed file stops it, a file that
is not JSON gets a status saying why, and a restart of berthd does not duplicate tasks."""
import json
import os
import time

from e2e import check, container, dump, run, taskdef, wait_until


def status(b, name):
    try:
        with open(os.path.join(b.tasks_dir, name + ".status")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def main(berthd):
    b = berthd("dirsrc")
    path = os.path.join(b.tasks_dir, "web.json")
    with open(path + ".tmp", "w") as f:
        json.dump(taskdef("dirweb", container("web", ["httpd", "-f", "-p", "80", "-h", "/"])), f)
    t0 = time.monotonic()
    os.rename(path + ".tmp", path)
    st = wait_until(lambda: (s := status(b, "web.json")) and s["status"] == "RUNNING" and s, 60)
    check(st, "the task file's status says RUNNING", status(b, "web.json"))
    print("     task file -> RUNNING (status file written): %.3f s" % (time.monotonic() - t0))
    first = st["task_id"]
    check(st["ip"] is not None, "the status file carries the task's address")

    b.kill9()
    b.start()
    time.sleep(1)
    live = [t for t in b.ps() if t["status"] != "STOPPED"]
    check(len(live) == 1 and live[0]["task_id"] == first, "after a restart the same task runs, once", dump(live))

    # a changed file is a new task; the old one stops
    with open(path + ".tmp", "w") as f:
        json.dump(taskdef("dirweb", container("web", ["httpd", "-f", "-p", "8080", "-h", "/"])), f)
    os.rename(path + ".tmp", path)
    st = wait_until(lambda: (s := status(b, "web.json")) and s["task_id"] != first and s["status"] == "RUNNING" and s, 60)
    check(st, "a changed task file replaces the task", status(b, "web.json"))
    old = b.wait_status(first, "STOPPED", 60)
    check("absent" in old["reason"], "the replaced task stopped, saying why", dump(old))

    # garbage
    with open(os.path.join(b.tasks_dir, "broken.json"), "w") as f:
        f.write("{ not json")
    st = wait_until(lambda: status(b, "broken.json"), 20)
    check(st and st["status"] == "STOPPED" and "invalid JSON" in st["reason"], "a broken file's status says why", st)

    # removal stops
    second = st and status(b, "web.json")["task_id"]
    os.unlink(path)
    t = b.wait_status(second, "STOPPED", 60)
    check(t["stop_code"] == "UserInitiated", "removing the file stops the task", dump(t))
    check(wait_until(lambda: (s := status(b, "web.json")) and s["status"] == "STOPPED", 20),
          "the status file beside the removed task file says STOPPED")


if __name__ == "__main__":
    run(main)
