# Guest side of the cgroup v2 suite (run by tests/vm/run-vm.sh inside the VM): the same
# kernel checks as tests/integration/cgroups, on a kernel booted with cgroup_no_v1=all, so
# they meet cgroup.kill, cgroup.freeze, memory.events and the eBPF device program.
exec cgroups-kernel --expect unified "$@"
