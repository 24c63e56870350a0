# Guest side of berth-runtime's cgroup v2 checks (tests/vm/runtime/vm-runtime.sh). pivot_root
# cannot leave the initramfs (its root mount has no parent), so the checks run chrooted in a
# recursive bind of it, as a host's root would be.
if [ "$1" != inner ]; then
  mkdir -p /newroot
  mount --rbind / /newroot
  exec chroot /newroot sh /berth/guest.sh inner
fi
. /berth/tap.sh
R() { berth-runtime --root /run/rt "$@"; }

# A busybox root filesystem for every bundle.
mkdir -p /tmp/rootfs/bin /tmp/rootfs/proc /tmp/rootfs/sys /tmp/rootfs/dev /tmp/rootfs/tmp
cp /bin/busybox /tmp/rootfs/bin/busybox
for a in sh cat ls dd head wc mknod grep cut tr sleep echo; do ln -s busybox /tmp/rootfs/bin/$a; done
bundle() { rm -rf /tmp/b; mkdir /tmp/b; ln -s /tmp/rootfs /tmp/b/rootfs; cp /berth/$1.json /tmp/b/config.json; }

echo "# $(uname -r), cgroup2 only: $(cat /sys/fs/cgroup/cgroup.controllers)"
bundle limits
out=$(R run -b /tmp/b lim 2>&1 | tr '\n' ' ')
eq "limits visible through the cgroup namespace and the cgroup2 mount" "0::/ 67108864 32 /sys/fs/cgroup/cgroup.controllers " "$out"
bundle oom
out=$(R run -b /tmp/b oom 2>&1)
eq "the OOM killer at memory.max" "rc=137" "$out"
bundle devices
out=$(R run -b /tmp/b dev 2>&1 | tr '\n' ' ')
eq "the eBPF device program denies a device outside the allow-list" "denied 1 " "$out"
bundle caps
out=$(R run -b /tmp/b caps 2>&1)
eq "capabilities, no_new_privs and seccomp as on v1" "00000000a80425fb 1 2 " "$out"

bundle sleeper
R create -b /tmp/b sl </dev/null >/dev/null 2>&1
pid=$(R state sl | sed -n 's/.*"pid":\([0-9]*\).*/\1/p')
cg=$(cut -d: -f3 /proc/$pid/cgroup)
eq "the first process was born in its cgroup (CLONE_INTO_CGROUP)" "$pid" "$(cat /sys/fs/cgroup$cg/cgroup.procs)"
R start sl
eventually "ps" 3 'R ps sl | tail -n +2 | wc -l'
R pause sl
eq "pause freezes the cgroup (cgroup.freeze)" "frozen 1" "$(grep frozen /sys/fs/cgroup$cg/cgroup.events)"
R resume sl
eq "resume thaws it" "frozen 0" "$(grep frozen /sys/fs/cgroup$cg/cgroup.events)"
echo '{"pids":{"limit":20}}' | R update --resources - sl
eq "update" 20 "$(cat /sys/fs/cgroup$cg/pids.max)"
R kill --all sl KILL
eventually "kill --all (cgroup.kill) stops every process" stopped \
  "R state sl | sed -n 's/.*\"status\":\"\\([a-z]*\\)\".*/\\1/p'"
R delete sl
if [ -d "/sys/fs/cgroup$cg" ]; then no "delete removes the cgroup"; else ok "delete removes the cgroup"; fi
echo "1..$n"
[ $fails = 0 ]
