#!/usr/bin/env bash
# Runs test-api.c (the API on threads) against a registry behind two proxies (one that logs,
# one rate-limited), then checks across processes: 10 `berth pull` at once download each
# blob once.
. "$(dirname "$0")/lib.sh"
: "${IC_API_TEST:?IC_API_TEST must point at the test-api binary}"

python3 - "$T/spec.json" <<'EOF'
import json, sys
imgs = [{"tag": "layers5", "layers": [{"entries": [{"path": "l%d.bin" % i, "random": 300000}]} for i in range(5)]},
        {"tag": "shared-a", "layers": [{"busybox": True}, {"entries": [{"path": "a", "content": "a\n"}]}]},
        {"tag": "shared-b", "layers": [{"busybox": True}, {"entries": [{"path": "b", "content": "b\n"}]}]},
        {"tag": "big", "layers": [{"compression": "none", "entries": [{"path": "big%d.bin" % i, "random": 4000000}]} for i in range(2)]},
        {"tag": "layers100", "layers": [{"entries": [{"path": "f%d" % i, "content": "layer %d\n" % i},
                                                     {"path": "over", "content": "%d\n" % i}]} for i in range(100)]}]
json.dump({"images": imgs}, open(sys.argv[1], "w"))
EOF
build "$T/spec.json" "$T/layout" || { echo "FAIL: image build"; exit 1; }
reg_start api || exit 1
UP=$REG_PORT
for t in layers5 shared-a shared-b big layers100; do reg_push "$T/layout" $t "127.0.0.1:$UP/api/$t:1" || bad "push $t"; done
proxy_start log "$UP" --log "$T/log.log" --count 0 || exit 1
FAST=127.0.0.1:$PROXY_PORT
proxy_start slow "$UP" --rate 400000 --count 0 --log "$T/slow.log" || exit 1
SLOW=127.0.0.1:$PROXY_PORT

mkdir -p "$T/work"
if IC_REGISTRY=$FAST IC_SLOW_REGISTRY=$SLOW IC_WORK=$T/work "$IC_API_TEST" --jobs 1 >"$T/api.out" 2>&1; then
  ok "API tests ($(grep -o 'Tested: [0-9]*' "$T/api.out"))"
else
  bad "API tests: $(cat "$T/api.out")"
fi

# ---------------------------------------------------------------- across processes
export BERTH_IMAGE_ROOT=$T/store-procs
insecure "$FAST"
: >"$T/log.log"
PIDS=()
for i in $(seq 10); do
  "$BERTH" pull -q "$FAST/api/layers5:1" >"$T/p$i.out" 2>&1 &
  PIDS+=($!)
done
FAILED=0
for p in "${PIDS[@]}"; do wait "$p" || FAILED=$((FAILED + 1)); done
check_eq "10 berth pull processes at once all succeed" "$FAILED" "0"
# GETs per blob (config and layers): the store's single flight and blob locks make it one each
BLOBS=$(grep '^GET .*blobs/sha256:' "$T/log.log" | grep 'status=200' | awk '{print $2}' | sort | uniq -c | sort -rn)
check_eq "every blob (config and 5 layers) was downloaded exactly once" \
  "$(grep -c . <<<"$BLOBS") blobs, max $(awk '{print $1}' <<<"$BLOBS" | head -1) GETs of one" \
  "6 blobs, max 1 GETs of one"
BIGGEST=$(grep 'status=200' "$T/log.log" | grep 'blobs/sha256' | awk '{split($5, b, "="); if (b[2] + 0 > 100000) print $2}' | sort | uniq -c | awk '{print $1}' | sort -u)
check_eq "each 300 kB layer was fetched exactly once across 10 processes" "$BIGGEST" "1"
check "the store is consistent" "$BERTH" image check --deep

# ---------------------------------------------------------------- concurrency bounds
# the most layer-blob GETs (config aside) in flight at once, from the slow proxy's log
max_in_flight() {
  python3 - "$T/slow.log" <<'EOF'
import re, sys
ev = []
for l in open(sys.argv[1]):
    m = re.search(r"blobs/sha256:\S+ .*status=200 bytes=(\d+).* t0=([\d.]+) t1=([\d.]+)", l)
    if m and int(m.group(1)) > 100000:
        ev += [(float(m.group(2)), 1), (float(m.group(3)), -1)]
cur = top = 0
for _, d in sorted(ev, key=lambda e: (e[0], e[1])):
    cur += d
    top = max(top, cur)
print(top)
EOF
}
insecure "$SLOW"
export BERTH_IMAGE_ROOT=$T/store-bound1
: >"$T/slow.log"
check "a pull with max_downloads_per_pull=2" env BERTH_IMAGE_MAX_DOWNLOADS_PER_PULL=2 "$BERTH" pull -q "$SLOW/api/layers5:1"
check_eq "never more than 2 of its 5 layers downloading at once, and 2 at times" "$(max_in_flight)" "2"
export BERTH_IMAGE_ROOT=$T/store-bound2
: >"$T/slow.log"
BERTH_IMAGE_MAX_DOWNLOADS=1 "$BERTH" pull -q "$SLOW/api/layers5:1" >/dev/null 2>&1 &
A=$!
BERTH_IMAGE_MAX_DOWNLOADS=1 "$BERTH" pull -q "$SLOW/api/big:1" >/dev/null 2>&1 &
B=$!
wait "$A"; RA=$?
wait "$B"; RB=$?
check_eq "two processes sharing a store with max_downloads=1 both finish" "$RA $RB" "0 0"
check_eq "and download one blob at a time between them" "$(max_in_flight)" "1"
finish
