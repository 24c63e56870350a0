#!/usr/bin/env bash
# bench/imagecache/bench.sh : berth's image cache against its peers, in the same run, on a
# loopback registry (Debian's docker-registry on 127.0.0.1, a port in 17000-17999).
#
# The image: a busybox base and 4 layers of /usr/lib/x86_64-linux-gnu files (654 MB
# uncompressed, about 170 MB with gzip's default level 6), built once by
# tests/lib/imagebuild.py and cached in $WORK.
#   1. download only, verified into the store: berth pull --no-unpack   vs skopeo copy
#   2. pull and unpack, ready to run:          berth pull               vs ctr images pull,
#                                                                           podman pull
#   3. warm: an image already cached (policy always: one HEAD; if-not-present: none)
#   4. a second image sharing the 4 lower layers: only its own layer is fetched
#   5. 10 concurrent berth pull processes of one image: one download per blob
# RUNS (default 5) runs of each, interleaved, every one on an empty store (containerd and
# podman on an empty root), after `sync`; the registry's files stay in the page cache.
# Prints medians and ratios; the raw numbers go to $WORK/results.txt.
#
#   BERTH=build/agent/cli/berth bench/imagecache/bench.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
TOP=$PWD
BERTH=${BERTH:-$TOP/build/agent/cli/berth}
RUNS=${RUNS:-5}
WORK=${WORK:-/var/tmp/berth-bench-imagecache}
# 642 MB of files make a 654 MB tar (headers and padding)
TARGET_MB=${TARGET_MB:-642}
[ "$(id -u)" = 0 ] || { echo "bench: needs root (mounts, containerd)"; exit 1; }
[ -x "$BERTH" ] || { echo "bench: $BERTH is not built (meson compile -C build)"; exit 1; }

