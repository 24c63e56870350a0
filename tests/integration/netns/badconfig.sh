#!/usr/bin/env bash
# Bad configuration and bad task settings fail with an error that names the setting, before
# anything is built: no bridge, no nftables table, no directory, no lease, no namespace.
. "$(dirname "$0")/lib.sh"

nothing_built() {
  ! ip link show berth0 >/dev/null 2>&1 || fail "$1: bridge created"
  ! nft list table inet berth >/dev/null 2>&1 || fail "$1: nftables table created"
  [ ! -e "$T/state" ] && [ ! -e "$T/netns" ] && [ ! -e "$T/files" ] || fail "$1: directories created"
}

refused() { # WHAT EXPECTED-TEXT ENV...
  local what=$1 want=$2 out
  shift 2
  if out=$(env "$@" "$BERTH" network --config /dev/null list 2>&1); then
    fail "$what: accepted"
  fi
  grep -qF "$want" <<<"$out" || fail "$what: unclear error: $out"
  nothing_built "$what"
  say "$what: $out"
}

refused "overlapping pools" "pools 10.88.0.0/16 and 10.88.7.0/24 overlap" \
  BERTH_NET_POOLS="10.88.0.0/16 10.88.7.0/24"
refused "missing host NIC" "NET_HOST_NIC: no interface \`eth77\` on this host" \
  BERTH_NET_MODE=macvlan BERTH_NET_HOST_NIC=eth77
refused "NIC for a bridge" "NET_HOST_NIC: only used with NET_MODE=ipvlan or macvlan" \
  BERTH_NET_HOST_NIC=lo
refused "unknown key" "unknown setting \`NET_POOL\`" BERTH_NET_POOL=10.0.0.0/8
refused "bad mode" "NET_MODE: \`vxlan\` is not one of" BERTH_NET_MODE=vxlan

ip link add clash0 type veth peer name clash1
ip addr add 10.88.5.1/24 dev clash0
refused "pool over a host address" "NET_POOLS: 10.88.0.0/16 overlaps 10.88.5.1/24 on host interface \`clash0\`" \
  BERTH_NET_POOLS=10.88.0.0/16
ip link del clash0

ip link add berth0 type veth peer name berth0p
out=$(bn list 2>&1) && fail "a veth named like the bridge was accepted"
grep -q 'NET_BRIDGE: `berth0` exists and is not a bridge' <<<"$out" || fail "unclear: $out"
ip link del berth0
nothing_built "non-bridge link named like the bridge"

say "existing non-bridge link: refused"

# Task settings: refused before the task has anything.
export BERTH_NET_POOLS=10.66.0.0/30 # a single task address
bn list >/dev/null
for args in "bad/id" "ok --hostname bad_name" "ok --dns not-an-ip" "ok --add-host x:300.1.1.1" \
  "ok --mode host --reach-tasks" "ok --mode none --reach-tasks" "ok --mode bogus"; do
  # shellcheck disable=SC2086
  out=$(bn create $args 2>&1) && fail "accepted: $args"
  [ -z "$(ls -A "$T/state/berth/tasks")" ] || fail "$args: record left"
  [ -z "$(ls -A "$T/netns")" ] || fail "$args: netns left"
  say "refused: $args: $out"
done

out=$("$BERTH" network --config /dev/null --stop-at recrod create ok 2>&1) &&
  fail "--stop-at with a step that does not exist was accepted"
grep -q '`recrod`: not a setup step' <<<"$out" || fail "unclear: $out"
[ -z "$(ls -A "$T/state/berth/tasks")" ] || fail "--stop-at recrod: record left"
say "refused: --stop-at recrod: $out"

bn create t1 >/dev/null
out=$(bn create t2 2>&1) && fail "exhausted pool accepted a task"
grep -q 'pool 10.66.0.0/30 is exhausted: all of its 1 addresses are leased' <<<"$out" ||
  fail "unclear: $out"
[ ! -e "$T/state/berth/tasks/t2.json" ] && [ ! -e "$T/netns/t2" ] && [ ! -e "$T/files/t2" ] ||
  fail "t2 half-built"
out=$(bn create t1 2>&1) && fail "a second network for t1 accepted"
grep -q 'task `t1` already has a network' <<<"$out" || fail "unclear: $out"
must_ping t1 10.66.0.1
say "exhausted pool and duplicate task: refused, t1 untouched"
bn delete t1
wait_links_gone
assert_clean
say "ok"
