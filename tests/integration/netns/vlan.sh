#!/usr/bin/env bash
# vlan.sh macvlan|ipvlan: tasks on a lab network through a host NIC. The "uplink" NIC is one
# end of a veth pair the test makes; the other end sits in a "lab" namespace holding the lab
# gateway. Tasks get addresses from a static range of the lab subnet, reach the gateway, and
# reach each other only when both allow it (macvlan: private vs bridge mode per child).
. "$(dirname "$0")/lib.sh"
kind=${1:?macvlan or ipvlan}

mk_ns lab
ip link add uplink type veth peer name lab0
ip link set lab0 netns "$T/lab.ns"
ip addr add 192.168.77.2/24 dev uplink
ip link set uplink up
in_ns lab ip addr add 192.168.77.1/24 dev lab0
in_ns lab ip link set lab0 up

export BERTH_NET_MODE=$kind BERTH_NET_HOST_NIC=uplink
export BERTH_NET_POOLS=192.168.77.0/24,gateway=192.168.77.1,range=192.168.77.100-192.168.77.120

if ! out=$(bn list 2>&1); then
  if [ "$kind" = ipvlan ] && grep -q 'this kernel has no ipvlan support' <<<"$out"; then
    echo "berth reports: $out"
    echo "SKIP: this kernel has no ipvlan (CONFIG_IPVLAN); berth refuses NET_MODE=ipvlan clearly"
    exit 77
  fi
  fail "$kind: host preparation failed: $out"
fi

bn create m1 >/dev/null
bn create m2 >/dev/null
a1=$(field m1 address)
a2=$(field m2 address)
case "$a1" in 192.168.77.1[0-1][0-9] | 192.168.77.120) ;; *) fail "m1 got $a1, outside the range" ;; esac
in_task m1 ip -d link show eth0 | grep -q "$kind" || fail "eth0 of m1 is not a $kind child"
in_task m1 ip route show default | grep -q 'via 192.168.77.1 dev eth0' || fail "default route"
! in_task m1 ip route show | grep -q 169.254.170.2 || fail "endpoint route on $kind"
in_task m1 ip route show type blackhole | grep -q 169.254.169.254 || fail "metadata blackhole"
must_ping m1 192.168.77.1
must_ping m2 192.168.77.1
must_not_ping m1 "$a2"
say "$kind: isolated tasks reach the lab gateway, not each other"

if [ "$kind" = macvlan ]; then
  bn create o1 --reach-tasks >/dev/null
  bn create o2 --reach-tasks >/dev/null
  must_ping o1 "$(field o2 address)"
  must_not_ping o1 "$a1"
  must_not_ping m1 "$(field o1 address)"
  in_task o1 ip -d link show eth0 | grep -q 'macvlan mode bridge' || fail "o1 not in bridge mode"
  in_task m1 ip -d link show eth0 | grep -q 'macvlan mode private' || fail "m1 not private"
  say "macvlan: tasks that allow it reach each other"
  bn delete o1 o2
else
  err=$(bn create o1 --reach-tasks 2>&1) && fail "ipvlan with isolation accepted reachTasks"
  grep -q 'NET_ISOLATE' <<<"$err" || fail "unclear refusal: $err"
fi

# Teardown frees the address at once: a new task may take it while the old namespace dies.
bn delete m1
BERTH_NET_POOLS=192.168.77.0/24,gateway=192.168.77.1,range=$a1-$a1 bn create r1 >/dev/null
[ "$(field r1 address)" = "$a1" ] || fail "r1 did not get the freed $a1"
must_ping r1 192.168.77.1
bn delete r1 m2

# Settings berth cannot honour on this topology fail clearly, before anything is built.
err=$(BERTH_NET_NAT=on bn list 2>&1) && fail "NAT accepted with $kind"
grep -q "NET_NAT: not available with NET_MODE=$kind" <<<"$err" || fail "unclear: $err"
err=$(BERTH_NET_HOST_NIC=nosuchnic bn list 2>&1) && fail "missing NIC accepted"
grep -q 'NET_HOST_NIC: no interface `nosuchnic`' <<<"$err" || fail "unclear: $err"
err=$(BERTH_NET_POOLS=192.168.77.0/24,gateway=192.168.77.1,range=192.168.77.2-192.168.77.9 \
  bn list 2>&1) && fail "range with the NIC's own address accepted"
grep -q 'includes 192.168.77.2, the address of host NIC `uplink`' <<<"$err" || fail "unclear: $err"

[ -z "$(ls -A "$T/netns")" ] || fail "netns left"
assert_clean
say "ok"
