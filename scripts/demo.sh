#!/usr/bin/env bash
# scripts/demo.sh : sets up this machine, builds berth, starts berthd with a directory of
# task files, and runs an example ECS task: a busybox web server and a second container that
# starts once the server is up and fetches its page over the task's localhost, both on the
# task's own IP address. Prints the address, fetches the page from the host, shows
# `berth ps` and `berth logs`, then stops the task and cleans up everything it made
# (DEMO_KEEP=1 leaves berthd and the task running and prints how to stop them).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (sudo $0)" >&2; exit 1; }

step() { printf '\n== %s\n' "$*"; }

step "installing build dependencies and building berth"
./scripts/install-deps.sh
if [ -f build/build.ninja ]; then meson setup --reconfigure build >/dev/null; else meson setup build >/dev/null; fi
meson compile -C build >/dev/null
B=$top/build

demo=/run/berth-demo
bridge=berthdemo0
table=berthdemo
subnet=10.87.0.0/24
berthd_pid=""

cleanup() {
  set +e
  if [ -n "$berthd_pid" ] && kill -0 "$berthd_pid" 2>/dev/null; then
    # every task stopped through berthd (reverse dependency order, its own teardown)
    for t in $("$B/agent/cli/berth" ps --json 2>/dev/null | python3 -c 'import json,sys; print(" ".join(t["task_id"] for t in json.load(sys.stdin)))'); do
      "$B/agent/cli/berth" stop "$t" >/dev/null 2>&1
    done
    rm -f "$demo/tasks.d/"*.json
    for _ in $(seq 100); do
      [ -z "$("$B/agent/cli/berth" ps 2>/dev/null | tail -n +2)" ] && break
      sleep 0.2
    done
    kill "$berthd_pid"; wait "$berthd_pid" 2>/dev/null
  fi
  "$B/agent/cli/berth" network --config "$demo/berthd.conf" reconcile --all-dead >/dev/null 2>&1
  grep -o " $demo/[^ ]*" /proc/self/mountinfo | sort -ru | while read -r m; do umount -l "$m" 2>/dev/null; done
  ip link del "$bridge" 2>/dev/null
  for f in inet ip bridge; do nft delete table "$f" "$table" 2>/dev/null; done
  rm -rf "$demo"
}

mkdir -p "$demo/tasks.d"
export BERTH_API_SOCKET=$demo/run/berthd.sock BERTH_IMAGE_ROOT=$demo/data/images
cat >"$demo/berthd.conf" <<EOF
DATA_DIR=$demo/data
RUN_DIR=$demo/run
LOG_DIR=$demo/log
API_SOCKET=$demo/run/berthd.sock
TASK_SOURCES=dir:$demo/tasks.d
RUNTIME_PATH=$B/runtime/berth-runtime
SHIM_PATH=$B/agent/shim/berth-shim
INIT_PATH=$B/agent/init/berth-init
NET_BRIDGE=$bridge
NET_POOLS=$subnet
NET_NFT_TABLE=$table
NET_NAME=berthdemo
NET_NETNS_DIR=$demo/run/netns
NET_FILES_DIR=$demo/run/network
NET_STATE_DIR=$demo/data/ipam
EOF

step "building a busybox image (Debian's busybox-static) and importing it into berth's image store"
"$top/tests/lib/mkrootfs.sh" "$demo/rootfs" >/dev/null
python3 "$top/tests/lib/oci-image.py" "$demo/rootfs" "$demo/layout" --name latest >/dev/null
"$B/agent/cli/berth" image import --name localhost/demo/busybox:latest "$demo/layout"

if [ "${DEMO_KEEP:-0}" != 1 ]; then trap cleanup EXIT; fi