# peers, installed from Debian if missing (never starting their services)
missing=()
for p in docker-registry skopeo containerd podman python3; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  added=0
  [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; added=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  [ "$added" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

mkdir -p "$WORK"
RUN=$(mktemp -d "$WORK/run-XXXXXX")
. "$TOP/tests/lib/registry.sh"
reg_init "$RUN/reg"
CTRD_PID=""

cleanup() {
  [ -n "$CTRD_PID" ] && reg_stop_pid "$CTRD_PID"
  reg_cleanup
  awk -v t="$RUN" 'index($5, t "/") == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$RUN"
  [ -n "${PODMAN_RUN:-}" ] && rm -rf "$PODMAN_RUN"
}
trap cleanup EXIT

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# CLOCK_MONOTONIC in ns (date(1) reads the wall clock, which this VM has been seen to step)
now() { perl -MTime::HiRes=clock_gettime,CLOCK_MONOTONIC -e 'printf "%d\n", clock_gettime(CLOCK_MONOTONIC) * 1e9'; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

# ---------------------------------------------------------------- the image
LAYOUT=$WORK/layout-$TARGET_MB
if [ ! -e "$LAYOUT/index.json" ]; then
  log "building the image ($TARGET_MB MB of /usr/lib/x86_64-linux-gnu in 4 layers + busybox); once (a few minutes)"
  rm -rf "$LAYOUT" "$WORK/src"
  mkdir -p "$WORK/src"
  bb=$(($(stat -c %s /bin/busybox) + 100000))
  find /usr/lib/x86_64-linux-gnu -type f -printf '%i %s %p\n' | LC_ALL=C sort -k3 |
    awk -v total=$((TARGET_MB * 1000000 - bb)) '!seen[$1]++ {
        c = int(s * 4 / total); if (c < 4) print c, $3; s += $2 + 512 + (512 - $2 % 512) % 512 }' >"$WORK/src/list"
  for i in 0 1 2 3; do
    awk -v c=$i '$1 == c {print substr($2, 2)}' "$WORK/src/list" |
      tar -C / --no-recursion --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1700000000 \
        --format=pax --pax-option=delete=atime,delete=ctime -cf "$WORK/src/l$i.tar" -T - || exit 1
  done
  printf 'extra layer of the second image\n' >"$WORK/src/extra.txt"
  python3 - "$WORK/src" "$WORK/spec.json" <<'EOF'
import json, sys
src, out = sys.argv[1], sys.argv[2]
base = [{"busybox": True}] + [{"tar": "%s/l%d.tar" % (src, i)} for i in range(4)]
extra = {"entries": [{"path": "extra.txt", "content_file": src + "/extra.txt"}]}
json.dump({"images": [{"tag": "big", "layers": base}, {"tag": "big2", "layers": base + [extra]}]}, open(out, "w"))
EOF
  python3 "$TOP/tests/lib/imagebuild.py" "$WORK/spec.json" "$LAYOUT" >/dev/null || exit 1
  rm -rf "$WORK/src"
fi
MAN=$(python3 -c 'import json,sys; i=json.load(open(sys.argv[1]+"/index.json")); print([m["digest"] for m in i["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"]=="big"][0][7:])' "$LAYOUT")
read -r COMPRESSED UNCOMPRESSED NLAYERS < <(python3 - "$LAYOUT" "$MAN" <<'EOF'
import gzip, json, sys, zlib
lay, man = sys.argv[1], sys.argv[2]
m = json.load(open("%s/blobs/sha256/%s" % (lay, man)))
comp = m["config"]["size"] + sum(l["size"] for l in m["layers"])
unc = 0
for l in m["layers"]:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    with open("%s/blobs/sha256/%s" % (lay, l["digest"][7:]), "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            unc += len(d.decompress(b))
print(comp, unc, len(m["layers"]))
EOF
)
log "image: $NLAYERS layers, $((COMPRESSED / 1000000)) MB compressed, $((UNCOMPRESSED / 1000000)) MB uncompressed"

reg_start bench || exit 1
R=127.0.0.1:$REG_PORT
reg_push "$LAYOUT" big "$R/bench/big:latest" || exit 1
reg_push "$LAYOUT" big2 "$R/bench/big2:latest" || exit 1
export BERTH_IMAGE_INSECURE_REGISTRIES=$R
# warm the registry's files in the page cache once
skopeo --insecure-policy copy -q --src-tls-verify=false "docker://$R/bench/big:latest" "oci:$RUN/warm:latest" && rm -rf "$RUN/warm"

RESULTS=$RUN/results
mkdir -p "$RESULTS"
record() { echo "$2" >>"$RESULTS/$1"; } # NAME MS
# CPU seconds (user+sys) of a process by PID, from /proc/PID/stat
proc_cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f\n", ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }
timed() { # NAME CMD... : runs after sync, records wall ms and CPU ms (the command's, plus
          # containerd's when $CPU_ALSO_PID is set); returns the command's status
  local name=$1 t0 t1 rc c0=0 c1=0
  shift
  sync
  [ -n "${CPU_ALSO_PID:-}" ] && c0=$(proc_cpu "$CPU_ALSO_PID")
  t0=$(now)
  /usr/bin/time -f '%U %S' -o "$RUN/time.out" "$@" >"$RUN/last.out" 2>&1
  rc=$?
  t1=$(now)
  [ -n "${CPU_ALSO_PID:-}" ] && c1=$(proc_cpu "$CPU_ALSO_PID")
  if [ $rc -ne 0 ]; then
    log "$name failed: $(tail -3 "$RUN/last.out")"
    return $rc
  fi
  record "$name" $(((t1 - t0) / 1000000))
  record "$name-cpu" "$(awk -v a="$c0" -v b="$c1" '{printf "%d", ($1 + $2 + b - a) * 1000}' "$RUN/time.out")"
}
fresh() { rm -rf "$RUN/$1"; mkdir -p "$RUN/$1"; }

# ---------------------------------------------------------------- containerd, podman
ctrd_start() {
  [ -n "$CTRD_PID" ] && reg_stop_pid "$CTRD_PID"
  CTRD_PID=""
  awk -v t="$RUN/ctrd" 'index($5, t "/") == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$RUN/ctrd"
  mkdir -p "$RUN/ctrd"
  cat >"$RUN/ctrd/config.toml" <<EOF
version = 2
root = "$RUN/ctrd/root"
state = "$RUN/ctrd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$RUN/ctrd/sock"
[ttrpc]
  address = "$RUN/ctrd/sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
EOF
  containerd --config "$RUN/ctrd/config.toml" >"$RUN/ctrd.log" 2>&1 &
  CTRD_PID=$!
  for _ in $(seq 200); do
    ctr --address "$RUN/ctrd/sock" version >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  log "containerd did not start: $(tail -3 "$RUN/ctrd.log")"
  return 1
}
# podman wants a run root path of at most 50 characters
PODMAN_RUN=$(mktemp -d /tmp/bic-XXXXXX)
PODMAN=(podman --root "$RUN/podman/root" --runroot "$PODMAN_RUN/run" --storage-driver overlay --cgroup-manager cgroupfs
  --events-backend file --tmpdir "$PODMAN_RUN/tmp")
podman_fresh() {
  [ -d "$RUN/podman" ] && "${PODMAN[@]}" system reset -f >/dev/null 2>&1
  awk -v t="$RUN/podman" 'index($5, t "/") == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
  awk -v t="$PODMAN_RUN" 'index($5, t "/") == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$RUN/podman" "$PODMAN_RUN"/*
  mkdir -p "$RUN/podman/root" "$PODMAN_RUN/run" "$PODMAN_RUN/tmp"
}

# ---------------------------------------------------------------- 1 and 2: cold pulls, interleaved
for ((run = 1; run <= RUNS; run++)); do
  log "run $run/$RUNS"
  fresh store
  BERTH_IMAGE_ROOT=$RUN/store timed berth-download "$BERTH" pull -q --no-unpack "$R/bench/big:latest"
  fresh skopeo
  timed skopeo-copy skopeo --insecure-policy copy -q --src-tls-verify=false "docker://$R/bench/big:latest" "oci:$RUN/skopeo/img:latest"
  fresh store
  BERTH_IMAGE_ROOT=$RUN/store timed berth-pull "$BERTH" pull -q "$R/bench/big:latest"
  BERTH_IMAGE_ROOT=$RUN/store "$BERTH" image check >/dev/null || log "berth store check failed after run $run"
  if ctrd_start; then
    CPU_ALSO_PID=$CTRD_PID timed ctr-pull ctr --address "$RUN/ctrd/sock" -n bench images pull --plain-http "$R/bench/big:latest"
  fi
  podman_fresh
  timed podman-pull "${PODMAN[@]}" pull -q --tls-verify=false "$R/bench/big:latest"
done
[ -n "$CTRD_PID" ] && reg_stop_pid "$CTRD_PID"
CTRD_PID=""
podman_fresh
rm -rf "$RUN/skopeo" "$RUN/podman" "$RUN/ctrd"

# ---------------------------------------------------------------- 3: warm
fresh store
export BERTH_IMAGE_ROOT=$RUN/store
"$BERTH" pull -q "$R/bench/big:latest" >/dev/null || exit 1
for ((i = 0; i < 11; i++)); do
  for policy in always if-not-present; do
    t0=$(now)
    "$BERTH" pull --stats --policy $policy "$R/bench/big:latest" >"$RUN/warm.json" 2>/dev/null || log "warm pull failed"
    t1=$(now)
    record "warm-$policy-cli" "$(awk -v d=$((t1 - t0)) 'BEGIN {printf "%.2f", d / 1e6}')"
    record "warm-$policy-api" "$(python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["seconds"]*1000))' "$RUN/warm.json")"
    record "warm-$policy-bytes" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["blob_bytes"])' "$RUN/warm.json")"
  done
done

# the registry's own round trip for that HEAD, as curl sees it, for scale
for ((i = 0; i < 11; i++)); do
  record warm-curl-head "$(curl -s -o /dev/null -I -w '%{time_total}' -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$R/v2/bench/big/manifests/latest" | awk '{printf "%.2f", $1 * 1000}')"
done

# ---------------------------------------------------------------- 4: shared base
"$BERTH" pull --stats "$R/bench/big2:latest" >"$RUN/shared.json" 2>/dev/null || log "shared-base pull failed"
SHARED=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["blob_bytes"], j["blobs_fetched"], j["layers_unpacked"], j["layers_cached"])' "$RUN/shared.json")

