#!/usr/bin/env bash
# exec into a running container: same namespaces, cgroup, seccomp and capabilities as its
# first process; args, --env, --cwd, --user, --process; exit codes; --detach; errors. And
# terminals: a pty handed to --console-socket, for create and for exec --tty.
. "$(dirname "$0")/lib.sh"

b=$(mkbundle sleeper '.process.args=["/bin/sleep","1000"] | .process.env+=["FOO=container"]')
id=ex-$ID_PREFIX
(cd "$b" && rt create "$id" </dev/null >/dev/null 2>&1)
! rt exec "$id" /bin/true 2>"$WORK/err"
expect_match "exec in a created container fails" "exec needs a running container" "$(cat "$WORK/err")"
rt start "$id"
pid=$(rt state "$id" | jq -r .pid)

out=$(rt exec "$id" /bin/sh -c 'for n in pid mnt net uts ipc cgroup; do readlink /proc/self/ns/$n; done' </dev/null)
want=$(for n in pid mnt net uts ipc cgroup; do readlink /proc/$pid/ns/$n; done)
expect_eq "exec joins every namespace of the container" "$want" "$out"
out=$(rt exec "$id" /bin/sh -c 'grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status | cut -f2 | tr "\n" " "' </dev/null)
expect_eq "exec gets the container's capabilities, no_new_privs and seccomp" "00000000a80425fb 00000000a80425fb 1 2 " "$out"
rc=0
rt exec "$id" /bin/sh -c 'exit 7' </dev/null || rc=$?
expect_eq "exec: the exit code passes through" 7 "$rc"
out=$(rt exec --env FOO=exec --env BAR=1 --cwd /tmp --user 1000:1000 "$id" /bin/sh -c 'echo $FOO $BAR $(pwd) $(id -u):$(id -g)' </dev/null)
expect_eq "exec --env (replace and add), --cwd, --user" "exec 1 /tmp 1000:1000" "$out"
cat >"$WORK/proc.json" <<'P'
{"args":["/bin/sh","-c","echo from-process-json $HOME; exit 4"],"cwd":"/","env":["HOME=/root"],"user":{"uid":0,"gid":0}}
P
rc=0
out=$(rt exec --process "$WORK/proc.json" "$id" </dev/null) || rc=$?
expect_eq "exec --process" "from-process-json /root 4" "$out $rc"
! rt exec "$id" /nonexistent 2>"$WORK/err"
expect_match "exec of a missing program fails with the reason" "/nonexistent" "$(cat "$WORK/err")"
rt exec --detach --pid-file "$WORK/exec.pid" "$id" /bin/sleep 1000 </dev/null >/dev/null 2>&1
epid=$(cat "$WORK/exec.pid")
check "exec --detach leaves the process running" kill -0 "$epid"
expect_eq "... in the container's pid namespace" "$(readlink /proc/$pid/ns/pid)" "$(readlink /proc/$epid/ns/pid)"
expect_eq "... and in its cgroup" "$(cat /proc/$pid/cgroup)" "$(cat /proc/$epid/cgroup)"
rt delete --force "$id"
check "delete --force kills exec'd processes too" bash -c "! grep -qv '^[^)]*) [ZX]' /proc/$epid/stat 2>/dev/null"

# Terminals through --console-socket.
sock=$WORK/console.sock
python3 "$(dirname "$0")/consock.py" "$sock" "$WORK/tty.out" >"$WORK/consock.log" &
cpid=$!
echo $cpid >>"$WORK/pids"
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
bt=$(mkbundle tty '.process.terminal=true | .process.consoleSize={"height":30,"width":100}
  | .process.args=["/bin/sh","-c","tty; stty size; test -t 0 && echo stdin-is-a-tty; ls -l /dev/console | cut -c1"]')
id=tty-$ID_PREFIX
(cd "$bt" && rt create --console-socket "$sock" "$id" </dev/null >/dev/null 2>"$WORK/err") || cat "$WORK/err"
rt start "$id"
wait $cpid || true
out=$(tr -d '\r' <"$WORK/tty.out" | tr '\n' ' ')
expect_eq "the terminal reaches the console socket; size, controlling tty, /dev/console" "/dev/pts/0 30 100 stdin-is-a-tty c " "$out"
expect_match "the console socket gets the pty's name" '^/dev/pts/[0-9]+$' "$(cat "$WORK/tty.out.name")"
rt delete --force "$id" 2>/dev/null || true

id=exectty-$ID_PREFIX
(cd "$b" && rt create "$id" </dev/null >/dev/null 2>&1)
rt start "$id"
rm -f "$sock"
python3 "$(dirname "$0")/consock.py" "$sock" "$WORK/tty2.out" >"$WORK/consock2.log" &
cpid=$!
echo $cpid >>"$WORK/pids"
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
rc=0
rt exec --tty --console-socket "$sock" "$id" /bin/sh -c 'test -t 1 && echo exec-tty; exit 3' </dev/null || rc=$?
wait $cpid || true
expect_eq "exec --tty --console-socket: a terminal, and the exit code" "exec-tty 3" "$(tr -d '\r\n' <"$WORK/tty2.out") $rc"
rt delete --force "$id"

# run in the foreground with a terminal and no console socket: the runtime relays it.
br=$(mkbundle relay '.process.terminal=true | .process.args=["/bin/sh","-c","test -t 0 && echo relayed-tty; exit 5"]')
rc=0
out=$(cd "$br" && rt run "relay-$ID_PREFIX" </dev/null 2>&1 | tr -d '\r') || rc=$?
expect_eq "run relays a terminal on its own stdio, and the exit code" "relayed-tty 5" "$out $rc"
# Its process exits but leaves a writer on the terminal (no pid namespace to end it): the
# relay stops anyway, and run's delete ends the writer.
br=$(mkbundle relay-bg '.process.terminal=true | .linux.namespaces|=map(select(.type!="pid"))
  | .process.args=["/bin/sh","-c","(trap \"\" HUP; exec cat /dev/zero) & exit 6"]')
rc=0
(cd "$br" && rt run "relaybg-$ID_PREFIX" </dev/null >/dev/null 2>&1) || rc=$?
expect_eq "run with a terminal returns when its process exits, though another keeps writing" 6 "$rc"
expect_eq "... and nothing of it is left" "" "$(rt list -q)"
finish
