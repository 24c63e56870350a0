#!/usr/bin/env bash
# What a process sees from inside a container made from berth-runtime's default spec:
# capabilities, no_new_privs, seccomp, identity, hostname, rlimits, masked and read-only
# paths, /dev, inherited fds, other processes and the host's mounts.
. "$(dirname "$0")/lib.sh"

# An fd the test's shell leaks on purpose (no close-on-exec): the container must not get it.
exec 7</etc/hostname

probe='
st() { grep "^$1:" /proc/self/status | cut -f2; }
echo "capeff=$(st CapEff) capbnd=$(st CapBnd) capprm=$(st CapPrm) capinh=$(st CapInh) capamb=$(st CapAmb)"
echo "nnp=$(st NoNewPrivs) seccomp=$(st Seccomp)"
echo "uid=$(id -u) gid=$(id -g) groups=$(st Groups)"
echo "hostname=$(hostname)"
echo "nofile=$(ulimit -n)"
echo "kcore=$(cat /proc/kcore 2>/dev/null | wc -c) firmware=$(ls -A /sys/firmware 2>/dev/null | wc -l)"
(echo x >/proc/sysrq-trigger) 2>/dev/null && echo sysrq=writable || echo sysrq=readonly
(echo 1 >/proc/sys/vm/overcommit_memory) 2>/dev/null && echo procsys=writable || echo procsys=readonly
(touch /berth-root-test) 2>/dev/null && echo root=writable || echo root=readonly
echo "dev=$(ls /dev | tr "\n" " ")"
n=; for i in $(seq 3 64); do [ -e /proc/1/fd/$i ] && n="$n,$i"; done; echo "extrafds=${n:-none}"
echo "pid1=$(cat /proc/1/comm) maxpid=$(ls -d /proc/[0-9]* | sed "s,/proc/,," | sort -n | tail -1)"
[ -e /proc/$HOSTPID ] && echo hostpid=visible || echo hostpid=hidden
echo "mounts=$(cut -d" " -f5 /proc/self/mountinfo | sort | tr "\n" " ")"
echo "nullmajmin=$(stat -c %t:%T /dev/null)"
'
b=$(mkbundle iso '.process.args=["/bin/sh","-c",$probe] | .process.env+=["HOSTPID=\($pid)"]' --arg probe "$probe" --arg pid "$$")
out=$(cd "$b" && rt run "iso-$ID_PREFIX" </dev/null 2>&1)
echo "$out" | sed 's/^/# /'
val() { printf '%s\n' "$out" | tr ' ' '\n' | sed -n "s/^$1=//p" | sed -n 1p; }

# Docker's 14 capabilities are bits 0-8, 10, 13, 18, 27, 29, 31 = 0xa80425fb.
expect_eq "effective capabilities are Docker's 14" 00000000a80425fb "$(val capeff)"
expect_eq "bounding set is Docker's 14" 00000000a80425fb "$(val capbnd)"
expect_eq "permitted set is Docker's 14" 00000000a80425fb "$(val capprm)"
expect_eq "no inheritable capabilities" 0000000000000000 "$(val capinh)"
expect_eq "no ambient capabilities" 0000000000000000 "$(val capamb)"
expect_eq "no_new_privs is set" 1 "$(val nnp)"
expect_eq "seccomp filter mode" 2 "$(val seccomp)"
expect_eq "uid 0" 0 "$(val uid)"
expect_eq "gid 0" 0 "$(val gid)"
expect_eq "hostname from the spec" berth "$(val hostname)"
expect_eq "RLIMIT_NOFILE from the spec" 1024 "$(val nofile)"
expect_eq "masked /proc/kcore reads nothing" 0 "$(val kcore)"
expect_eq "masked /sys/firmware is empty" 0 "$(val firmware)"
expect_eq "read-only /proc/sysrq-trigger" readonly "$(val sysrq)"
expect_eq "read-only /proc/sys" readonly "$(val procsys)"
expect_eq "read-only root" readonly "$(val root)"
expect_eq "/dev/null is 1:3" 1:3 "$(val nullmajmin)"
dev=$(printf '%s\n' "$out" | sed -n 's/^dev=//p')
expect_eq "/dev from scratch" "fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero " "$dev"
expect_eq "only stdio in the container's first process (fd 7 leaked by the caller is gone)" none "$(val extrafds)"
expect_eq "pid 1 is the container's process" sh "$(val pid1)"
maxpid=$(val maxpid)
check "no host processes visible (highest pid $maxpid)" test "$maxpid" -lt 1000
expect_eq "the test's own process is not visible" hidden "$(val hostpid)"
mounts=$(printf '%s\n' "$out" | sed -n 's/^mounts=//p')
bad=$(printf '%s\n' $mounts | grep -Ev '^/($|proc|dev|sys)' || true)
expect_eq "no host mount points in the container" "" "$bad"

