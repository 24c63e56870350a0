#!/usr/bin/python3
"""A registry token server for berth's tests (the "Bearer realm" of the distribution
token auth protocol), python3 stdlib plus the openssl CLI for RS256 signatures.

  token-server.py --port P --key KEY.pem --cert CERT.pem --issuer I --service S
                  --user U --password PW [--expires-in SECONDS] [--log FILE]

Listens on 127.0.0.1 only. GET /token?service=S&scope=repository:NAME:pull grants the
scope's actions to the right Basic credentials, nothing to anonymous requests (so the
registry refuses them) and 401 to wrong credentials. POST /token takes an OAuth2 form:
grant_type=password (username, password) or grant_type=refresh_token with
refresh_token "refresh-U". Tokens are JWTs whose x5c header carries the signing
certificate, which the registry checks against its rootcertbundle. Every request is
appended to --log as "METHOD user scope status".
"""
import argparse
import base64
import http.server
import json
import os
import subprocess
import time
import urllib.parse

ap = argparse.ArgumentParser()
for a in ("port", "key", "cert", "issuer", "service", "user", "password"):
    ap.add_argument("--" + a, required=True)
ap.add_argument("--expires-in", type=int, default=300)
ap.add_argument("--log")
args = ap.parse_args()

with open(args.cert) as f:
    CERT_DER_B64 = "".join(l for l in f.read().splitlines() if l and not l.startswith("-----"))


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(subject, access):
    now = int(time.time())
    header = {"typ": "JWT", "alg": "RS256", "x5c": [CERT_DER_B64]}
    claims = {"iss": args.issuer, "sub": subject, "aud": args.service, "exp": now + args.expires_in,
              "nbf": now - 30, "iat": now, "jti": b64url(os.urandom(16)), "access": access}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", args.key], input=signing_input.encode(),
                         capture_output=True, check=True).stdout
    return signing_input + "." + b64url(sig)


def scopes(values):
    out = []
    for v in values:
        for one in v.split():
            parts = one.split(":")
            if len(parts) >= 3:
                out.append({"type": parts[0], "name": ":".join(parts[1:-1]),
                            "actions": [a for a in parts[-1].split(",") if a]})
    return out


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def record(self, who, scope, status):
        if args.log:
            with open(args.log, "a") as f:
                f.write("%s %s %s %d\n" % (self.command, who or "-", ",".join(scope) or "-", status))

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def basic(self):
        a = self.headers.get("Authorization", "")
        if not a.startswith("Basic "):
            return None, None
        u, _, p = base64.b64decode(a[6:]).decode().partition(":")
        return u, p

    def answer(self, q, who, password, refresh=None):
        scope = q.get("scope", [])
        if urllib.parse.urlparse(self.path).path != "/token":
            self.record(who, scope, 404)
            return self.reply(404, {"details": "not found"})
        ok = (who == args.user and password == args.password) or (refresh is not None and refresh == "refresh-" + args.user)
        if who is not None and not ok or (refresh is not None and not ok):
            self.record(who, scope, 401)
            return self.reply(401, {"details": "invalid credentials for %s" % who})
        access = scopes(scope) if ok else []
        token = jwt(who if ok else "anonymous", access)
        self.record(who if ok else "anonymous", scope, 200)
        self.reply(200, {"token": token, "access_token": token, "expires_in": args.expires_in,
                         "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})

    def do_GET(self):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        u, p = self.basic()
        self.answer(q, u, p)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(n).decode())
        grant = form.get("grant_type", [""])[0]
        if grant == "refresh_token":
            self.answer(form, args.user, None, form.get("refresh_token", [""])[0])
        else:
            self.answer(form, form.get("username", [None])[0], form.get("password", [None])[0])


http.server.ThreadingHTTPServer(("127.0.0.1", int(args.port)), Handler).serve_forever()
