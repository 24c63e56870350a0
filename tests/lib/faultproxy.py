#!/usr/bin/python3
"""An HTTP proxy in front of a test registry that injects faults into blob downloads
(python3 stdlib). Listens on 127.0.0.1 only.

  faultproxy.py --port P --upstream 127.0.0.1:R [--log FILE] [--state FILE] [FAULT...]

Faults apply to the first --count (default 1) successful GETs of /v2/.../blobs/sha256:...
(or of every blob with --count 0... meaning always: use --count -1):
  --drop-after N     send the headers and N body bytes, then reset the connection (bodies
                     longer than N only; the same for --stall-after)
  --fail-500         answer 500 with a registry-style JSON error instead
  --stall-after N    send N body bytes, then stop sending (the connection stays open)
  --corrupt          flip one byte in the middle of the body (wrong digest)
  --ignore-range     answer a Range request with the whole blob (200)
  --rate BPS         send blob bodies at about BPS bytes per second (no fault count)
  --redirect URL     answer blob GETs with 307 to URL + the same path (no fault count)
  --serve-redirects  this instance is the redirect target: it forwards like a proxy but
                     refuses (403) any request that carries an Authorization header
Every request is logged to --log: "METHOD PATH range=R status=S bytes=B auth=yes|no
t0=T t1=T" (CLOCK_MONOTONIC seconds when the request came and when its answer was sent).
"""
import argparse
import http.client
import http.server
import socket
import struct
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--upstream", required=True)
ap.add_argument("--log")
ap.add_argument("--state")
ap.add_argument("--count", type=int, default=1)
ap.add_argument("--drop-after", type=int)
ap.add_argument("--fail-500", action="store_true")
ap.add_argument("--stall-after", type=int)
ap.add_argument("--corrupt", action="store_true")
ap.add_argument("--ignore-range", action="store_true")
ap.add_argument("--rate", type=int)
ap.add_argument("--redirect")
ap.add_argument("--serve-redirects", action="store_true")
args = ap.parse_args()

lock = threading.Lock()
faults_done = 0
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization",
       "proxy-authenticate", "host"}


def take_fault():
    global faults_done
    with lock:
        if args.count >= 0 and faults_done >= args.count:
            return False
        faults_done += 1
        return True


def log(line):
    if args.log:
        th = threading.current_thread()
        # t1: just before the last write of the answer, so that it comes before anything
        # the client does after reading it, however the threads are scheduled
        t1 = getattr(th, "t1", None) or time.monotonic()
        line += " t0=%.3f t1=%.3f" % (getattr(th, "t0", 0.0), t1)
        th.t1 = None
        with lock, open(args.log, "a") as f:
            f.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def reset(self):
        # RST rather than FIN: the client sees a broken transfer, not a short one
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        try:
            self.connection.close()
        except OSError:
            pass

    def simple(self, status, body, extra=None):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        threading.current_thread().t0 = time.monotonic()
        path = self.path
        is_blob = "/blobs/sha256:" in path and self.command == "GET"
        auth = "yes" if "Authorization" in self.headers else "no"
        rng = self.headers.get("Range", "-")
        if args.serve_redirects and auth == "yes":
            log("%s %s range=%s status=403 bytes=0 auth=yes" % (self.command, path, rng))
            return self.simple(403, b'{"errors":[{"code":"DENIED","message":"Authorization leaked to another host"}]}')
        if is_blob and args.redirect:
            log("%s %s range=%s status=307 bytes=0 auth=%s" % (self.command, path, rng, auth))
            return self.simple(307, b"", {"Location": args.redirect + path})
        if is_blob and args.fail_500 and take_fault():
            log("%s %s range=%s status=500 bytes=0 auth=%s" % (self.command, path, rng, auth))
            return self.simple(500, b'{"errors":[{"code":"UNKNOWN","message":"injected failure"}]}')
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        if is_blob and args.ignore_range:
            headers.pop("Range", None)
        body = None
        if "Content-Length" in self.headers:
            body = self.rfile.read(int(self.headers["Content-Length"]))
        up = http.client.HTTPConnection(args.upstream, timeout=60)
        up.request(self.command, path, body=body, headers=headers)
        resp = up.getresponse()
        data = resp.read()
        up.close()
        # a drop or stall after N bytes needs a body longer than N (not the config blob)
        limit = args.drop_after if args.drop_after is not None else args.stall_after
        body_fault = (limit is not None and len(data) > limit) or args.corrupt
        fault = is_blob and resp.status in (200, 206) and body_fault and take_fault()
        if fault and args.corrupt and len(data) > 0:
            i = len(data) // 2
            data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command == "HEAD":
            log("%s %s range=%s status=%d bytes=0 auth=%s" % (self.command, path, rng, resp.status, auth))
            return
        sent = 0
        limit = None
        if fault and args.drop_after is not None:
            limit = args.drop_after
        if fault and args.stall_after is not None:
            limit = args.stall_after
        chunk = 64 * 1024
        start = time.monotonic()
        try:
            while sent < len(data):
                n = min(chunk, len(data) - sent)
                if limit is not None:
                    n = min(n, limit - sent)
                    if n <= 0:
                        break
                threading.current_thread().t1 = time.monotonic()
                self.wfile.write(data[sent:sent + n])
                sent += n
                if is_blob and args.rate and sent < len(data):
                    ahead = sent / args.rate - (time.monotonic() - start)
                    if ahead > 0:
                        time.sleep(ahead)
            self.wfile.flush()
        except OSError:
            pass
        log("%s %s range=%s status=%d bytes=%d auth=%s%s" % (self.command, path, rng, resp.status, sent, auth,
                                                            " fault" if fault else ""))
        if fault and args.drop_after is not None:
            return self.reset()
        if fault and args.stall_after is not None:
            # hold the connection without sending until the client gives up
            self.connection.settimeout(120)
            try:
                while self.connection.recv(1):
                    pass
            except OSError:
                pass
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()
