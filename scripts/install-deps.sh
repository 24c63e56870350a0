#!/usr/bin/env bash
# Installs every build and test dependency of berth from Debian's archive.
# Safe to run again: only missing packages are installed; package postinst scripts
# are kept from starting daemons (docker-registry, containerd) while it runs.
set -euo pipefail

BUILD_PKGS=(
  gcc clang llvm lld meson ninja-build pkg-config git
  libjson-c-dev libseccomp-dev libcap-dev libbpf-dev bpftool
  libcurl4-openssl-dev libssl-dev libarchive-dev libmnl-dev libnftables-dev
  libmicrohttpd-dev libgnutls28-dev libsqlite3-dev libisal-dev libzstd-dev zlib1g-dev libcriterion-dev
  libclang-rt-14-dev musl-tools
)
TEST_PKGS=(
  busybox-static docker-registry apache2-utils python3 openssl curl jq
  iproute2 nftables util-linux procps psmisc time valgrind cpio gzip zstd
  qemu-system-x86 kmod hyperfine skopeo umoci crun runc
  golang-go golang-github-opencontainers-runtime-tools-dev
  containernetworking-plugins iptables systemd
  libcap2-bin
)

want=("${BUILD_PKGS[@]}")
[ "${1:-}" = --build-only ] || want+=("${TEST_PKGS[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
policy_added=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  policy_added=1
fi
trap '[ "$policy_added" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
