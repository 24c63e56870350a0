#!/usr/bin/env python3
# consock.py SOCKET OUTPUT : a --console-socket receiver, as a shim would be. Accepts one
# connection, takes the terminal's master fd (SCM_RIGHTS), writes everything read from it
# to OUTPUT until the container side closes, and the pty name it was sent to OUTPUT.name.
import array, os, socket, sys

path, out = sys.argv[1], sys.argv[2]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
print("ready", flush=True)
conn, _ = srv.accept()
fds = array.array("i")
msg, anc, _, _ = conn.recvmsg(256, socket.CMSG_SPACE(4))
for level, kind, data in anc:
    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
        fds.frombytes(data[: len(data) - (len(data) % 4)])
with open(out + ".name", "w") as f:
    f.write(msg.rstrip(b"\0").decode())
master = fds[0]
with open(out, "wb") as f:
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO once the last slave fd is closed
            break
        if not chunk:
            break
        f.write(chunk)
        f.flush()
