#!/usr/bin/env bash
# Namespaces and process settings beyond the defaults: a user namespace with mappings, a
# time namespace with offsets, namespaces joined by path, domainname, sysctl, oomScoreAdj,
# personality, scheduler and I/O priority.
. "$(dirname "$0")/lib.sh"

# The inode of the user namespace that owns each of a process's namespaces (NS_GET_USERNS).
nsprobe=${BERTH_NSOWNER_PROBE:?the nsowner-probe helper}
owners() { # PID
  local ns
  for ns in mnt pid ipc uts net cgroup time; do "$nsprobe" /proc/$1/ns/$ns; done | tr '\n' ' '
}

# User namespace: root inside is 100000 outside; devices are the host's, bound. The mapped
# root must be able to reach the rootfs: the work directory is 0700 by default. With a time
# namespace, which the child makes in the new user namespace itself.
chmod 755 "$WORK"
b=$(mkbundle userns '.linux.namespaces+=[{"type":"user"},{"type":"time"}] | .linux.timeOffsets={"boottime":{"secs":1000000}}
  | .linux.uidMappings=[{"containerID":0,"hostID":100000,"size":65536}] | .linux.gidMappings=.linux.uidMappings
  | .process.args=["/bin/sh","-c","id -u; cat /proc/self/uid_map | tr -s \" \" | sed \"s/^ //\"; echo x >/dev/null && echo devnull-ok"]')
out=$(cd "$b" && rt run "u-$ID_PREFIX" </dev/null 2>&1 | tr '\n' ' ') || true
expect_eq "user namespace: root inside, mapped outside, host devices bound" "0 0 100000 65536 devnull-ok " "$out"
jq '.process.args=["/bin/sleep","1000"]' "$b/config.json" >"$b/c" && mv "$b/c" "$b/config.json"
(cd "$b" && rt run --detach "ux-$ID_PREFIX" </dev/null >/dev/null 2>&1)
upid=$(rt state "ux-$ID_PREFIX" | jq -r .pid)
expect_eq "exec joins the user namespace" "$(readlink /proc/$upid/ns/user) 0" "$(rt exec "ux-$ID_PREFIX" /bin/sh -c 'echo $(readlink /proc/self/ns/user) $(id -u)' </dev/null)"
uino=$(stat -L -c %i /proc/$upid/ns/user)
expect_eq "a new user namespace owns the container's mount, pid, ipc, uts, network, cgroup and time namespaces" \
  "$uino $uino $uino $uino $uino $uino $uino " "$(owners "$upid")"
up=$(cut -d. -f1 /proc/uptime)
cup=$(rt exec "ux-$ID_PREFIX" /bin/sh -c 'cut -d. -f1 /proc/uptime' </dev/null 2>&1) || true
check "... the time namespace with its boottime offset ($up -> $cup)" test "$cup" -ge $((up + 1000000)) -a "$cup" -lt $((up + 1000000 + 600))
rt delete --force "ux-$ID_PREFIX"

# A user namespace joined by path owns the container's new namespaces (a new pid namespace
# included: the runtime forks once more inside it). Its mappings are the holder's: the runtime
# writes none (mappings given with a path are refused).
unshare --user sleep 1000 &
uholder=$!
disown $uholder
echo $uholder >>"$WORK/pids"
for _ in $(seq 50); do [ "$(readlink /proc/$uholder/ns/user)" != "$(readlink /proc/self/ns/user)" ] && break; sleep 0.05; done
echo "0 100000 65536" >/proc/$uholder/uid_map
echo "0 200000 65536" >/proc/$uholder/gid_map
b=$(mkbundle joinuser '.linux.namespaces+=[{"type":"user","path":$u},{"type":"time"}] | .linux.timeOffsets={"boottime":{"secs":1000000}}
  | .process.args=["/bin/sh","-c","readlink /proc/self/ns/user; echo $$ $(id -u); readlink /proc/self/ns/pid; cat /proc/self/uid_map /proc/self/gid_map | tr -s \" \" | sed \"s/^ //\""]' \
  --arg u "/proc/$uholder/ns/user")
out=$(cd "$b" && rt run "ju-$ID_PREFIX" </dev/null 2>&1 | tr '\n' ' ') || true
set -- $out
expect_eq "a user namespace joined by path, with new namespaces under it: pid 1, root" "$(readlink /proc/$uholder/ns/user) 1 0" "${1:-} ${2:-} ${3:-}"
check "... in a pid namespace of its own" test "${4:-}" != "$(readlink /proc/self/ns/pid)"
expect_eq "... with the holder's mappings, seen from inside" "0 100000 65536 0 200000 65536" "${*:5}"
# Every new namespace is owned by the joined user namespace (NS_GET_USERNS), checked on a
# running container and on a process exec'd into it.
jq '.process.args=["/bin/sleep","1000"]' "$b/config.json" >"$b/c" && mv "$b/c" "$b/config.json"
(cd "$b" && rt run --detach "jud-$ID_PREFIX" </dev/null >/dev/null 2>&1) || true
jpid=$(rt state "jud-$ID_PREFIX" | jq -r .pid)
uino=$(stat -L -c %i /proc/$uholder/ns/user)
expect_eq "mount, pid, ipc, uts, network, cgroup and time namespaces owned by the joined user namespace" \
  "$uino $uino $uino $uino $uino $uino $uino " "$(owners "$jpid")"
check "... all of them new" test "$(readlink /proc/$jpid/ns/mnt) $(readlink /proc/$jpid/ns/net) $(readlink /proc/$jpid/ns/time)" != "$(readlink /proc/self/ns/mnt) $(readlink /proc/self/ns/net) $(readlink /proc/self/ns/time)"
up=$(cut -d. -f1 /proc/uptime)
cup=$(rt exec "jud-$ID_PREFIX" /bin/sh -c 'cut -d. -f1 /proc/uptime' </dev/null 2>&1) || true
check "... the time namespace with its boottime offset ($up -> $cup)" test "$cup" -ge $((up + 1000000)) -a "$cup" -lt $((up + 1000000 + 600))
rt exec --detach --pid-file "$WORK/jud-exec.pid" "jud-$ID_PREFIX" /bin/sleep 1000 </dev/null >/dev/null 2>&1 || true
epid=$(cat "$WORK/jud-exec.pid" 2>/dev/null || echo 0)
expect_eq "exec joins the container's user namespace and the namespaces it owns" \
  "$(readlink /proc/$jpid/ns/user) $(owners "$jpid")" "$(readlink /proc/$epid/ns/user 2>/dev/null) $(owners "$epid" 2>/dev/null)"
expect_eq "exec'd process root in it" "0 100000" "$(rt exec "jud-$ID_PREFIX" /bin/sh -c 'echo $(id -u) $(grep "^ *0" /proc/self/uid_map | tr -s " " | cut -d" " -f3)' </dev/null 2>&1)"
rt delete --force "jud-$ID_PREFIX"
b=$(mkbundle joinuser-maps '.linux.namespaces+=[{"type":"user","path":$u}] | .linux.uidMappings=[{"containerID":0,"hostID":100000,"size":65536}]' \
  --arg u "/proc/$uholder/ns/user")
out=$(cd "$b" && rt create "jum-$ID_PREFIX" </dev/null 2>&1) && fail "mappings with a user namespace joined by path refused" \
  || expect_match "mappings with a user namespace joined by path refused" 'linux.uidMappings: mappings cannot be set for a user namespace joined by path' "$out"
check "... and the holder's mappings untouched" test "$(tr -s ' ' </proc/$uholder/uid_map | sed 's/^ //')" = "0 100000 65536"
expect_eq "... and no state left" "" "$(rt list -q | grep jum- || true)"

# Time namespace with offsets.
up=$(cut -d. -f1 /proc/uptime)
b=$(mkbundle time '.linux.namespaces+=[{"type":"time"}] | .linux.timeOffsets={"boottime":{"secs":1000000}}
  | .process.args=["/bin/sh","-c","cut -d. -f1 /proc/uptime"]')
out=$(cd "$b" && rt run "t-$ID_PREFIX" </dev/null 2>&1) || true
check "time namespace: boottime offset applied ($up -> $out)" test "$out" -ge $((up + 1000000)) -a "$out" -lt $((up + 1000000 + 600))

# Joining namespaces by path: a sleeper holds a network and uts namespace.
unshare --net --uts sleep 1000 &
holder=$!
disown $holder
echo $holder >>"$WORK/pids"
for _ in $(seq 50); do [ "$(readlink /proc/$holder/ns/net)" != "$(readlink /proc/self/ns/net)" ] && break; sleep 0.05; done
b=$(mkbundle join '(.linux.namespaces[] | select(.type=="network")) += {"path":$net}
  | (.linux.namespaces[] | select(.type=="uts")) += {"path":$uts} | del(.hostname)
  | .process.args=["/bin/sh","-c","readlink /proc/self/ns/net; readlink /proc/self/ns/uts"]' \
  --arg net "/proc/$holder/ns/net" --arg uts "/proc/$holder/ns/uts")
out=$(cd "$b" && rt run "j-$ID_PREFIX" </dev/null 2>&1 | tr '\n' ' ') || true
expect_eq "network and uts namespaces joined by path" "$(readlink /proc/$holder/ns/net) $(readlink /proc/$holder/ns/uts) " "$out"

# domainname, sysctl in the container's namespaces, oomScoreAdj, personality, scheduler, ioprio.
b=$(mkbundle misc '.domainname="berth.example" | .linux.sysctl={"net.ipv4.ip_forward":"1","kernel.shmmax":"4096"}
  | .process.oomScoreAdj=500 | .linux.personality={"domain":"LINUX32"}
  | .process.scheduler={"policy":"SCHED_BATCH","nice":5} | .process.ioPriority={"class":"IOPRIO_CLASS_IDLE","priority":7}
  | .process.args=["/bin/sh","-c","cat /proc/sys/kernel/domainname /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax /proc/self/oom_score_adj; uname -m; cut -d\" \" -f19,41 /proc/self/stat"]')
out=$(cd "$b" && rt run "m-$ID_PREFIX" </dev/null 2>&1 | tr '\n' ' ') || true
expect_eq "domainname, namespaced sysctls, oomScoreAdj, LINUX32, SCHED_BATCH nice 5" "berth.example 1 4096 500 i686 5 3 " "$out"
check "... and the host's kernel.shmmax is untouched" test "$(cat /proc/sys/kernel/shmmax)" != 4096
# No mount namespace: the container shares the host's; it gets its root with chroot (pivot_root
# would move the host's), its mounts are made on the host and removed again by delete.
b=$(mkbundle shared '.linux.namespaces=[{"type":"pid"}] | del(.hostname) | .root.readonly=false
  | .process.args=["/bin/sh","-c","readlink /proc/self/ns/mnt; test -x /bin/busybox && echo busybox-root; sleep 1000"]')
id=sh-$ID_PREFIX
(cd "$b" && rt create "$id" </dev/null >"$WORK/shared.out" 2>&1)
check "without a mount namespace the container's mounts are on the host" grep -q " $ROOTFS/proc " /proc/self/mountinfo
rt start "$id"
expect_eq "exec enters the chroot too" busybox-root "$(rt exec "$id" /bin/sh -c 'test -x /bin/busybox && echo busybox-root' </dev/null)"
rt delete --force "$id"
expect_eq "the container shared the host's mount namespace, in its own root" "$(readlink /proc/self/ns/mnt) busybox-root" "$(head -2 "$WORK/shared.out" | tr '\n' ' ' | sed 's/ $//')"
expect_eq "delete removes every mount it made on the host" "" "$(grep -F " $ROOTFS/" /proc/self/mountinfo || true)"
# A create that fails after its first mounts leaves none of them.
b=$(mkbundle shared-bad '.linux.namespaces=[] | del(.hostname) | .root.readonly=false | .process.args=["/nonexistent"]')
! (cd "$b" && rt create "shb-$ID_PREFIX" </dev/null >/dev/null 2>&1)
expect_eq "a failed create removes the mounts it made on the host" "" "$(grep -F " $ROOTFS/" /proc/self/mountinfo || true)"
finish
