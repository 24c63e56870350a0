#!/usr/bin/env bash
# The six kinds of hooks: order, the state on stdin (status and pid), where they run
# (runtime or container namespaces), timeouts, failures (fatal before start; warnings after),
# and that hooks come from config.json as it was at create.
. "$(dirname "$0")/lib.sh"

log=$WORK/hooks.log
: >"$log"
# A hook on the host: records its kind, the status and pid from stdin, and its mount ns.
cat >"$WORK/hook.sh" <<EOF2
#!/bin/sh
st=\$(cat)
status=\$(echo "\$st" | sed -n 's/.*"status":"\\([a-z]*\\)".*/\\1/p')
pid=\$(echo "\$st" | sed -n 's/.*"pid":\\([0-9]*\\).*/\\1/p')
id=\$(echo "\$st" | sed -n 's/.*"id":"\\([^"]*\\)".*/\\1/p')
echo "\$1 \$status \$([ "\$pid" -gt 0 ] 2>/dev/null && echo pid || echo nopid) \$id \$(readlink /proc/self/ns/mnt)" >>"$log"
EOF2
chmod +x "$WORK/hook.sh"
hostns=$(readlink /proc/self/ns/mnt)
# startContainer runs inside the container: its path resolves there, so it is the image's
# shell, writing through a bind of the log's directory.
mkdir -p "$WORK/shared"
b=$(mkbundle hooks '.hooks={
    "prestart":[{"path":$h,"args":["hook","prestart"]}],
    "createRuntime":[{"path":$h,"args":["hook","createRuntime"]}],
    "createContainer":[{"path":$h,"args":["hook","createContainer"]}],
    "startContainer":[{"path":"/bin/sh","args":["sh","-c","cat >/shared/start.json; echo startContainer $(readlink /proc/self/ns/mnt) >>/shared/start.log"]}],
    "poststart":[{"path":$h,"args":["hook","poststart"]},{"path":"/bin/false"},{"path":$h,"args":["hook","poststart2"]}],
    "poststop":[{"path":"/bin/false"},{"path":$h,"args":["hook","poststop"]}]}
  | .mounts+=[{"destination":"/shared","type":"bind","source":$shared,"options":["bind"]}]
  | .process.args=["/bin/sleep","1000"]' --arg h "$WORK/hook.sh" --arg shared "$WORK/shared")
id=hk-$ID_PREFIX
(cd "$b" && rt create "$id" </dev/null >/dev/null 2>&1)
cpid=$(rt state "$id" | jq -r .pid)
cns=$(readlink /proc/$cpid/ns/mnt)
# The bundle's config changes after create: the hooks of create time still run.
jq '.hooks.poststop=[{"path":"/bin/true"}]' "$b/config.json" >"$b/c" && mv "$b/c" "$b/config.json"
rt start "$id" 2>"$WORK/start.err"
rt delete --force "$id" 2>"$WORK/delete.err"

expect_eq "hooks run in order, with the state on stdin" \
  "prestart created pid $id
createRuntime created pid $id
createContainer created pid $id
poststart running pid $id
poststart2 running pid $id
poststop stopped nopid $id" "$(cut -d' ' -f1-4 "$log")"
expect_eq "prestart and createRuntime run in the runtime's mount namespace" "$hostns $hostns" "$(sed -n '1p;2p' "$log" | cut -d' ' -f5 | tr '\n' ' ' | sed 's/ $//')"
expect_eq "createContainer runs in the container's mount namespace" "$cns" "$(sed -n 3p "$log" | cut -d' ' -f5)"
expect_eq "startContainer runs in the container, its path resolved there" "startContainer $cns" "$(cat "$WORK/shared/start.log")"
expect_eq "startContainer gets the state on stdin" "created $cpid" "$(jq -r '"\(.status) \(.pid)"' "$WORK/shared/start.json")"
expect_match "a failing poststart hook is a warning, and start succeeds" "warning: poststart hook ./bin/false.: exited with status 1" "$(cat "$WORK/start.err")"
expect_match "a failing poststop hook is a warning, and delete succeeds" "warning: poststop hook ./bin/false.: exited with status 1" "$(cat "$WORK/delete.err")"
check "... and the container is gone" test ! -e "$STATE/$id"

# A hook past its timeout is killed and create fails, leaving nothing.
bt=$(mkbundle timeout '.hooks={"createRuntime":[{"path":"/bin/sleep","args":["sleep","30"],"timeout":1}]} | .process.args=["/bin/true"]')
start=$(date +%s)
! (cd "$bt" && rt create "to-$ID_PREFIX" </dev/null >/dev/null 2>"$WORK/err")
expect_match "a hook past its timeout fails create" "createRuntime hook ./bin/sleep.: timed out after 1 s" "$(cat "$WORK/err")"
check "... without waiting for it" test $(($(date +%s) - start)) -lt 20
check "... and leaves nothing" test ! -e "$STATE/to-$ID_PREFIX"
expect_eq "... not even a sleeping hook" "" "$(pgrep -f 'sleep 30' -P 1 || true)"
finish
