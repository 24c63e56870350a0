#!/usr/bin/env bash
# bench.sh [RUNS] : start-to-exit time and peak RSS of /bin/true in one busybox bundle with
# berth-runtime, crun and runc, interleaved round by round (the order rotates each round),
# all timed by the same launcher (bench-exec). Prints medians and ratios.
#   BERTH_RUNTIME  the binary (default build/runtime/berth-runtime)
# crun 1.8.1 refuses this host's hybrid cgroup layout, so it runs in a private mount
# namespace where the cgroup2 tree is covered by an empty tmpfs (a "legacy" view) and the
# memory hierarchy is our own memory cgroup bound over it (so crun's cgroups nest under it).
# berth-runtime and runc run in the host's mount namespace. Nothing is left behind.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-100}
warmup=3
berth=$(realpath "${BERTH_RUNTIME:-$top/build/runtime/berth-runtime}")
launcher=$top/build/bench/runtime/bench-runtime-exec
for b in "$berth" "$launcher"; do [ -x "$b" ] || { echo "$b: not built (meson compile -C build)" >&2; exit 2; }; done
for p in crun runc jq; do command -v $p >/dev/null || { echo "$p missing (scripts/install-deps.sh)" >&2; exit 2; }; done
[ "$(id -u)" = 0 ] || { echo "bench.sh needs root" >&2; exit 2; }

work=$(mktemp -d /var/tmp/berth-bench-runtime.XXXXXX)
# State roots on tmpfs, where every runtime keeps them by default (/run/runc, /run/crun,
# /run/berth-runtime): berth's atomic state writes fsync, which costs nothing there.
run=$(mktemp -d /run/berth-bench-runtime.XXXXXX)
nsdir=$work/ns
cleanup() {
  set +e
  for rt in berth crun runc; do
    for id in $(ls "$run/state-$rt" 2>/dev/null); do
      case $rt in
        berth) "$berth" --root "$run/state-berth" delete --force "$id" ;;
        crun) "$launcher" "$nsdir/crun" crun --root "$run/state-crun" delete --force "$id" ;;
        runc) runc --root "$run/state-runc" delete --force "$id" ;;
      esac >/dev/null 2>&1
    done
  done
  umount "$nsdir/crun" 2>/dev/null
  umount "$nsdir" 2>/dev/null
  rm -rf "$work" "$run"
}
trap cleanup EXIT

"$top/tests/lib/mkrootfs.sh" "$work/rootfs"
mkdir -p "$work/bundle" "$run/state-berth" "$run/state-crun" "$run/state-runc" "$nsdir"
(cd "$work/bundle" && "$berth" spec)
jq --arg r "$work/rootfs" '.root.path=$r | .process.args=["/bin/true"]' "$work/bundle/config.json" \
  >"$work/bundle/c" && mv "$work/bundle/c" "$work/bundle/config.json"

# crun's private mount namespace, kept alive by a bind mount of its nsfs file.
mount --bind "$nsdir" "$nsdir"
mount --make-private "$nsdir"
touch "$nsdir/crun"
memcg=$(awk -F: '$2=="memory"{print $3}' /proc/self/cgroup)
unshare --mount="$nsdir/crun" --propagation private /bin/sh -c '
  set -e
  if [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
    mount -t tmpfs -o size=1m,mode=0755 berth-bench-hide-cgroup2 /sys/fs/cgroup/unified
  fi
  if [ -n "$1" ] && [ "$1" != / ] && [ -d "/sys/fs/cgroup/memory$1" ]; then
    mount --bind "/sys/fs/cgroup/memory$1" /sys/fs/cgroup/memory
  fi' sh "$memcg"

run_one() { # RUNTIME N -> "ns rss status"
  local id="b$$-$1-$2"
  case $1 in
    berth) "$launcher" - "$berth" --root "$run/state-berth" run -b "$work/bundle" "$id" ;;
    crun) "$launcher" "$nsdir/crun" crun --root "$run/state-crun" run -b "$work/bundle" "$id" ;;
    runc) "$launcher" - runc --root "$run/state-runc" run -b "$work/bundle" "$id" ;;
  esac
}

echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) cpus; $runs runs each after $warmup warm-up rounds"
echo "# $("$berth" --version | head -1); $(crun --version | head -1); $(runc --version | head -1)"
order=(berth crun runc)
for ((i = 0; i < runs + warmup; i++)); do
  for ((k = 0; k < 3; k++)); do
    rt=${order[$(((i + k) % 3))]}
    read -r ns rss st < <(run_one "$rt" "$i")
    [ "$st" = 0 ] || { echo "$rt run $i exited with $st" >&2; exit 1; }
    [ $i -ge $warmup ] && echo "$rt $ns $rss" >>"$work/samples"
  done
done

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) printf "%d\n", a[(NR+1)/2]; else printf "%d\n", (a[NR/2]+a[NR/2+1])/2}'; }
declare -A med rss
for rt in berth crun runc; do
  med[$rt]=$(awk -v r=$rt '$1==r{print $2}' "$work/samples" | median)
  rss[$rt]=$(awk -v r=$rt '$1==r{print $3}' "$work/samples" | median)
  p90=$(awk -v r=$rt '$1==r{print $2}' "$work/samples" | sort -n | awk '{a[NR]=$1} END {print a[int(NR*0.9)]}')
  maxrss=$(awk -v r=$rt '$1==r{print $3}' "$work/samples" | sort -n | tail -1)
  printf '%-6s median %7.2f ms  p90 %7.2f ms  peak RSS median %5d KiB (max %d KiB)\n' "$rt" \
    "$(echo "${med[$rt]} / 1000000" | bc -l)" "$(echo "$p90 / 1000000" | bc -l)" "${rss[$rt]}" "$maxrss"
done
printf 'berth/crun time %.2f  berth/runc time %.2f  berth/crun RSS %.2f\n' \
  "$(echo "${med[berth]} / ${med[crun]}" | bc -l)" "$(echo "${med[berth]} / ${med[runc]}" | bc -l)" \
  "$(echo "${rss[berth]} / ${rss[crun]}" | bc -l)"
