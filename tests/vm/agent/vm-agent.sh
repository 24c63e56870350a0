#!/usr/bin/env bash
# vm-agent.sh RUN_VM BUILD_DIR GUEST_SCRIPT : berthd on pure cgroup v2, inside a qemu guest
# booted from Debian's kernel (tests/vm/README.md). Builds the busybox OCI image the agent's
# end-to-end tests use, then boots the guest with berthd, the CLI, the shim, the runtime,
# berth-init, the image and the kernel modules a task needs (overlayfs, veth, bridge,
# nftables; dummy and ipvlan for the lab-network check).
set -euo pipefail
run_vm=$1 build=$2 guest=$3
top=$(cd "$(dirname "$0")/../../.." && pwd)
export BERTH_BUILD_DIR=$build
layout=$(python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); from e2e import image_layout; print(image_layout())' \
  "$top/tests/e2e/agent")
mods=()
# crc32c_generic first: libcrc32c (nf_tables, nf_conntrack) asks the crypto API for crc32c
# when it loads (a soft dependency modules.dep does not list)
for m in crc32c_generic overlay veth bridge dummy ipvlan nf_tables nft_chain_nat nft_nat nft_masq nft_ct \
  nft_fib_inet nft_fib_ipv4 nft_fib_ipv6 nft_reject_inet nft_meta_bridge; do
  mods+=(--module "$m")
done
exec "$run_vm" --name agent --mem 1024 --timeout 1200 \
  --bin "$build/agent/daemon/berthd" --bin "$build/agent/cli/berth" --bin "$build/agent/shim/berth-shim" \
  --bin "$build/runtime/berth-runtime" --bin "$build/agent/init/berth-init" \
  --dir "$layout:/berth/layout" "${mods[@]}" -- "$guest"
