#!/usr/bin/env bash
# kill -9 during setup, at every step, then reconcile: nothing of the killed setup is left
# (link, namespace, lease, record, files, firewall set element), and a live task keeps all of
# its network. Also: leases reconcile frees and the ones it must never free.
. "$(dirname "$0")/lib.sh"

wait_stopped() { # PID
  local i s
  for ((i = 0; i < 3000; i++)); do
    s=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || fail "berth exited before stopping"
    [ "$s" = T ] && return 0
    sleep 0.01
  done
  fail "berth never reached its stop point"
}

only_keep_left() {
  local links leases keep_addr
  keep_addr=$(field keep address)
  links=$(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep '^bth' || true)
  [ "$links" = "$(field keep hostIfname)" ] || fail "links left: $links"
  [ "$(ls "$T/netns")" = keep ] || fail "netns left: $(ls "$T/netns")"
  [ "$(ls "$T/files")" = keep ] || fail "files left: $(ls "$T/files")"
  [ "$(ls -A "$T/state/berth/tasks")" = keep.json ] || fail "records left: $(ls -A "$T/state/berth/tasks")"
  leases=$(ls "$T/state/berth" | grep -v '^tasks$')
  [ "$leases" = "$keep_addr" ] || fail "leases left: $leases"
  [ "$(nft -j list set inet berth open_addrs | grep -o '"elem": \[[^]]*\]' || true)" = \
    "\"elem\": [\"$keep_addr\"]" ] || fail "open_addrs: $(nft list set inet berth open_addrs)"
  grep -c " $T/netns/" /proc/self/mountinfo | grep -qx 1 || fail "netns mounts left"
  must_ping keep "$(field keep gateway)"
}

for mode in bridge ptp; do
  export BERTH_NET_MODE=$mode
  bn create keep --reach-tasks >/dev/null
  for step in record lease netns link address firewall files ready; do
    "$BERTH" network --config /dev/null --stop-at "$step" create "k-$step" --reach-tasks \
      >/dev/null &
    pid=$!
    BG_PIDS+=("$pid")
    wait_stopped "$pid"
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
    [ -e "$T/state/berth/tasks/k-$step.json" ] || fail "$step: no record after the kill"
    out=$(bn reconcile --live keep)
    grep -q '"tasks":1' <<<"$out" || fail "$step: reconcile did not tear down one task: $out"
    only_keep_left
    say "$mode: killed at $step: reconcile left nothing"
  done

  # Leases: empty (creator killed between create and write) and dead tasks' are freed; a
  # lease whose task is live is kept even without a record.
  : >"$T/state/berth/10.88.200.1"
  echo gone-task >"$T/state/berth/10.88.200.2"
  echo live-task >"$T/state/berth/10.88.200.3"
  out=$(bn reconcile --live keep --live live-task)
  grep -q '"leases":2' <<<"$out" || fail "reconcile freed the wrong leases: $out"
  [ -e "$T/state/berth/10.88.200.3" ] || fail "a live task's lease was freed"
  rm "$T/state/berth/10.88.200.3"
  only_keep_left

  # A bound namespace and a file directory without a task; a link labelled for a dead task.
  touch "$T/netns/stray"
  unshare --net="$T/netns/stray" true
  mkdir "$T/files/stray"
  ip link add bthstray000001 type veth peer name bthstray000002
  ip link set bthstray000001 alias "berth:berth:stray"
  out=$(bn reconcile --live keep)
  grep -q '"netns":1' <<<"$out" || fail "stray netns: $out"
  grep -q '"files":1' <<<"$out" || fail "stray files: $out"
  grep -q '"links":1' <<<"$out" || fail "stray link: $out"
  only_keep_left
  say "$mode: stray namespace, files and labelled link reconciled"

  bn reconcile --all-dead >/dev/null
  assert_clean
done
say "ok"
