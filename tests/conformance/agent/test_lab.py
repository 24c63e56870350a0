#!/usr/bin/env python3
"""Conformance: berth-endpoint run the way a lab runs it (docs/endpoint.md), with two nodes.
The agent API over TLS with a client CA and a bearer token, the admin API with a token of its
own, and every operator action through the `berth-endpoint` CLI (submit, list, stop, nodes,
events). Checks: nodes configured right register over https (client certificate, CA file,
token file); a node with plain http:// and ENDPOINT_ALLOW_PLAIN_HTTP unset refuses to start,
naming why; a node without the endpoint's CA, or with the wrong token, never registers and
keeps running; `submit --node` places on the named node, `submit` alone on the node with the
most free memory; each task runs on the node it was placed on; `stop` stops it
(UserInitiated) and the CLI's `list` and `events` show what the nodes reported."""
import json
import os
import subprocess

from harness import (build_path, check, container, dump, note, run, taskdef, verify_changes,
                     wait_until)


def sh(cwd, cmd):
    r = subprocess.run(cmd, shell=True, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s%s" % (cmd, r.returncode, r.stdout, r.stderr))


def make_pki(d):
    """A CA, the endpoint's certificate for 127.0.0.1, a node certificate, and a second CA
    nobody trusts. EC keys: quick to make on a shared machine."""
    ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
    sh(d, "openssl req -x509 %s -keyout ca.key -out ca.pem -days 2 -subj /CN=berth-conf-ca" % ec)
    sh(d, "openssl req -x509 %s -keyout other-ca.key -out other-ca.pem -days 2 -subj /CN=other-ca" % ec)
    sh(d, "openssl req %s -keyout server.key -out server.csr -subj /CN=127.0.0.1" % ec)
    sh(d, "printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && openssl x509 -req -in server.csr "
          "-CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile san.ext")
    sh(d, "openssl req %s -keyout node.key -out node.csr -subj /CN=lab-node" % ec)
    sh(d, "openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out node.pem -days 2")
    for name, text in (("token", "lab-agent-token\n"), ("admin-token", "lab-admin-token\n"),
                       ("wrong-token", "not-the-token\n")):
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
        os.chmod(os.path.join(d, name), 0o600)


def main(ctx):
    pki = os.path.join(ctx.tmp, "pki")
    os.makedirs(pki)
    make_pki(pki)
    p = lambda n: os.path.join(pki, n)  # noqa: E731
    ep = ctx.endpoint("lab", args=["--tls-cert", p("server.pem"), "--tls-key", p("server.key"),
                                   "--client-ca", p("ca.pem"), "--token-file", p("token"),
                                   "--admin-token-file", p("admin-token"), "--heartbeat", "5"],
                      admin_token="lab-admin-token")
    check(ep.url.startswith("https://"), "the endpoint serves agents over https", ep.url)

    def cli(*args, check_rc=True):
        r = subprocess.run([build_path("agent", "endpoint", "berth-endpoint"), "--admin", ep.admin_url,
                            "--admin-token-file", p("admin-token"), "--json", *args],
                           capture_output=True, text=True, timeout=60)
        if check_rc and r.returncode != 0:
            raise RuntimeError("berth-endpoint %s: exit %d: %s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    def cli_json(*args):
        return json.loads(cli(*args).stdout)

    # the admin API refuses an operator without its token
    r = subprocess.run([build_path("agent", "endpoint", "berth-endpoint"), "--admin", ep.admin_url, "nodes"],
                       capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    check(r.returncode != 0 and ("401" in out or "nauthorized" in out),
          "admin CLI without the admin token: refused", out)

    tls = {"ENDPOINT_CA_FILE": p("ca.pem"), "ENDPOINT_CERT_FILE": p("node.pem"), "ENDPOINT_KEY_FILE": p("node.key"),
           "ENDPOINT_TOKEN_FILE": p("token"), "ENDPOINT_ALLOW_PLAIN_HTTP": "false"}

    # plain http:// without ENDPOINT_ALLOW_PLAIN_HTTP: berthd refuses to start, saying why
    plain = ctx.node("plain", "http://127.0.0.1:%d" % ep.port, extra_config={"ENDPOINT_ALLOW_PLAIN_HTTP": "false"},
                     start=False)
    try:
        plain.start(timeout=30)
        started = True
    except RuntimeError:
        started = False
    log = plain.log()
    check(not started and "plain HTTP is not allowed" in log,
          "http:// without ENDPOINT_ALLOW_PLAIN_HTTP: berthd does not start and says why", log[-2000:])
    plain.stop()

    # the nodes of the lab
    # lab1's operator allows what lab2's does not: its registration must say so
    lab1 = ctx.node("lab1", ep.url, extra_config=dict(tls, ALLOW_EBPF_SIDECARS="true", ALLOW_PRIVILEGED="true",
                                                      ALLOW_HOST_NETWORK="true"))
    n1 = ep.wait_node(lambda n: n["alive"], 60, "lab1 registered")["node_id"]
    lab2 = ctx.node("lab2", ep.url, extra_config=tls)
    n2 = ep.wait_node(lambda n: n["alive"] and n["node_id"] != n1, 60, "lab2 registered")["node_id"]
    nodes = cli_json("nodes")["nodes"]
    check(sorted(n["node_id"] for n in nodes) == sorted([n1, n2]) and all(n["alive"] for n in nodes),
          "berth-endpoint nodes: both nodes, alive, registered over https with a client certificate and the token",
          dump(nodes))

    attrs = {n["node_id"]: n["attributes"] for n in nodes}
    a1, a2 = attrs[n1], attrs[n2]
    check("ebpf-sidecar" in a1["features"] and "ebpf-sidecar" not in a2["features"],
          "register attributes: features has ebpf-sidecar exactly where ALLOW_EBPF_SIDECARS is set", dump(attrs))
    check("host" in a1["network_modes"], "register attributes: host among the network modes where "
                                         "ALLOW_HOST_NETWORK is set", dump(a1))
    check("host" not in a2["network_modes"],
          "register attributes: host not among the network modes of a node that refuses it", dump(a2))
    check("privileged" in a1["features"] and "privileged" not in a2["features"],
          "register attributes: features has privileged where ALLOW_PRIVILEGED is set", dump(attrs))

    # nodes that must not get in: the endpoint's CA not trusted; the wrong token
    # (started without NOTIFY_SOCKET: berthd says READY only once every task source has
    # reported, which these never do; docs/operations.md)
    bad_ca = ctx.node("badca", ep.url, extra_config=dict(tls, ENDPOINT_CA_FILE=p("other-ca.pem")), start=False)
    bad_tok = ctx.node("badtok", ep.url, extra_config=dict(tls, ENDPOINT_TOKEN_FILE=p("wrong-token")), start=False)
    for b in (bad_ca, bad_tok):
        b.proc = subprocess.Popen([build_path("agent", "daemon", "berthd"), "--config", b.config],
                                  stdout=open(b.log_path, "a"), stderr=subprocess.STDOUT, env=b.daemon_env)
    ok = wait_until(lambda: "certificate" in bad_ca.log() and "401" in bad_tok.log(), 60, 0.5)
    check(ok, "a node that does not trust the endpoint's certificate, and one with the wrong token, "
              "log why they cannot register", bad_ca.log()[-1500:] + "\n----\n" + bad_tok.log()[-1500:])
    check(len(cli_json("nodes")["nodes"]) == 2, "neither registered: still two nodes", dump(cli_json("nodes")))
    check(bad_ca.proc.poll() is None and bad_tok.proc.poll() is None,
          "both keep running (they retry), as a node does when its endpoint is unreachable")
    for b in (bad_ca, bad_tok):
        b.stop()

    # placement: a big task on the named node, then one placed by free memory
    def write_def(name, d):
        path = os.path.join(ctx.tmp, name + ".json")
        with open(path, "w") as f:
            json.dump(d, f)
        return path

    big = write_def("big", taskdef("lab-big", container("main", ["sleep", "600"], memory=2048)))
    small = write_def("small", taskdef("lab-small", container("main", ["sleep", "600"], memory=64)))
    r1 = cli_json("submit", "--node", n1, big)
    check(r1.get("node_id") == n1, "submit --node: placed on the named node", dump(r1))
    r2 = cli_json("submit", small)
    check(r2.get("node_id") == n2, "submit: placed on the node with the most free memory (not the one "
                                   "holding 2 GiB)", dump(r2) + "\n" + dump(cli_json("nodes")))
    t1, t2 = r1["task_id"], r2["task_id"]
    ch1 = ep.wait_status(t1, "RUNNING", 90)
    ch2 = ep.wait_status(t2, "RUNNING", 90)
    check(t1 in {t["task_id"] for t in lab1.ps()} and t1 not in {t["task_id"] for t in lab2.ps()},
          "the named node runs the big task, the other does not")
    check(t2 in {t["task_id"] for t in lab2.ps()} and t2 not in {t["task_id"] for t in lab1.ps()},
          "the node chosen by placement runs the small task, the other does not")
    evs = [json.loads(l) for l in cli("events", "--task", t1).stdout.splitlines() if l.strip()]
    check(evs and all(e["node_id"] == n1 for e in evs) and any(e["change"]["status"] == "RUNNING" for e in evs),
          "berth-endpoint events --task: the changes of the task, from its node", dump(evs[-2:]))
    lst = cli_json("list", t1)  # one task: the object itself
    check(lst["status"] == "RUNNING" and lst["ip"] == ch1["ip"] and lst["node_id"] == n1,
          "berth-endpoint list TASK: RUNNING on its node with the address the node reported", dump(lst))

    # stop through the CLI
    cli("stop", t1)
    cli("stop", t2)
    for tid in (t1, t2):
        ch = ep.wait_status(tid, "STOPPED", 60)
        check(ch["stop_code"] == "UserInitiated", "%s stopped by `berth-endpoint stop`: UserInitiated" % tid, dump(ch))
    tasks = {t["task_id"]: t for t in cli_json("list")["tasks"]}
    check(all(tasks[t]["desired"] == "STOPPED" and tasks[t]["status"] == "STOPPED" for t in (t1, t2)),
          "berth-endpoint list: both desired and reported STOPPED", dump(tasks))
    note("ip %s on %s, ip %s on %s" % (ch1["ip"], n1, ch2["ip"], n2))
    # seq is per node: each node's record on its own
    evs = ep.events()
    for nid, tid in ((n1, t1), (n2, t2)):
        verify_changes([e["change"] for e in evs if e["node_id"] == nid], "lab node %s" % nid, final=[tid])


if __name__ == "__main__":
    run(main)
