# shellcheck shell=bash
# Common setup for the image cache integration tests (source it): root check, a private
# temp dir, the berth binary, registry helpers, and cleanup of every process, mount and
# file the test made, even when it fails.
set -uo pipefail

if [ "$(id -u)" != 0 ]; then
  echo "SKIP: the image cache tests need root (overlay mounts, ownership, trusted.* xattrs)"
  exit 77
fi
: "${BERTH:?BERTH must point at the berth binary (meson sets it)}"
: "${BERTH_TEST_LIB:?BERTH_TEST_LIB must point at tests/lib}"
for tool in docker-registry skopeo python3 openssl htpasswd zstd ss; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (run scripts/install-deps.sh)"; exit 1; }
done

T=$(mktemp -d "/tmp/berth-imagecache-$(basename "$0" .sh)-XXXXXX")
. "$BERTH_TEST_LIB/registry.sh"
reg_init "$T/reg"
export BERTH_IMAGE_ROOT=$T/store
FAILURES=0
EXTRA_CLEANUP=()

ic_cleanup() {
  local m f
  for f in "${EXTRA_CLEANUP[@]}"; do eval "$f" || true; done
  reg_cleanup
  # every mount below our temp dir, deepest first
  awk -v t="$T" '$5 == t || index($5, t "/") == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m"
  done
  rm -rf "$T"
}
trap ic_cleanup EXIT

ok() { printf 'ok   %s\n' "$*"; }
bad() { printf 'FAIL %s\n' "$*"; FAILURES=$((FAILURES + 1)); }
# check DESCRIPTION COMMAND... : runs the command, records the result
check() {
  local d=$1; shift
  if "$@" >"$T/check.out" 2>&1; then ok "$d"; else bad "$d: $(tail -c 600 "$T/check.out")"; fi
}
# check_fails DESCRIPTION EXPECTED-TEXT COMMAND... : the command must fail and say EXPECTED-TEXT
check_fails() {
  local d=$1 want=$2; shift 2
  if "$@" >"$T/check.out" 2>&1; then
    bad "$d: succeeded but should have failed: $(tail -c 300 "$T/check.out")"
  elif grep -qF -- "$want" "$T/check.out"; then
    ok "$d"
  else
    bad "$d: failed without saying \`$want\`: $(tail -c 600 "$T/check.out")"
  fi
}
check_eq() { # DESCRIPTION GOT WANT
  if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got \`$2\`, want \`$3\`"; fi
}
finish() {
  if [ "$FAILURES" -gt 0 ]; then
    echo "$FAILURES checks failed"
    exit 1
  fi
  echo "all checks passed"
  exit 0
}

# build SPEC_JSON LAYOUT : the images of a spec into an OCI layout
build() { python3 "$BERTH_TEST_LIB/imagebuild.py" "$1" "$2" >/dev/null; }

# Registry config for berth: plain HTTP to the test registries.
insecure() { export BERTH_IMAGE_INSECURE_REGISTRIES="$*"; }

pull() { "$BERTH" pull -q "$@"; }
stats() { "$BERTH" pull --stats "$@" 2>"$T/pull.err"; }
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
xattr() { python3 -c 'import os,sys; print(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).hex())' "$1" "$2"; }
