#!/usr/bin/env bash
# The systemd unit passes `systemd-analyze verify` (with ExecStart pointing at the built
# berthd) and carries what a container agent needs; berthd speaks the notify protocol
# (READY=1 once recovered, WATCHDOG=1 at half of WATCHDOG_USEC) to a socket this test owns.
set -u
top=$1 build=$2
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze missing (apt-get install systemd)"; exit 77; }
work=$(mktemp -d /run/bt-systemd.XXXXXX)
cleanup() {
  kill "$(cat "$work/pid" 2>/dev/null)" 2>/dev/null
  wait 2>/dev/null
  # berthd leaves the network's directory mounts (host infrastructure); the test removes them
  grep -o " $work/[^ ]*" /proc/self/mountinfo | sort -ru | while read -r m; do umount -l "$m" 2>/dev/null; done
  rm -rf "$work"
  # and the host side of its network: bridge and nftables tables (inet, ip and bridge)
  ip link del "btsd$n" 2>/dev/null
  for fam in inet ip bridge; do nft delete table "$fam" "btsd$n" 2>/dev/null; done
}
n=$(( $$ % 10000 ))
trap cleanup EXIT
unit="$work/berthd.service"
sed "s#^ExecStart=.*#ExecStart=$build/agent/daemon/berthd#" "$top/systemd/berthd.service" >"$unit"
out=$(systemd-analyze verify "$unit" 2>&1)
check "systemd-analyze verify passes" '[ -z "$out" ] || ! echo "$out" | grep -v "ExecStart" | grep -q .'
echo "$out" | sed 's/^/     /'
for d in 'Type=notify' 'Delegate=yes' 'KillMode=process' 'Restart=always' 'WatchdogSec='; do
  check "unit has $d" "grep -q '^$d' '$top/systemd/berthd.service'"
done

# notify protocol: a datagram socket of our own, a berthd on temporary directories
python3 - "$work" "$build" "$n" <<'PY'
import os, socket, subprocess, sys, time
work, build, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
sock = os.path.join(work, "notify")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sock); s.settimeout(30)
conf = os.path.join(work, "berthd.conf")
with open(conf, "w") as f:
    f.write("DATA_DIR=%s/data\nRUN_DIR=%s/run\nLOG_DIR=%s/log\nAPI_SOCKET=%s/run/api.sock\n"
            "TASK_SOURCES=dir:%s/tasks.d\nNET_BRIDGE=btsd%d\nNET_POOLS=10.251.%d.0/24\nNET_NFT_TABLE=btsd%d\n"
            "NET_NETNS_DIR=%s/run/netns\nNET_FILES_DIR=%s/run/network\nNET_STATE_DIR=%s/data/ipam\n"
            % (work, work, work, work, work, n, n % 250, n, work, work, work))
env = dict(os.environ, NOTIFY_SOCKET=sock, WATCHDOG_USEC="1000000")
p = subprocess.Popen([os.path.join(build, "agent/daemon/berthd"), "--config", conf], env=env,
                     stdout=open(os.path.join(work, "log"), "w"), stderr=subprocess.STDOUT)
open(os.path.join(work, "pid"), "w").write(str(p.pid))
got, t0, ok = [], time.monotonic(), 0
try:
    while time.monotonic() - t0 < 8:
        got.append(s.recv(4096).decode())
except socket.timeout:
    pass
ready = any("READY=1" in m for m in got)
dogs = sum(m.count("WATCHDOG=1") for m in got)
print(("ok   " if ready else "FAIL ") + "berthd sends READY=1 when recovered")
print(("ok   " if dogs >= 8 else "FAIL ") + "berthd pings the watchdog at half its interval (%d pings in 8 s)" % dogs)
p.terminate(); p.wait(timeout=30)
stop = []
try:
    while True:
        stop.append(s.recv(4096).decode())
except (socket.timeout, BlockingIOError):
    pass
sys.exit(0 if ready and dogs >= 8 else 1)
PY
[ $? = 0 ] || fail=1
exit $fail
