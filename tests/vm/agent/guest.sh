# Guest side of berthd's pure cgroup v2 checks (tests/vm/agent/vm-agent.sh), as root in the
# guest's root cgroup. berthd is started the way systemd starts berthd.service with
# Delegate=yes: alone in a cgroup of its own, which it then owns. pivot_root cannot leave the
# initramfs (its root mount has no parent): everything runs chrooted in a recursive bind of
# it, as a host's root would be.
if [ "$1" != inner ]; then
  mkdir -p /newroot
  mount --rbind / /newroot
  exec chroot /newroot sh /berth/guest.sh inner
fi
. /berth/tap.sh
# what follows an `eventually` depends on it: a miss ends the run with berthd's state and log
eventually_missed() { bail_out; }
bail_out() {
  echo "# berth ps -a:"
  berth ps -a 2>&1 | sed 's/^/#   /'
  echo "# berthd log:"
  tail -n 60 /var/log/berthd.log | sed 's/^/#   /'
  echo "1..$n"
  exit 1
}
json_str() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" | head -1; }
json_num() { sed -n "s/.*\"$1\": *\([0-9-]*\).*/\1/p" | head -1; }

CG=/sys/fs/cgroup
mkdir -p /etc/berth/tasks.d /var/lib/berth /run/berth /var/log/berth
echo "nameserver 192.0.2.53" >/etc/resolv.conf
echo "127.0.0.1 localhost" >/etc/hosts
cat >/etc/berth/berthd.conf <<EOF
TASK_SOURCES=dir:/etc/berth/tasks.d
RUNTIME_PATH=/berth/bin/berth-runtime
SHIM_PATH=/berth/bin/berth-shim
INIT_PATH=/berth/bin/berth-init
NET_POOLS=10.88.0.0/24
LOG_LEVEL=debug
EOF
export BERTH_API_SOCKET=/run/berth/api.sock
IMAGE=localhost/vm/busybox:latest

# systemd's part (254 and later, with the unit's drop-in DelegateSubgroup=supervisor): a
# cgroup for the service, controllers delegated to it, berthd started in its supervisor leaf.
# Started in berthd.service itself, a restart fails once tasks run (docs/cgroups.md).
echo "+cpu +memory +pids +io" >$CG/cgroup.subtree_control
mkdir -p $CG/berthd.service/supervisor
start_berthd() {
  sh -c 'echo $$ >/sys/fs/cgroup/berthd.service/supervisor/cgroup.procs &&
    exec berthd --config /etc/berth/berthd.conf' >>/var/log/berthd.log 2>&1 &
  berthd_pid=$!
}

out=$(berth image import --config /etc/berth/berthd.conf --name $IMAGE /berth/layout 2>&1)
eq "the busybox image imports into the store" 0 $?
start_berthd
eventually "berthd answers on its API" 0 'berth ps >/dev/null; echo $?'
eq "berthd runs in the leaf of its delegated cgroup" "0::/berthd.service/supervisor" "$(cat /proc/$berthd_pid/cgroup)"
eq "and takes the service's cgroup as berth's root" 1 "$(grep -c "berth's root /berthd.service\$" /var/log/berthd.log)"

task() { # NAME CPU MEMORY COMMAND...
  local name=$1 cpu=$2 mem=$3
  shift 3
  local args="" a
  for a in "$@"; do args="$args${args:+,}\"$a\""; done
  cat >/etc/berth/tasks.d/.$name.tmp <<EOF
{"family": "$name", "networkMode": "awsvpc", "cpu": "$cpu", "memory": "$mem",
 "containerDefinitions": [{"name": "main", "image": "$IMAGE", "essential": true,
   "command": [$args], "stopTimeout": 2}]}
EOF
  mv /etc/berth/tasks.d/.$name.tmp /etc/berth/tasks.d/$name.json
}
task_id() { berth ps -a -q | while read -r t; do berth inspect "$t" | grep -q "\"family\": *\"$1\"" && echo "$t"; done | head -1; }
status_of() { berth inspect "$1" 2>/dev/null | json_str status; }

