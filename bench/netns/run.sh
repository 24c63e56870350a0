#!/usr/bin/env bash
# bench/netns/run.sh [BUILD_DIR] [ROUNDS] [N] : berth's task networks against the CNI
# reference plugins (Debian containernetworking-plugins: bridge + host-local, ipMasq), in the
# same run, interleaved round by round; then N task networks on one host. Root; everything
# happens in private namespaces the benchmark makes (see bench-netns.c).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
rounds=${2:-30}
n=${3:-1000}
cni=/usr/lib/cni
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root" >&2; exit 1; }
[ -x "$cni/bridge" ] && [ -x "$cni/host-local" ] ||
  { echo "run.sh: install containernetworking-plugins (scripts/install-deps.sh)" >&2; exit 1; }
meson compile -C "$build" bench-netns berth >/dev/null
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "CNI plugins: $(dpkg-query -W -f='${Version}' containernetworking-plugins 2>/dev/null)"
"$build/bench/netns/bench-netns" compare "$rounds" "$PWD/$build/agent/cli/berth" "$cni"
"$build/bench/netns/bench-netns" scale "$n"
