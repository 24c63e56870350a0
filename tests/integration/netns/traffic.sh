#!/usr/bin/env bash
# Traffic, bridge and ptp: tasks reach an "upstream" namespace (standing in for the outside
# world) only through NAT; tasks do not reach each other unless both allow it; the metadata
# address stays blocked on the host even for a task that removes its blackhole route; the
# task endpoint address answers from the host.
. "$(dirname "$0")/lib.sh"

# upstream: 198.51.100.2, no route back to the task pools; it also plays the metadata server.
mk_ns up
ip link add up0 type veth peer name up1
ip link set up1 netns "$T/up.ns"
ip addr add 198.51.100.1/24 dev up0
ip link set up0 up
in_ns up ip addr add 198.51.100.2/24 dev up1
in_ns up ip link set up1 up
in_ns up ip addr add 169.254.169.254/32 dev lo
ip route add 169.254.169.254/32 via 198.51.100.2
mkdir -p "$T/www"
echo "hello from upstream" >"$T/www/index.html"
# (busybox 1.35 wget crashes with -T: timeouts come from timeout(1).)
# A plain command in the background, so that $! is httpd itself (nsenter execs it).
nsenter --net="$T/up.ns" busybox httpd -f -p 18080 -h "$T/www" </dev/null >/dev/null 2>&1 &
BG_PIDS+=($!)
for ((i = 0; i < 100; i++)); do
  timeout 10 busybox wget -q -O /dev/null http://198.51.100.2:18080/index.html 2>/dev/null && break
  sleep 0.1
done
timeout 10 busybox wget -q -O /dev/null http://198.51.100.2:18080/index.html ||
  fail "control: httpd in the upstream namespace does not answer the host"
busybox ping -c 1 -W 2 169.254.169.254 >/dev/null ||

  fail "control: the host cannot reach the fake metadata server"


matrix() { # MODE
  local mode=$1 i1 i2 o1 o2
  say "$mode: NAT to upstream"
  must_ping i1 198.51.100.2
  out=$(in_task i1 timeout 10 busybox wget -q -O - http://198.51.100.2:18080/index.html) ||
    fail "$mode: wget through NAT failed"
  [ "$out" = "hello from upstream" ] || fail "$mode: wget got `$out`"

  say "$mode: isolation"
  i2=$(field i2 address); o1=$(field o1 address); o2=$(field o2 address); i1=$(field i1 address)
  must_not_ping i1 "$i2"
  must_not_ping i2 "$i1"
  must_ping o1 "$o2"
  must_ping o2 "$o1"
  must_not_ping o1 "$i1"
  must_not_ping i1 "$o1"
  must_ping i1 "$(field i1 gateway)"
  must_ping o1 "$(field o1 gateway)"
  must_ping i1 169.254.170.2

  say "$mode: metadata blocked on the host too"
  in_task i1 ip route del blackhole 169.254.169.254
  must_not_ping i1 169.254.169.254
  in_task i1 ip route add blackhole 169.254.169.254
}

# Every berth command opens the host with its configuration and replaces berth's tables when
# they differ: the addresses are read first, then each setting is changed for one command.
switches() {
  local a2 ao1
  a2=$(field i2 address)
  ao1=$(field o1 address)
  say "$mode: NAT off: upstream unreachable (it has no route back)"
  BERTH_NET_NAT=off bn list >/dev/null
  must_not_ping i1 198.51.100.2
  say "$mode: isolation off: every task reaches every other"
  BERTH_NET_ISOLATE=off bn list >/dev/null
  must_ping i1 "$a2"
  must_ping i1 "$ao1"
  bn list >/dev/null # back to the defaults
  must_not_ping i1 "$a2"
  must_ping i1 198.51.100.2
}

for mode in bridge ptp; do
  export BERTH_NET_MODE=$mode
  for t in i1 i2; do bn create $t >/dev/null; done
  for t in o1 o2; do bn create $t --reach-tasks >/dev/null; done
  matrix $mode

  say "$mode: reconcile keeps live tasks and their open sets"
  bn reconcile --live i1 --live i2 --live o1 --live o2 >/dev/null
  must_ping o1 "$(field o2 address)"
  must_not_ping i1 "$(field i2 address)"
  switches

  bn delete i1 i2 o1 o2
  wait_links_gone
  assert_clean
done
unset BERTH_NET_MODE
say "ok"