# ---------------------------------------------------------------- 5: 10 concurrent pulls
proxy_start log "$REG_PORT" --log "$RUN/proxy.log" --count 0 || exit 1
P=127.0.0.1:$PROXY_PORT
export BERTH_IMAGE_INSECURE_REGISTRIES="$R,$P"
fresh store
sync
t0=$(now)
pids=()
for i in $(seq 10); do
  "$BERTH" pull -q "$P/bench/big:latest" >"$RUN/c$i.out" 2>&1 &
  pids+=($!)
done
cfail=0
for p in "${pids[@]}"; do wait "$p" || cfail=$((cfail + 1)); done
t1=$(now)
CONC_MS=$(((t1 - t0) / 1000000))
CONC_GETS=$(grep 'blobs/sha256:' "$RUN/proxy.log" | grep -c 'status=200')
CONC_MAX=$(grep 'blobs/sha256:' "$RUN/proxy.log" | grep 'status=200' | awk '{print $2}' | sort | uniq -c | awk '$1 > m {m = $1} END {print m}')
CONC_BYTES=$(grep 'blobs/sha256:' "$RUN/proxy.log" | awk '{split($5, b, "="); s += b[2]} END {print s}')
"$BERTH" image check --deep >/dev/null || log "store check failed after the concurrent pulls"

