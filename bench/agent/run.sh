#!/usr/bin/env bash
# run.sh [bench.py options] : berthd against the targets of issue 6, podman and conmon as the
# peers in the same run; prints a summary table (see docs/agent-bench.md for the method and
# the numbers). Needs root. Installs what it needs from Debian (podman, which brings conmon,
# runc and the CNI plugins; strace) and builds berth in build/ when it is not built.
#   RUNS=20 TASKS=200 IDLE=60 bench/agent/run.sh           the whole benchmark (~15 min)
#   bench/agent/run.sh --only start --runs 5                 one part, fewer rounds
#   BUILD=build-release bench/agent/run.sh                   another build directory
#   bench/agent/profile.py start|restart                     where the time goes (see its --help)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(realpath -m "${BUILD:-$top/build}")
[ "$(id -u)" = 0 ] || { echo "run.sh needs root (namespaces, cgroups, mounts, podman)" >&2; exit 2; }

missing=()
for p in podman conmon runc containernetworking-plugins strace python3 file; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2
fi

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$top" >&2
fi
meson compile -C "$build" agent/daemon/berthd agent/cli/berth agent/shim/berth-shim agent/init/berth-init \
  runtime/berth-runtime:executable >&2

export BERTH_BUILD_DIR=$build
exec python3 "$top/bench/agent/bench.py" "$@"
