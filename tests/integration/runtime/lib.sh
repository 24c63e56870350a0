# shellcheck shell=bash
# Helpers for berth-runtime's integration tests (root, real kernel). Source it first:
#   . "$(dirname "$0")/lib.sh"
# Each test gets its own work directory, state root and container ids (with the test's
# pid), and everything it made is removed on exit, pass or fail.
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
RT_BIN=${BERTH_RUNTIME:?BERTH_RUNTIME must name the berth-runtime binary}
TOP=${BERTH_TEST_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
WORK=$(mktemp -d "/tmp/berth-runtime-test.$$.XXXXXX")
STATE=$WORK/state
ID_PREFIX="rt$$"
FAILS=0
CHECKS=0

rt() { "$RT_BIN" --root "$STATE" "$@"; }

cleanup() {
  local id
  if [ -d "$STATE" ]; then
    for id in $(rt list -q 2>/dev/null || true); do
      rt delete --force "$id" >/dev/null 2>&1 || true
    done
  fi
  # Anything a test started by hand (sleepers holding namespaces).
  if [ -f "$WORK/pids" ]; then
    while read -r p; do kill -9 "$p" 2>/dev/null || true; done <"$WORK/pids"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# A busybox rootfs, shared by the bundles of one test.
ROOTFS=$WORK/rootfs
"$TOP/tests/lib/mkrootfs.sh" "$ROOTFS"

# mkbundle NAME JQ-FILTER [JQ ARGS...] : a bundle with berth-runtime's default config,
# changed by the filter; the rootfs is shared and read-only.
mkbundle() {
  local name=$1 filter=$2
  shift 2
  mkdir -p "$WORK/$name"
  (cd "$WORK/$name" && rt spec)
  jq "$@" --arg rootfs "$ROOTFS" ".root.path=\$rootfs | $filter" "$WORK/$name/config.json" \
    >"$WORK/$name/config.tmp"
  mv "$WORK/$name/config.tmp" "$WORK/$name/config.json"
  echo "$WORK/$name"
}

ok() { # DESCRIPTION
  CHECKS=$((CHECKS + 1))
  echo "ok - $1"
}
fail() { # DESCRIPTION
  CHECKS=$((CHECKS + 1))
  FAILS=$((FAILS + 1))
  echo "FAIL - $1"
}
check() { # DESCRIPTION COMMAND... : passes when the command succeeds
  local d=$1
  shift
  if "$@"; then ok "$d"; else fail "$d"; fi
}
expect_eq() { # DESCRIPTION EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: expected [$2], got [$3]"; fi
}
expect_match() { # DESCRIPTION REGEX TEXT
  if printf '%s' "$3" | grep -Eq -- "$2"; then ok "$1"; else fail "$1: [$3] does not match /$2/"; fi
}

# The cgroup directories berth made for a container (there must be none after delete).
cgroup_dirs_of() { # ID
  find /sys/fs/cgroup -maxdepth 8 -type d -name "$1" 2>/dev/null || true
}

finish() {
  echo "# $CHECKS checks, $FAILS failed"
  [ "$FAILS" = 0 ]
}
