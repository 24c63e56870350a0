#!/usr/bin/env bash
# Containers and their cgroup: linux.resources applied and visible from inside through the
# "cgroup" mount and the cgroup namespace, the OOM killer at the memory limit, pids.max,
# pause/resume, ps, update, events, kill --all, and nothing left after delete.
. "$(dirname "$0")/lib.sh"

status_of() { rt state "$1" 2>/dev/null | jq -r .status; }

b=$(mkbundle limits '.linux.resources.memory={"limit":67108864} | .linux.resources.pids={"limit":32}
  | .process.args=["/bin/sh","-c","cat /proc/self/cgroup | sort | tr \"\\n\" \" \"; echo; ls /sys/fs/cgroup | tr \"\\n\" \" \"; echo; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max"]')
out=$(cd "$b" && rt run "lim-$ID_PREFIX" </dev/null 2>&1)
echo "$out" | sed 's/^/# /'
line() { printf '%s\n' "$out" | sed -n "${1}p"; }
check "the cgroup namespace makes the container's cgroup its root" \
  bash -c "! printf '%s' '$(line 1)' | tr ' ' '\n' | grep -v ':/\$' | grep -q ."
check "the cgroup mount shows the host's hierarchies" test -n "$(line 2)"
expect_eq "memory limit visible inside" 67108864 "$(line 3)"
expect_eq "pids limit visible inside" 32 "$(line 4)"

# The memory limit is enforced: the OOM killer ends a process that goes past it.
bo=$(mkbundle oom '.linux.resources.memory={"limit":33554432,"swap":33554432} | .process.args=["/bin/sh","-c","dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo rc=$?"]')
out=$(cd "$bo" && rt run "oom-$ID_PREFIX" </dev/null 2>&1) || true
expect_eq "a 64 MiB buffer under a 32 MiB limit is OOM-killed" "rc=137" "$out"
# pids.max is enforced.
bp=$(mkbundle pids '.linux.resources.pids={"limit":5} | .process.args=["/bin/sh","-c","for i in 1 2 3 4 5 6 7 8; do sleep 1 & done"]')
out=$(cd "$bp" && rt run "pids-$ID_PREFIX" </dev/null 2>&1) || true
expect_match "pids.max stops forks" "can.t fork|Resource temporarily unavailable" "$out"

# pause, resume, ps, update, events, kill --all.
bs=$(mkbundle sleeper '.linux.resources.pids={"limit":100} | .process.args=["/bin/sh","-c","sleep 1000 & sleep 1000 & wait"]')
id=cg-$ID_PREFIX
(cd "$bs" && rt create "$id" </dev/null >/dev/null 2>&1)
rt start "$id"
for _ in $(seq 50); do [ "$(rt ps "$id" | tail -n +2 | wc -l)" -ge 3 ] && break; sleep 0.05; done
expect_eq "ps lists the container's processes" 3 "$(rt ps "$id" | tail -n +2 | wc -l)"
expect_eq "ps --format json" 3 "$(rt ps --format json "$id" | jq length)"
rt pause "$id"
expect_eq "pause: status paused" paused "$(status_of "$id")"
# The v1 freezer or the v2 core freezer (which a hybrid host also has), whichever froze it.
frozen=THAWED
for d in $(cgroup_dirs_of "$id"); do
  if grep -qx FROZEN "$d/freezer.state" 2>/dev/null || grep -qx 'frozen 1' "$d/cgroup.events" 2>/dev/null; then
    frozen=FROZEN
  fi
done
expect_eq "pause: the cgroup is frozen" FROZEN "$frozen"
! rt pause "$id" 2>/dev/null
ok "pause of a paused container fails"
rt resume "$id"
expect_eq "resume: status running" running "$(status_of "$id")"
echo '{"pids":{"limit":50}}' | rt update --resources - "$id"
cgpids=$(find /sys/fs/cgroup/pids /sys/fs/cgroup -maxdepth 6 -type d -name "$id" -print -quit 2>/dev/null)
expect_eq "update --resources changes the live limit" 50 "$(cat "$cgpids/pids.max")"
ev=$(rt events --stats "$id")
expect_eq "events --stats: a stats event with pids" "stats 3" "$(jq -r '"\(.type) \(.data.pids.current)"' <<<"$ev")"
rt kill --all "$id" KILL
for _ in $(seq 100); do [ "$(status_of "$id")" = stopped ] && break; sleep 0.05; done
expect_eq "kill --all stops every process" "stopped 0" "$(status_of "$id") $(rt ps "$id" 2>/dev/null | tail -n +2 | wc -l)"
rt delete "$id"
expect_eq "delete removes the cgroup in every hierarchy" "" "$(cgroup_dirs_of "$id")"

# events without --stats: a stats event every interval, an oom event, and the end of the
# stream when the container's cgroup empties.
be=$(mkbundle events '.linux.resources.memory={"limit":33554432,"swap":33554432}
  | .process.args=["/bin/sh","-c","sleep 1.5; dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; sleep 1"]')
id=ev-$ID_PREFIX
(cd "$be" && rt run --detach "$id" </dev/null >/dev/null 2>&1)
timeout 60 "$RT_BIN" --root "$STATE" events --interval 500ms "$id" >"$WORK/events.out" || true
check "events: stats every interval" test "$(grep -c '"type":"stats"' "$WORK/events.out")" -ge 2
check "events: the OOM kill" grep -q '"type":"oom"' "$WORK/events.out"
ok "events: the stream ends when the container stops"
rt delete "$id"
finish