# ---------------------------------------------------------------- report
med() { median <"$RESULTS/$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
{
  echo "berth image cache benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(uname -r), runs=$RUNS"
  echo "image: $NLAYERS layers, $COMPRESSED bytes compressed ($((COMPRESSED / 1000000)) MB), $UNCOMPRESSED bytes uncompressed ($((UNCOMPRESSED / 1000000)) MB); registry docker-registry $(dpkg-query -W -f='${Version}' docker-registry) on 127.0.0.1"
  echo "peers: skopeo $(dpkg-query -W -f='${Version}' skopeo), containerd $(dpkg-query -W -f='${Version}' containerd), podman $(dpkg-query -W -f='${Version}' podman)"
  echo
  for n in berth-download skopeo-copy berth-pull ctr-pull podman-pull; do
    [ -s "$RESULTS/$n" ] || continue
    printf '%-16s wall median %6s ms  runs: %-34s CPU median %6s ms\n' "$n" "$(med $n)" "$(tr '\n' ' ' <"$RESULTS/$n")" "$(med $n-cpu)"
  done
  echo
  # paired: each run's berth time over the peer's time in the same run (the load drifts)
  paired() { paste "$RESULTS/$1" "$RESULTS/$2" | awk '{printf "%.3f\n", $1 / $2}' | median; }
  [ -s "$RESULTS/skopeo-copy" ] && echo "download only:   berth / skopeo = $(ratio "$(med berth-download)" "$(med skopeo-copy)") of medians, $(paired berth-download skopeo-copy) paired; CPU $(ratio "$(med berth-download-cpu)" "$(med skopeo-copy-cpu)")  (target <= 1.0)"
  [ -s "$RESULTS/ctr-pull" ] && echo "pull + unpack:   berth / ctr    = $(ratio "$(med berth-pull)" "$(med ctr-pull)") of medians, $(paired berth-pull ctr-pull) paired; CPU $(ratio "$(med berth-pull-cpu)" "$(med ctr-pull-cpu)")  (target <= 0.3)"
  [ -s "$RESULTS/podman-pull" ] && echo "pull + unpack:   berth / podman = $(ratio "$(med berth-pull)" "$(med podman-pull)") of medians, $(paired berth-pull podman-pull) paired; CPU $(ratio "$(med berth-pull-cpu)" "$(med podman-pull-cpu)")"
  echo "machine load during the run (1-min load average at the end): $(cut -d' ' -f1 /proc/loadavg) on $(nproc) cores"
  echo "warm, policy always:         $(med warm-always-api) ms in the library ($(med warm-always-cli) ms for the whole berth process), blob bytes $(sort -u "$RESULTS/warm-always-bytes" | tr '\n' ' ')(target < 10 ms, 0 bytes); the HEAD alone takes curl $(med warm-curl-head) ms"
  echo "warm, policy if-not-present: $(med warm-if-not-present-api) ms in the library ($(med warm-if-not-present-cli) ms for the whole process), blob bytes $(sort -u "$RESULTS/warm-if-not-present-bytes" | tr '\n' ' ')"
  read -r sb sf su sc <<<"$SHARED"
  echo "second image sharing all $NLAYERS layers of the first, plus one: $sb blob bytes fetched ($sf blobs: its config and its own layer), $su layer unpacked, $sc reused"
  echo "10 concurrent berth pull processes: $CONC_MS ms, $cfail failed; $CONC_GETS blob GETs for $((NLAYERS + 1)) blobs (max $CONC_MAX per blob), $((CONC_BYTES / 1000000)) MB sent by the registry"
} | tee "$WORK/results.txt"
