# shellcheck shell=bash
# Helpers for the netns integration tests. Source it first thing: it re-executes the test
# inside a private network and mount namespace (unshare), which stands in for the host:
# berth's bridge, nftables tables, forwarding switch and every task namespace live there and
# vanish with the test's last process, so nothing reaches the machine's own network and a
# crashed test leaves no link, rule or mount behind. Files go to a temporary directory that
# the EXIT trap removes.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
  echo "SKIP: needs root (network namespaces, links, nftables)"
  exit 77
fi
for tool in unshare nsenter ip nft busybox; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
: "${BERTH:?BERTH must name the berth binary}"

if [ -z "${NETNS_IT_INNER:-}" ]; then
  exec unshare --net --mount --propagation private env NETNS_IT_INNER=1 bash "$0" "$@"
fi

ip link set lo up
T=$(mktemp -d "/tmp/berth-netns-it.$$.XXXXXX")
BG_PIDS=()
netns_it_cleanup() {
  local rc=$?
  for p in "${BG_PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${BG_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  # Links die with this namespace and mounts with this mount namespace; take the mounts off
  # first all the same, or the files beneath them cannot be removed.
  awk -v t="$T/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$T"
  exit $rc
}
trap netns_it_cleanup EXIT

export BERTH_NET_NETNS_DIR=$T/netns BERTH_NET_FILES_DIR=$T/files BERTH_NET_STATE_DIR=$T/state
export BERTH_NET_HOST_RESOLV_CONF=$T/host-resolv.conf BERTH_NET_HOST_HOSTS=$T/host-hosts
printf 'nameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch corp.example\noptions ndots:2\n' \
  >"$T/host-resolv.conf"
printf '127.0.0.1\tlocalhost\n192.0.2.10\thost-only-name\n' >"$T/host-hosts"

fail() { echo "FAIL: $*" >&2; exit 1; }
say() { echo "--- $*"; }

# berth network with the test's settings (any --set goes before the command).
bn() { "$BERTH" network --config /dev/null "$@"; }

# Runs a command inside a task's namespace.
in_task() { local t=$1; shift; nsenter --net="$T/netns/$t" "$@"; }

# JSON field of `berth network inspect`.
field() { bn inspect "$1" | sed -n "s/^ *\"$2\":\"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p"; }

pings() { in_task "$1" busybox ping -c 1 -W 2 "$2" >/dev/null 2>&1; }
must_ping() { pings "$1" "$2" || fail "$1 cannot reach $2"; }
must_not_ping() { ! pings "$1" "$2" || fail "$1 reaches $2 but must not"; }

# A namespace the test owns (upstream, lab), bound under $T so nsenter finds it.
mk_ns() {
  local name=$1
  touch "$T/$name.ns"
  unshare --net="$T/$name.ns" true
  nsenter --net="$T/$name.ns" ip link set lo up
}
in_ns() { local n=$1; shift; nsenter --net="$T/$n.ns" "$@"; }

# Nothing of any task left: links, namespaces, files, leases, records, set elements.
assert_clean() {
  local links
  links=$(ip -o link show | awk -F': ' '{print $2}' | grep '^bth' || true)
  [ -z "$links" ] || fail "task links left: $links"
  [ -z "$(ls -A "$T/netns" 2>/dev/null)" ] || fail "netns left: $(ls "$T/netns")"
  [ -z "$(ls -A "$T/files" 2>/dev/null)" ] || fail "files left: $(ls "$T/files")"
  [ -z "$(ls "$T/state/berth" 2>/dev/null | grep -v '^tasks$' || true)" ] ||
    fail "leases left: $(ls "$T/state/berth")"
  [ -z "$(ls -A "$T/state/berth/tasks" 2>/dev/null)" ] ||
    fail "records left: $(ls -A "$T/state/berth/tasks")"
  if nft list set inet berth open_addrs >/dev/null 2>&1; then
    ! nft list set inet berth open_addrs | grep -q 'elements' || fail "open_addrs not empty"
  fi
  if nft list set bridge berth open_ports >/dev/null 2>&1; then
    ! nft list set bridge berth open_ports | grep -q 'elements' || fail "open_ports not empty"
  fi
  grep -q " $T/netns/" /proc/self/mountinfo && fail "netns mounts left" || true
}

# Cut links go with their namespaces, which the kernel destroys asynchronously: wait for
# that (bounded; a link still there after a minute is a leak).
wait_links_gone() {
  local i
  for ((i = 0; i < 600; i++)); do
    ip -o link show | awk -F': ' '{print $2}' | grep -q '^bth' || return 0
    sleep 0.1
  done
  fail "task links still present a minute after teardown: $(ip -o link show | grep bth)"
}