step "starting berthd (config $demo/berthd.conf, task files in $demo/tasks.d)"
# READY=1 on the notify socket tells when berthd has recovered and read its task sources
python3 - "$demo" "$B" <<'PY' &
import os, socket, subprocess, sys
demo, build = sys.argv[1:3]
path = os.path.join(demo, "notify.sock")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(path); s.settimeout(60)
p = subprocess.Popen([os.path.join(build, "agent/daemon/berthd"), "--config", os.path.join(demo, "berthd.conf")],
                     env=dict({k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}, NOTIFY_SOCKET=path),
                     stdout=open(os.path.join(demo, "berthd.log"), "w"), stderr=subprocess.STDOUT)
open(os.path.join(demo, "berthd.pid"), "w").write(str(p.pid))
while "READY=1" not in s.recv(4096).decode():
    pass
open(os.path.join(demo, "ready"), "w").close()
PY
for _ in $(seq 300); do [ -e "$demo/ready" ] && break; sleep 0.1; done
[ -e "$demo/ready" ] || { echo "berthd did not start:"; cat "$demo/berthd.log"; exit 1; }
berthd_pid=$(cat "$demo/berthd.pid")
echo "berthd is running (pid $berthd_pid)"

step "writing an ECS task definition into $demo/tasks.d/web.json"
cat >"$demo/tasks.d/web.json.tmp" <<'EOF'
{
  "family": "demo-web",
  "networkMode": "awsvpc",
  "cpu": "256",
  "memory": "128",
  "containerDefinitions": [
    {
      "name": "web",
      "image": "localhost/demo/busybox:latest",
      "essential": true,
      "command": ["/bin/sh", "-c",
        "mkdir -p /www && echo \"hello from $(hostname), a berth task\" > /www/index.html && exec httpd -f -p 80 -h /www"],
      "healthCheck": { "command": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1/"],
                       "interval": 5, "timeout": 2, "retries": 3 },
      "stopTimeout": 3
    },
    {
      "name": "client",
      "image": "localhost/demo/busybox:latest",
      "essential": false,
      "dependsOn": [{ "containerName": "web", "condition": "HEALTHY" }],
      "command": ["/bin/sh", "-c", "while true; do wget -q -O - http://127.0.0.1/; sleep 2; done"],
      "stopTimeout": 3
    }
  ]
}
EOF
mv "$demo/tasks.d/web.json.tmp" "$demo/tasks.d/web.json"
echo "waiting for the task to be RUNNING (the client starts once web is HEALTHY, ~5 s)..."
status=""
for _ in $(seq 300); do
  status=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["status"], d["ip"] or "")' "$demo/tasks.d/web.json.status" 2>/dev/null || true)
  case "$status" in RUNNING*|STOPPED*) break ;; esac
  sleep 0.2
done
ip=${status#RUNNING }
case "$status" in
RUNNING*) echo "the task is RUNNING on its own address: $ip" ;;
*) echo "the task did not start: $(cat "$demo/tasks.d/web.json.status" 2>/dev/null)"; exit 1 ;;
esac

step "fetching http://$ip/ from the host"
python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode(), end="")' "http://$ip/"

step "berth ps"
"$B/agent/cli/berth" ps
sleep 2
step "berth logs (the client container fetched the page over the task's localhost)"
"$B/agent/cli/berth" logs "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["task_id"])' "$demo/tasks.d/web.json.status")" client | tail -3

if [ "${DEMO_KEEP:-0}" = 1 ]; then
  cat <<EOF

berthd keeps running. Try:
  export BERTH_API_SOCKET=$BERTH_API_SOCKET
  $B/agent/cli/berth ps; $B/agent/cli/berth exec -it <task> sh
Remove $demo/tasks.d/web.json to stop the task; stop berthd with: kill $berthd_pid
EOF
  exit 0
fi
step "removing the task file: berthd stops the task (client first, then web) and cleans up"
rm -f "$demo/tasks.d/web.json"
for _ in $(seq 100); do
  python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["status"] != "STOPPED")' \
    "$demo/tasks.d/web.json.status" 2>/dev/null && break
  sleep 0.2
done
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["status"], d["stop_code"], "-", d["reason"])' "$demo/tasks.d/web.json.status"