# --preserve-fds: fd 3 (and only it) reaches the container.
exec 3<"$TOP/README.md"
b=$(mkbundle pfd '.process.args=["/bin/sh","-c","head -c 7 <&3; echo; [ -e /proc/self/fd/4 ] && echo fd4-leaked || echo fd4-closed"]')
out=$(cd "$b" && rt run --preserve-fds 1 "pfd-$ID_PREFIX" </dev/null 2>&1 | tr '\n' ' ') || true
exec 3<&-
expect_eq "--preserve-fds 1 passes fd 3 and nothing above it" "# berth fd4-closed " "$out"

# Identity from process.user.
b=$(mkbundle user '.process.user={"uid":1000,"gid":1000,"additionalGids":[2000,3000],"umask":63}
  | .process.args=["/bin/sh","-c","echo $(id -u) $(id -g) $(grep ^Groups: /proc/self/status | cut -f2) $(umask) $(grep ^CapEff: /proc/self/status | cut -f2)"]')
out=$(cd "$b" && rt run "user-$ID_PREFIX" </dev/null 2>&1)
# execve gives a non-root user no capabilities unless they are ambient (capabilities(7)).
expect_eq "uid, gid, additional groups, umask; a non-root user ends with no capabilities" "1000 1000 2000 3000 0077 0000000000000000" "$out"

# Capabilities and rlimits from the spec, not the defaults.
b=$(mkbundle caps '.process.capabilities={"bounding":["CAP_KILL","CAP_CHOWN"],"effective":["CAP_KILL"],"permitted":["CAP_KILL","CAP_CHOWN"],"inheritable":["CAP_KILL"],"ambient":["CAP_KILL"]}
  | .process.rlimits=[{"type":"RLIMIT_NOFILE","soft":100,"hard":200},{"type":"RLIMIT_NPROC","soft":50,"hard":60}]
  | .process.args=["/bin/sh","-c","for f in CapBnd CapEff CapPrm CapInh CapAmb; do grep ^$f: /proc/self/status | cut -f2; done | tr \"\\n\" \" \"; ulimit -n; ulimit -Hn; ulimit -u"]')
out=$(cd "$b" && rt run "caps-$ID_PREFIX" </dev/null 2>&1 | tr '\n' ' ')
# For uid 0, execve makes the effective set the whole permitted set (capabilities(7)).
expect_eq "the capability sets and rlimits as configured" "0000000000000021 0000000000000021 0000000000000021 0000000000000020 0000000000000020 100 200 50 " "$out"

# Without no_new_privs the filter is loaded before the capabilities go (needs CAP_SYS_ADMIN).
b=$(mkbundle nonnp '.process.noNewPrivileges=false | .process.args=["/bin/sh","-c","grep -E \"^(NoNewPrivs|Seccomp):\" /proc/self/status | cut -f2 | tr \"\\n\" \" \""]')
out=$(cd "$b" && rt run "nonnp-$ID_PREFIX" </dev/null 2>&1)
expect_eq "seccomp without no_new_privs" "0 2 " "$out"

# The default seccomp profile: EPERM for a denied call, ENOSYS for clone3.
b=$(mkbundle sc '.process.capabilities.bounding+=["CAP_SYS_ADMIN"] | .process.args=["/bin/sh","-c","unshare -n true 2>&1; echo rc=$?"]')
out=$(cd "$b" && rt run "sc-$ID_PREFIX" </dev/null 2>&1 | tr '\n' ' ')
expect_match "unshare is denied by the profile (CAP_SYS_ADMIN only in the bounding set)" "Operation not permitted.*rc=1" "$out"

finish
