"""A client for berth-shim's protocol (JSON messages over SOCK_SEQPACKET, fds by
SCM_RIGHTS), used by the agent's tests."""
import array
import json
import socket
import time


class ShimClient:
    def __init__(self, path, timeout=30.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.next_id = 1
        self.events = []

    def close(self):
        self.sock.close()

    def _recv(self):
        data, ancdata, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(4 * 3))
        fds = []
        for level, typ, payload in ancdata:
            if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                a = array.array("i")
                a.frombytes(payload[: len(payload) - (len(payload) % 4)])
                fds.extend(a)
        if not data:
            raise ConnectionError("shim closed the connection")
        return json.loads(data), fds

    def call(self, op, fds=None, **kw):
        rid = self.next_id
        self.next_id += 1
        msg = dict(kw, id=rid, op=op)
        data = json.dumps(msg).encode()
        if fds:
            self.sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
        else:
            self.sock.send(data)
        while True:
            m, got = self._recv()
            if "event" in m:
                self.events.append(m)
                continue
            if m.get("id") == rid:
                if got:
                    m["_fds"] = got
                return m

    def wait_event(self, pred, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if pred(e):
                    return self.events.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no matching event")
            self.sock.settimeout(left)
            m, _ = self._recv()
            if "event" in m:
                self.events.append(m)
