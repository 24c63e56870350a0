#!/usr/bin/env bash
# Two tasks never get the same address, even when set up at the same moment: 24 `berth
# network create` processes at once into a small pool, then all torn down at once.
. "$(dirname "$0")/lib.sh"

# A /27: 29 addresses for tasks, so the allocations crowd each other.
export BERTH_NET_POOLS=10.77.0.0/27
bn list >/dev/null # prepare the host once, so the creates race on leases, not on the bridge
pids=()
for i in $(seq 1 24); do
  bn create "c$i" >"$T/c$i.json" 2>"$T/c$i.err" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a create failed: $(cat "$T"/c*.err)"; done

addrs=$(for i in $(seq 1 24); do sed -n 's/^ *"address":"\(.*\)",$/\1/p' "$T/c$i.json"; done)
[ "$(echo "$addrs" | wc -l)" = 24 ] || fail "not 24 addresses: $addrs"
dups=$(echo "$addrs" | sort | uniq -d)
[ -z "$dups" ] || fail "addresses handed out twice: $dups"
[ "$(ls "$T/state/berth" | grep -c '^10\.77\.')" = 24 ] || fail "not 24 lease files"
for i in $(seq 1 24); do
  a=$(sed -n 's/^ *"address":"\(.*\)",$/\1/p' "$T/c$i.json")
  [ "$(cat "$T/state/berth/$a")" = "c$i" ] || fail "lease $a does not name c$i"
  in_task "c$i" ip -4 -o addr show dev eth0 | grep -q "inet $a/" || fail "c$i lacks $a"
done
say "24 concurrent setups: 24 distinct addresses"

# The pool has 5 addresses left; 8 more at once: exactly 5 succeed, 3 fail cleanly.
pids=()
for i in $(seq 25 32); do
  bn create "c$i" >"$T/c$i.json" 2>"$T/c$i.err" &
  pids+=($!)
done
ok=0
for p in "${pids[@]}"; do wait "$p" && ok=$((ok + 1)) || true; done
[ "$ok" = 5 ] || fail "$ok of 8 setups succeeded in a pool with 5 free addresses"
grep -l 'exhausted' "$T"/c*.err | wc -l | grep -qx 3 || fail "exhaustion not reported: $(cat "$T"/c*.err)"
[ "$(ls "$T/state/berth/tasks" | wc -l)" = 29 ] || fail "records of failed setups left"
[ "$(ls "$T/netns" | wc -l)" = 29 ] || fail "namespaces of failed setups left"
say "exhausted pool: clear error, nothing half-built"

pids=()
for i in $(seq 1 32); do
  bn delete "c$i" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a delete failed"; done
wait_links_gone
assert_clean
say "ok"