# a task: limits in its cgroup, its own address
task web 256 128 sh -c 'echo started >>/starts; exec sleep 3600'
eventually "a task is accepted" 1 'task_id web | wc -l'
tid=$(task_id web)
eventually "the task reaches RUNNING" RUNNING "status_of $tid"
pid=$(berth inspect "$tid" | json_num pid)
cgpath=$(cut -d: -f3 /proc/$pid/cgroup)
eq "its container is in the delegated subtree" "/berthd.service/berth/task-$tid/ctr-main" "$cgpath"
eq "memory limit in memory.max (128 MiB: the task's memory)" 134217728 "$(cat $CG$cgpath/../memory.max)"
eq "cpu: 256 units are a quarter of a CPU in cpu.max" "25000 100000" "$(cat $CG$cgpath/../cpu.max)"
addr=$(berth exec "$tid" ip -4 addr show eth0 2>&1 | sed -n 's/.*inet \(10\.88\.0\.[0-9]*\).*/\1/p')
eq "eth0 carries an address of the pool" 10.88.0 "${addr%.*}"
# the container's writes, read from its overlay's upper directory: `berth exec` would enter
# this guest's initramfs root instead of the container's (setns into a mount namespace goes
# to the namespace's root mount, and in this chrooted guest that is the initramfs; on a
# host it is the container's root, as the end-to-end tests check)
starts=/var/lib/berth/tasks/$tid/main/upper/starts
eventually "its command ran (it wrote a file in its root)" 1 "wc -l <$starts"
eq "berth stats reads the v2 counters" yes "$(berth stats "$tid" | grep -q '"current"' && echo yes)"

# an OOM kill, seen through memory.events
task hog 256 32 sh -c 'dd if=/dev/zero of=/dev/null bs=64M count=1'
eventually "a second task is accepted" 1 'task_id hog | wc -l'
hid=$(task_id hog)
eventually "the hog is stopped" STOPPED "status_of $hid"
eq "its stop reason is the OOM kill (memory.events)" yes "$(berth inspect "$hid" | grep -q 'OutOfMemoryError' && echo yes)"

# kill -9 of berthd: the task is re-adopted, not restarted
kill -9 $berthd_pid
wait $berthd_pid 2>/dev/null
start_berthd
eventually "berthd is back" 0 'berth ps >/dev/null; echo $?'
eventually "the task is RUNNING after the restart" RUNNING "status_of $tid"
eq "the same container process (re-adopted)" "$pid" "$(berth inspect "$tid" | json_num pid)"
eq "it was started once" 1 "$(wc -l <$starts)"
eq "the restarted berthd took the same root" 2 "$(grep -c "berth's root /berthd.service\$" /var/log/berthd.log)"

# stop: everything of the task goes, its cgroups included
rm /etc/berth/tasks.d/web.json
eventually "removing the task file stops the task" STOPPED "status_of $tid"
eventually "its cgroups are removed" absent "[ -e $CG/berthd.service/berth/task-$tid ] && echo present || echo absent"
eventually "and the hog's" absent "[ -e $CG/berthd.service/berth/task-$hid ] && echo present || echo absent"
kill $berthd_pid
wait $berthd_pid 2>/dev/null
eq "berthd stops on SIGTERM" 1 "$(grep -c 'stopping berthd' /var/log/berthd.log)"
[ $fails = 0 ] || bail_out

# a lab network: ipvlan on an uplink (a dummy NIC here), through `berth network`
ip link add up0 type dummy && ip link set up0 up
NET="berth network --set NET_MODE=ipvlan --set NET_HOST_NIC=up0 --set NET_NAME=lab --set NET_NFT_TABLE=lab \
  --set NET_POOLS=192.168.7.0/24,gateway=192.168.7.1,range=192.168.7.100-192.168.7.199 \
  --set NET_NETNS_DIR=/run/lab/netns --set NET_FILES_DIR=/run/lab/files --set NET_STATE_DIR=/var/lib/lab"
out=$($NET create vlan1 2>&1)
eq "an ipvlan task network is created" 0 $?
ns=$(echo "$out" | json_str netns)
eq "eth0 has the first address of the range" 192.168.7.100 \
  "$(nsenter --net="$ns" ip -4 addr show eth0 | sed -n 's/.*inet \([0-9.]*\).*/\1/p')"
eq "ipvlan: eth0 shares the uplink's MAC address" "$(cat /sys/class/net/up0/address)" \
  "$(nsenter --net="$ns" ip link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')"
eq "the default route goes to the lab gateway" "default via 192.168.7.1 dev eth0" \
  "$(nsenter --net="$ns" ip route | grep '^default' | sed 's/ *$//')"
eq "the metadata address is a blackhole" "blackhole 169.254.169.254" \
  "$(nsenter --net="$ns" ip route | grep '^blackhole' | sed 's/ *$//')"
$NET delete vlan1 >/dev/null 2>&1
eq "delete removes the namespace" 0 "$(ls /run/lab/netns | wc -l)"
eq "and the lease" 0 "$(find /var/lib/lab -name '192.168.7.*' | wc -l)"

echo "1..$n"
[ $fails = 0 ]
