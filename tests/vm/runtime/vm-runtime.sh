#!/usr/bin/env bash
# vm-runtime.sh RUN-VM BERTH-RUNTIME GUEST : berth-runtime on a pure cgroup v2 host (a qemu
# guest booted with cgroup_no_v1=all, see tests/vm/README.md). The bundles' config.json are
# made here, from `berth-runtime spec`, and handed to the guest with the binary.
set -euo pipefail
run_vm=$1 rt=$(realpath "$2") guest=$3
command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 77; }
work=$(mktemp -d /tmp/berth-vm-runtime.XXXXXX)
trap 'rm -rf "$work"' EXIT
(cd "$work" && "$rt" spec)
mk() { # NAME JQ-FILTER
  jq "$2" "$work/config.json" >"$work/$1.json"
  files+=(--file "$work/$1.json:/berth/$1.json")
}
files=()
mk limits '.root.readonly=false | .linux.resources.memory={"limit":67108864} | .linux.resources.pids={"limit":32}
  | .process.args=["/bin/sh","-c","cat /proc/self/cgroup; cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; ls /sys/fs/cgroup/cgroup.controllers"]'
mk oom '.linux.resources.memory={"limit":33554432,"swap":0} | .process.args=["/bin/sh","-c","dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo rc=$?"]'
mk devices '.process.args=["/bin/sh","-c","mknod /dev/berth-sda b 8 0 && (head -c1 /dev/berth-sda >/dev/null 2>&1 && echo opened || echo denied); head -c1 /dev/zero | wc -c"]'
mk sleeper '.process.args=["/bin/sh","-c","sleep 1000 & sleep 1000 & wait"]'
mk caps '.process.args=["/bin/sh","-c","grep -E \"^(CapEff|NoNewPrivs|Seccomp):\" /proc/self/status | cut -f2 | tr \"\\n\" \" \""]'
# Not exec: the trap removes the work directory afterwards.
rc=0
"$run_vm" --name runtime --timeout 900 --bin "$rt" "${files[@]}" -- "$guest" || rc=$?
exit $rc
