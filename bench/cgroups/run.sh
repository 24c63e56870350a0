#!/usr/bin/env bash
# bench/cgroups/run.sh [BUILD_DIR] : the cgroups benchmarks, with the peer in the same run.
#   1. stats of 1000 cgroups (one process each): berth's reader (files opened per read, and
#      kept open), a naive fopen/fscanf reader of the same files, and runc: `runc events
#      --stats` on one running container, timed per call and scaled to 1000 (what an agent
#      that asks runc per container pays). Rounds interleave berth and runc.
#   2. create + apply (memory, pids, cpu) + destroy: berth, and the same mkdir/write/rmdir by
#      hand with no checks (the floor).
# Needs root, runc, jq and busybox-static; leaves nothing behind (trap).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
bench=$build/bench/cgroups/bench-cgroups
[ -x "$bench" ] || { echo "run.sh: $bench missing (meson compile -C $build)" >&2; exit 1; }
command -v runc >/dev/null && command -v jq >/dev/null || { echo "run.sh: needs runc and jq" >&2; exit 1; }
ROUNDS=${ROUNDS:-5}
N=${N:-1000}
RUNC_CALLS=${RUNC_CALLS:-30}

work=$(mktemp -d /tmp/berth-bench-cgroups.XXXXXX)
id=berth-bench-cgroups-$$
runc_root=$work/runc-root
cleanup() {
  runc --root "$runc_root" kill "$id" KILL >/dev/null 2>&1 || true
  runc --root "$runc_root" delete -f "$id" >/dev/null 2>&1 || true
  # runc removes the container's cgroup but not the parent its relative cgroupsPath made
  local own d
  while IFS=: read -r _ ctrl own; do
    for d in /sys/fs/cgroup/*/"${own#/}"/berth-bench-runc-$$ /sys/fs/cgroup/"${own#/}"/berth-bench-runc-$$; do
      [ -d "$d" ] && rmdir "$d" 2>/dev/null || true
    done
  done </proc/self/cgroup
  for d in /sys/fs/cgroup/*/berth-bench-runc-$$; do [ -d "$d" ] && rmdir "$d" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

median() { sort -g | awk '{a[NR]=$1} END{ if(NR%2){print a[(NR+1)/2]} else {printf "%.3f\n",(a[NR/2]+a[NR/2+1])/2} }'; }

echo "== $(date -u +%FT%TZ) $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); $(runc --version | head -1)"

# ---------------------------------------------------------------- a runc container
"$top/tests/lib/mkrootfs.sh" "$work/bundle/rootfs" >/dev/null
(cd "$work/bundle" && runc spec)
jq --arg cg "berth-bench-runc-$$/c" '.process.args = ["/bin/sleep", "100000"] | .process.terminal = false
  | .root.readonly = true | .linux.cgroupsPath = $cg
  | .linux.resources.memory = {"limit": 268435456} | .linux.resources.pids = {"limit": 64}' \
  "$work/bundle/config.json" >"$work/bundle/config.json.new"
mv "$work/bundle/config.json.new" "$work/bundle/config.json"
runc --root "$runc_root" run -d --bundle "$work/bundle" "$id" </dev/null >/dev/null 2>&1
runc --root "$runc_root" events --stats "$id" | jq -c '{memory: .data.memory.usage.usage, pids: .data.pids.current}' |
  sed 's/^/runc events --stats sample: /'

runc_ms=()
berth_lines=()
for ((r = 1; r <= ROUNDS; r++)); do
  berth_lines+=("$("$bench" stats "$N" 3 | tail -1)")
  for ((k = 0; k < RUNC_CALLS; k++)); do
    t0=$(date +%s%N)
    runc --root "$runc_root" events --stats "$id" >/dev/null
    t1=$(date +%s%N)
    runc_ms+=("$(echo "($t1 - $t0) / 1000000" | bc -l)")
  done
done
runc_med=$(printf '%s\n' "${runc_ms[@]}" | median)
echo "== stats, $ROUNDS rounds interleaved"
printf '%s\n' "${berth_lines[@]}" | sed 's/^/berth: /'
berth_med=$(printf '%s\n' "${berth_lines[@]}" | sed -E 's/.*: berth ([0-9.]+) ms.*/\1/' | median)
kept_med=$(printf '%s\n' "${berth_lines[@]}" | sed -E 's/.*keeping files open ([0-9.]+) ms.*/\1/' | median)
naive_med=$(printf '%s\n' "${berth_lines[@]}" | sed -E 's/.*fscanf ([0-9.]+) ms.*/\1/' | median)
printf 'runc events --stats: median %.2f ms per container (%d calls) -> %.0f ms for %d containers\n' \
  "$runc_med" "${#runc_ms[@]}" "$(echo "$runc_med * $N" | bc -l)" "$N"
printf 'SUMMARY stats of %d cgroups (medians of the round medians): berth %.1f ms, berth kept-open %.1f ms, naive %.1f ms, runc (scaled) %.0f ms; runc/berth %.0fx, runc/berth-kept %.0fx, naive/berth %.1fx\n' \
  "$N" "$berth_med" "$kept_med" "$naive_med" "$(echo "$runc_med * $N" | bc -l)" \
  "$(echo "$runc_med * $N / $berth_med" | bc -l)" "$(echo "$runc_med * $N / $kept_med" | bc -l)" \
  "$(echo "$naive_med / $berth_med" | bc -l)"

echo "== create + apply + destroy"
"$bench" lifecycle 200 "$ROUNDS" | tail -1
