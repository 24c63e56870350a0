#!/usr/bin/env bash
# The attacks a runtime must not let through: overwriting its binary from a container
# (CVE-2019-5736), mounts that leak to the host, device access outside the allow-list,
# setuid escalation under no_new_privs, and a readable host kernel state through /proc.
. "$(dirname "$0")/lib.sh"

b=$(mkbundle sleeper '.process.args=["/bin/sleep","1000"]')
id=sec-$ID_PREFIX
(cd "$b" && rt create "$id" </dev/null >/dev/null 2>&1)
pid=$(rt state "$id" | jq -r .pid)
# Until start, the container's first process is the runtime's code; its /proc/PID/exe must
# be a read-only view (a detached read-only bind, or a sealed memfd copy), never the host's
# file on a writable mount.
exe=$(readlink /proc/$pid/exe)
check "a created container's process does not run the host binary through a writable path ($exe)" \
  test "$exe" != "$(realpath "$RT_BIN")"
sum=$(sha256sum <"$RT_BIN")
(echo x >/proc/$pid/exe) 2>"$WORK/err" && fail "/proc/PID/exe of the container's process can be written" \
  || expect_match "/proc/PID/exe of the container's process cannot be opened for writing" \
    "Read-only file system|Operation not permitted" "$(cat "$WORK/err")"
expect_eq "the host binary is unchanged" "$sum" "$(sha256sum <"$RT_BIN")"
rt delete --force "$id"

# The CVE-2019-5736 shape: the container's program is a "#!/proc/self/exe" script, so the
# kernel runs whatever /proc/self/exe is at execve inside the container, then tries to
# write it. It must be the memfd copy.
img=$WORK/img
cp -a "$ROOTFS" "$img"
printf '#!/proc/self/exe\n' >"$img/evil"
chmod +x "$img/evil"
be=$(mkbundle evil '.root.path=$img | .root.readonly=false | .process.args=["/evil"]' --arg img "$img")
(cd "$be" && rt run "evil-$ID_PREFIX" </dev/null >"$WORK/evil.out" 2>&1) || true
expect_eq "a #!/proc/self/exe program cannot reach the host binary" "$sum" "$(sha256sum <"$RT_BIN")"

# A mount made inside the container (with CAP_SYS_ADMIN and no seccomp) stays inside.
bm=$(mkbundle mnt '.process.capabilities.bounding+=["CAP_SYS_ADMIN"] | .process.capabilities.effective+=["CAP_SYS_ADMIN"] | .process.capabilities.permitted+=["CAP_SYS_ADMIN"] | del(.linux.seccomp) | .root.readonly=false
  | .process.args=["/bin/sh","-c","mkdir -p /mnt/x && mount -t tmpfs berth-leak-test /mnt/x && echo mounted"]')
out=$(cd "$bm" && rt run "mnt-$ID_PREFIX" </dev/null 2>&1) || true
expect_eq "the container can mount inside" mounted "$out"
expect_eq "... and the mount does not reach the host" "" "$(grep berth-leak-test /proc/self/mountinfo || true)"

# Devices: a node outside the allow-list can be made (CAP_MKNOD) but not opened.
bd=$(mkbundle dev '.process.args=["/bin/sh","-c","mknod /dev/berth-sda b 8 0 && (head -c1 /dev/berth-sda >/dev/null 2>&1 && echo opened || echo denied); head -c1 /dev/zero | wc -c"]')
out=$(cd "$bd" && rt run "dev-$ID_PREFIX" </dev/null 2>&1 | tr '\n' ' ')
expect_eq "a block device outside the allow-list cannot be opened; /dev/zero can" "denied 1 " "$out"

# no_new_privs: a setuid root binary run by an unprivileged user gains nothing.
cp -a "$img" "$WORK/img2"
mkdir "$WORK/img2/suid"
cp "$WORK/img2/bin/busybox" "$WORK/img2/suid/busybox"
chmod 4755 "$WORK/img2/suid/busybox"
bs=$(mkbundle suid '.root.path=$img | .process.user={"uid":1000,"gid":1000} | .process.args=["/suid/busybox","id","-u"]' --arg img "$WORK/img2")
out=$(cd "$bs" && rt run "suid-$ID_PREFIX" </dev/null 2>&1) || true
expect_eq "a setuid binary does not make uid 1000 root under no_new_privs" 1000 "$out"

# Host kernel state: masked and read-only paths, sysrq, kernel keys, and /sys read-only.
bk=$(mkbundle kern '.process.args=["/bin/sh","-c","cat /proc/keys /proc/timer_list 2>/dev/null | wc -c; (echo 1 >/sys/kernel/profiling) 2>/dev/null && echo sys-writable || echo sys-readonly"]')
out=$(cd "$bk" && rt run "kern-$ID_PREFIX" </dev/null 2>&1 | tr '\n' ' ') || true
expect_eq "masked /proc files read empty; /sys is read-only" "0 sys-readonly " "$out"
# Keyrings are not namespaced: each container gets its own session keyring; with
# --no-new-keyring it keeps the caller's. keyring-probe (static) prints the session keyring.
probe=${BERTH_KEYRING_PROBE:?the keyring-probe helper}
cp "$probe" "$WORK/img2/keyring-probe"
bk=$(mkbundle keys '.root.path=$img | del(.linux.seccomp) | .process.args=["/keyring-probe"]' --arg img "$WORK/img2")
mine=$("$probe")
k1=$(cd "$bk" && rt run "k1-$ID_PREFIX" </dev/null 2>&1) || true
k2=$(cd "$bk" && rt run --no-new-keyring "k2-$ID_PREFIX" </dev/null 2>&1) || true
check "a container has a session keyring of its own ($k1, the caller's is $mine)" test -n "$k1" -a "$k1" != "$mine"
expect_eq "with --no-new-keyring it has the caller's" "$mine" "$k2"
finish
