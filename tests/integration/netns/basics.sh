#!/usr/bin/env bash
# Inside a task (bridge and ptp): eth0 with the leased address, default route, lo up, the DNS
# files as configured, the gateway reachable, the endpoint route and the metadata blackhole;
# host and none modes; teardown idempotent; the same task id set up again at once.
. "$(dirname "$0")/lib.sh"

check_task() { # TASK MODE
  local t=$1 mode=$2 addr gw prefix
  addr=$(field "$t" address)
  gw=$(field "$t" gateway)
  prefix=$(field "$t" prefixLength)
  [ -n "$addr" ] || fail "$t: no address"
  [ "$(field "$t" complete)" = true ] || fail "$t: not complete"
  [ -f "$T/state/berth/$addr" ] || fail "$t: no lease file for $addr"
  [ "$(cat "$T/state/berth/$addr")" = "$t" ] || fail "$t: lease does not name the task"
  in_task "$t" ip -4 -o addr show dev eth0 | grep -q "inet $addr/$prefix " ||
    fail "$t: eth0 lacks $addr/$prefix: $(in_task "$t" ip -4 -o addr)"
  in_task "$t" ip link show eth0 | grep -q 'state UP' || fail "$t: eth0 not up"
  in_task "$t" ip link show lo | grep -q 'UP' || fail "$t: lo not up"
  in_task "$t" ip route show default | grep -q "default via $gw dev eth0" ||
    fail "$t: default route: $(in_task "$t" ip route)"
  in_task "$t" ip route show 169.254.170.2 | grep -q "via $gw dev eth0" ||
    fail "$t: no task endpoint route"
  in_task "$t" ip route show type blackhole | grep -q '169.254.169.254' ||
    fail "$t: no metadata blackhole"
  [ -z "$(in_task "$t" ip -6 -o addr show dev eth0)" ] || fail "$t: eth0 has IPv6"
  in_task "$t" ip -6 -o addr show dev lo | grep -q '::1/128' || fail "$t: lo lacks ::1"
  must_ping "$t" 127.0.0.1

  must_ping "$t" "$gw"
  in_task "$t" ip -o link show eth0 | grep -q ' mtu 1500 ' || fail "$t: mtu"
  in_task "$t" ip -o link show eth0 | grep -q "link/ether $(field "$t" mac) " || fail "$t: mac"
  say "$mode: $t ok ($addr via $gw)"
}

for mode in bridge ptp; do
  say "mode $mode"
  export BERTH_NET_MODE=$mode
  bn create a >/dev/null
  bn create b --hostname web --dns 10.9.9.9 --dns-search svc.example --add-host db:10.1.2.3 \
    --add-host v6:2001:db8::1 >/dev/null
  check_task a "$mode"
  check_task b "$mode"
  addr_a=$(field a address)
  if [ "$mode" = bridge ]; then
    ip -d link show berth0 | grep -q 'mcast_snooping 0' || fail "multicast snooping on berth0"
  fi
  h=$(field a hostIfname)
  [ "$(cat "/proc/sys/net/ipv6/conf/$h/disable_ipv6")" = 1 ] || fail "$h has IPv6"


  # DNS files: from the host with the loopback stub dropped; or from the task.
  printf 'search corp.example\nnameserver 192.0.2.53\noptions ndots:2\n' | cmp - "$T/files/a/resolv.conf" ||
    fail "a: resolv.conf: $(cat "$T/files/a/resolv.conf")"
  printf 'search svc.example\nnameserver 10.9.9.9\noptions ndots:2\n' | cmp - "$T/files/b/resolv.conf" ||
    fail "b: resolv.conf: $(cat "$T/files/b/resolv.conf")"
  [ "$(cat "$T/files/a/hostname")" = "ip-${addr_a//./-}" ] || fail "a: hostname"
  [ "$(cat "$T/files/b/hostname")" = web ] || fail "b: hostname"
  grep -q "^$(field b address)	web$" "$T/files/b/hosts" || fail "b: hosts lacks itself"
  grep -q '^10.1.2.3	db$' "$T/files/b/hosts" || fail "b: hosts lacks db"
  grep -q '^2001:db8::1	v6$' "$T/files/b/hosts" || fail "b: hosts lacks v6"
  grep -q '^127.0.0.1	localhost$' "$T/files/a/hosts" || fail "a: hosts lacks localhost"

  # The metadata address is unreachable even around the blackhole.
  ! in_task a ip route get 169.254.169.254 >/dev/null 2>&1 || fail "metadata route resolves"

  # Teardown is idempotent; the same task id comes back at once.
  bn delete a
  bn delete a
  bn delete never-created
  [ ! -e "$T/netns/a" ] || fail "netns of a left"
  [ ! -e "$T/state/berth/$addr_a" ] || fail "lease of a left"
  bn create a >/dev/null
  check_task a "$mode"
  bn delete a b
  wait_links_gone
  assert_clean
  unset BERTH_NET_MODE
  # The next mode replaces berth's tables (a new configuration).
done

say "none and host modes"
bn create n --mode none >/dev/null
[ "$(in_task n ip -o link show | wc -l)" = 1 ] || fail "none: more than lo: $(in_task n ip -o link)"
must_ping n 127.0.0.1
[ -z "$(field n address)" ] || fail "none: has an address"
[ -s "$T/files/n/resolv.conf" ] || fail "none: no resolv.conf"
bn create h --mode host --add-host extra:10.4.4.4 >/dev/null
[ -z "$(field h netns)" ] || fail "host: has a netns path"
grep -q '^nameserver 127.0.0.53$' "$T/files/h/resolv.conf" || fail "host: loopback resolver dropped"
grep -q 'host-only-name' "$T/files/h/hosts" || fail "host: hosts not from the host"
grep -q '^10.4.4.4	extra$' "$T/files/h/hosts" || fail "host: extra host missing"
bn list | grep -q '^h ' || fail "list lacks h"
bn delete n h
assert_clean
say "ok"
