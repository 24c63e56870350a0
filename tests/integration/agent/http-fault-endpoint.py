#!/usr/bin/env python3
"""A misbehaving control endpoint for the http source's integration tests.

http-fault-endpoint.py MODE PORT LOGFILE : serves on 127.0.0.1:PORT, writes "ready" to fd 3
once listening, and appends "<monotonic ns> <METHOD> <path>" for every request to LOGFILE.

Registration always succeeds (node_id echoed) unless MODE says otherwise. Modes:
  garbage      assignments answer 200 with a body that is not JSON
  oversized    assignments answer 200 with a valid 2 MiB manifest (over the agent's limit)
  stale        assignments answer generation 5 (task a) first, then generation 3 (task b)
  unavailable  register answers 503, no Retry-After
  retry-after  register answers 503 with Retry-After: 1
  hint         register hints min_interval_ms=300; assignments answer 204 at once
  ack-none     state changes are answered with acked_seq 0 (nothing taken)
  ack-beyond   state changes are answered, 0.5 s late, with acked_seq 1000 above the
               batch's last
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE, PORT, LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
state = {"assignments": 0}


def manifest(generation, tasks, pad=0):
    doc = {
        "protocol": 1,
        "generation": generation,
        "complete": True,
        "tasks": [
            {"task_id": t, "desired": "RUNNING",
             "definition": {"family": t, "containerDefinitions": [{"name": t, "image": "busybox"}]}}
            for t in tasks
        ],
    }
    if pad:
        doc["tasks"][0]["metadata"] = {"pad": "x" * pad}
    return json.dumps(doc).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def record(self):
        with lock, open(LOG, "a") as f:
            f.write(f"{time.monotonic_ns()} {self.command} {self.path}\n")

    def reply(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        self.record()
        if self.path == "/v1/register":
            if MODE == "unavailable":
                return self.reply(503, b'{"protocol":1,"error":{"code":"Unavailable","message":"down"}}')
            if MODE == "retry-after":
                return self.reply(503, b"{}", {"Retry-After": "1"})
            reply = {"protocol": 1, "node_id": body["node_id"], "acked_seq": 0}
            if MODE == "hint":
                reply["poll"] = {"wait_s": 1, "min_interval_ms": 300}
            return self.reply(200, json.dumps(reply).encode())
        if self.path.endswith("/assignments/ack"):
            return self.reply(204)
        if self.path.endswith("/heartbeat"):
            return self.reply(200, b'{"protocol":1}')
        if self.path.endswith("/state-changes"):
            last = body["changes"][-1]["seq"] if body["changes"] else 0
            if MODE == "ack-none":
                last = 0
            elif MODE == "ack-beyond":
                # Late, so that the agent holds newer, unsent changes when this arrives.
                time.sleep(0.5)
                last += 1000
            return self.reply(200, json.dumps({"protocol": 1, "acked_seq": last}).encode())
        return self.reply(404, b"{}")

    def do_GET(self):
        self.record()
        if "/assignments" not in self.path:
            return self.reply(404, b"{}")
        with lock:
            state["assignments"] += 1
            n = state["assignments"]
        if MODE == "garbage":
            return self.reply(200, b'{"protocol":1,"generation":7,"complete":tru')
        if MODE == "oversized":
            return self.reply(200, manifest(9, ["big"], pad=2 * 1024 * 1024))
        if MODE == "stale":
            if n == 1:
                return self.reply(200, manifest(5, ["a"]))
            return self.reply(200, manifest(3, ["b"]))
        if MODE == "hint":
            return self.reply(204)
        time.sleep(1)
        return self.reply(204)


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
server.daemon_threads = True
os.write(3, b"ready\n")
os.close(3)
server.serve_forever()
