#!/usr/bin/env bash
# The OCI lifecycle through the command line: create, state, start, kill, delete and run;
# exit codes and signals passed through; and the races (delete while running, kill after
# exit, two deletes at once). After each delete nothing is left: no state, cgroup, process.
. "$(dirname "$0")/lib.sh"

status_of() { rt state "$1" 2>/dev/null | jq -r .status; }
pid_of() { rt state "$1" | jq -r .pid; }
gone() { # ID : no state directory, no cgroup
  [ ! -e "$STATE/$1" ] && [ -z "$(cgroup_dirs_of "$1")" ]
}
wait_status() { # ID STATUS : polls until the kernel says so (the process is signalled async)
  for _ in $(seq 200); do [ "$(status_of "$1")" = "$2" ] && return 0; sleep 0.05; done
  return 1
}

b=$(mkbundle sleeper '.process.args=["/bin/sleep","1000"]')
id=life-$ID_PREFIX
(cd "$b" && rt create --pid-file "$WORK/pid" "$id" </dev/null >"$WORK/out" 2>&1)
expect_eq "create: status created" created "$(status_of "$id")"
expect_eq "create: --pid-file holds the state's pid" "$(pid_of "$id")" "$(cat "$WORK/pid")"
state=$(rt state "$id")
expect_eq "state: ociVersion, id, bundle" "1.2.0 $id $b" "$(jq -r '"\(.ociVersion) \(.id) \(.bundle)"' <<<"$state")"
check "list shows the container" grep -qx "$id" <(rt list -q)
expect_eq "list --format json" "$id" "$(rt list --format json | jq -r '.[0].id')"
rt start "$id"
expect_eq "start: status running" running "$(status_of "$id")"
check "start twice fails" bash -c "! $RT_BIN --root $STATE start $id 2>/dev/null"
(cd "$b" && ! rt create "$id" </dev/null >/dev/null 2>"$WORK/err")
expect_match "create with a used id fails" "already exists" "$(cat "$WORK/err")"
expect_eq "... and the first container still runs" running "$(status_of "$id")"
! rt delete "$id" 2>"$WORK/err"
expect_match "delete while running fails" "is running" "$(cat "$WORK/err")"
expect_eq "... and leaves it running" running "$(status_of "$id")"
rt kill "$id" KILL
check "kill: the process exits" wait_status "$id" stopped
! rt kill "$id" TERM 2>"$WORK/err"
expect_match "kill after exit fails" "stopped.*cannot be signalled" "$(cat "$WORK/err")"
rt delete "$id"
check "delete: nothing left" gone "$id"
! rt state "$id" 2>/dev/null
ok "state of a deleted container fails"

# delete --force on a running and on a created container.
for st in created running; do
  id=force-$st-$ID_PREFIX
  (cd "$b" && rt create "$id" </dev/null >/dev/null 2>&1)
  [ "$st" = running ] && rt start "$id"
  pid=$(pid_of "$id")
  rt delete --force "$id"
  check "delete --force of a $st container: nothing left" gone "$id"
  # Gone, or a zombie until whatever it was re-parented to reaps it.
  check "... and its process is gone" bash -c "! grep -qv '^[^)]*) [ZX]' /proc/$pid/stat 2>/dev/null"
done

# Two deletes at once: both return, one of them deletes, and nothing is left.
id=race-$ID_PREFIX
(cd "$b" && rt create "$id" </dev/null >/dev/null 2>&1)
rt start "$id"
rt delete --force "$id" 2>"$WORK/e1" &
p1=$!
rt delete --force "$id" 2>"$WORK/e2" &
p2=$!
r1=0 r2=0
wait $p1 || r1=$?
wait $p2 || r2=$?
check "two deletes at once: one succeeds" test $((r1 == 0 || r2 == 0)) = 1
expect_eq "... the other reports it gone, or succeeds too" "" "$(cat "$WORK/e1" "$WORK/e2" | grep -v 'does not exist' || true)"
check "... and nothing is left" gone "$id"

# Delete while the process exits on its own.
id=exiting-$ID_PREFIX
b2=$(mkbundle short '.process.args=["/bin/sh","-c","sleep 0.2"]')
(cd "$b2" && rt create "$id" </dev/null >/dev/null 2>&1)
rt start "$id"
wait_status "$id" stopped
rt delete "$id"
check "delete after the process exited by itself" gone "$id"

# run: exit codes and signals pass through.
b3=$(mkbundle exit42 '.process.args=["/bin/sh","-c","exit 42"]')
rc=0
(cd "$b3" && rt run "x42-$ID_PREFIX" </dev/null >/dev/null 2>&1) || rc=$?
expect_eq "run: exit status passes through" 42 "$rc"
check "run: deletes the container when it exits" gone "x42-$ID_PREFIX"
(cd "$b" && exec "$RT_BIN" --root "$STATE" run "sig-$ID_PREFIX" </dev/null >/dev/null 2>&1) &
runpid=$!
wait_status "sig-$ID_PREFIX" running
rt kill "sig-$ID_PREFIX" KILL
rc=0
wait $runpid || rc=$?
expect_eq "run: a process killed by SIGKILL gives 137" 137 "$rc"
b4=$(mkbundle trap '.process.args=["/bin/sh","-c","trap \"exit 3\" TERM; sleep 1000 & wait"]')
(cd "$b4" && exec "$RT_BIN" --root "$STATE" run "fwd-$ID_PREFIX" </dev/null >/dev/null 2>&1) &
runpid=$!
wait_status "fwd-$ID_PREFIX" running
sleep 0.3 # the trap is set once sh runs; the status says running from execve on
kill -TERM $runpid
rc=0
wait $runpid || rc=$?
expect_eq "run: SIGTERM to berth-runtime is forwarded to the container" 3 "$rc"
check "... and the container is deleted" gone "fwd-$ID_PREFIX"

# A long exec does not hold up delete --force.
id=lexec-$ID_PREFIX
(cd "$b" && rt create "$id" </dev/null >/dev/null 2>&1)
rt start "$id"
"$RT_BIN" --root "$STATE" exec "$id" /bin/sleep 1000 </dev/null >/dev/null 2>&1 &
execpid=$!
for _ in $(seq 100); do [ "$(rt ps "$id" 2>/dev/null | tail -n +2 | wc -l)" -ge 2 ] && break; sleep 0.05; done
timeout 30 "$RT_BIN" --root "$STATE" delete --force "$id"
rc=0
wait $execpid || rc=$?
expect_eq "delete --force while an exec runs: the exec'd process is killed" 137 "$rc"
check "... and the container is gone" gone "$id"

# run --detach.
(cd "$b" && rt run --detach "det-$ID_PREFIX" </dev/null >/dev/null 2>&1)
expect_eq "run --detach: running" running "$(status_of "det-$ID_PREFIX")"
rt delete --force "det-$ID_PREFIX"

expect_eq "state root is empty at the end" "" "$(ls "$STATE")"
finish
