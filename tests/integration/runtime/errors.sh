#!/usr/bin/env bash
# Bad or unsupported configurations, and requests this host cannot grant: create fails with
# an error that names the JSON path and the reason, and leaves nothing behind (no state
# directory, no cgroup, no process).
. "$(dirname "$0")/lib.sh"

n=0
# refused DESCRIPTION EXPECTED-ERROR-REGEX JQ-FILTER [JQ ARGS...]
refused() {
  local d=$1 want=$2 filter=$3
  shift 3
  n=$((n + 1))
  local id="bad$n-$ID_PREFIX" b
  b=$(mkbundle "bad$n" "$filter" "$@")
  if (cd "$b" && rt create "$id" </dev/null >"$WORK/out" 2>"$WORK/err"); then
    fail "$d: create succeeded"
    rt delete --force "$id" >/dev/null 2>&1 || true
    return
  fi
  expect_match "$d: error names the field" "$want" "$(cat "$WORK/err")"
  check "$d: no state left" test ! -e "$STATE/$id"
  expect_eq "$d: no cgroup left" "" "$(cgroup_dirs_of "$id")"
  expect_eq "$d: no process left" "" "$(pgrep -f "create $id" || true)"
}

b=$(mkbundle trunc '.')
printf '{"ociVersion":' >"$b/config.json"
(cd "$b" && ! rt create "trunc-$ID_PREFIX" 2>"$WORK/err")
expect_match "truncated config.json" "config.json: invalid JSON" "$(cat "$WORK/err")"
check "truncated config.json: no state left" test ! -e "$STATE/trunc-$ID_PREFIX"

refused "wrong type" 'process.args\[1\]: expected a string, got an integer' '.process.args=["sh",1]'
refused "ociVersion 2" 'ociVersion: `2.0.0` is not a runtime-spec 1.x' '.ociVersion="2.0.0"'
refused "unknown namespace type" 'linux.namespaces\[6\].type: unknown namespace type `foo`' '.linux.namespaces+=[{"type":"foo"}]'
refused "duplicate namespace" 'linux.namespaces\[6\].type: namespace `pid` is listed twice' '.linux.namespaces+=[{"type":"pid"}]'
refused "namespace path of the wrong kind" 'linux.namespaces\[network\].path: `/proc/self/ns/uts` is a uts namespace, not a network namespace' '(.linux.namespaces[] | select(.type=="network")) += {"path":"/proc/self/ns/uts"}'
refused "a read-only root without a mount namespace" 'root.readonly: needs a mount namespace' 'del(.linux.namespaces[] | select(.type=="mount"))'
refused "hostname without uts namespace" 'hostname: setting it needs a uts namespace' 'del(.linux.namespaces[] | select(.type=="uts"))'
refused "a mount helper option" 'mounts\[7\].options\[1\]: `x-systemd.automount` is a mount helper option' '.mounts+=[{"destination":"/x","type":"bind","source":"/tmp","options":["rbind","x-systemd.automount"]}]'
refused "filesystem option unknown to the kernel" 'mount `/x`: option `nosuchopt`' '.mounts+=[{"destination":"/x","type":"tmpfs","source":"tmpfs","options":["nosuchopt"]}]'
refused "idmapped mount" 'mounts\[7\].uidMappings: idmapped mounts are not supported' '.mounts+=[{"destination":"/x","type":"bind","source":"/tmp","options":["bind"],"uidMappings":[{"containerID":0,"hostID":1000,"size":1}]}]'
refused "seccomp listener" 'linux.seccomp.listenerPath: seccomp listeners are not supported' '.linux.seccomp.listenerPath="/run/x.sock"'
refused "seccomp notify action" 'SCMP_ACT_NOTIFY needs a seccomp listener' '.linux.seccomp.syscalls[0].action="SCMP_ACT_NOTIFY"'
refused "unknown capability" 'process.capabilities.bounding\[14\]: unknown capability `CAP_NOPE`' '.process.capabilities.bounding+=["CAP_NOPE"]'
refused "a capability this host cannot grant" 'process.capabilities.bounding: CAP_SYS_RESOURCE cannot be granted: it is not in this host.s capability bounding set' '.process.capabilities.bounding+=["CAP_SYS_RESOURCE"]'
hard=$(ulimit -Hn)
refused "an rlimit above the host's hard limit" 'process.rlimits\[0\]: the hard limit .* of RLIMIT_NOFILE is above this host.s hard limit .*CAP_SYS_RESOURCE' '.process.rlimits=[{"type":"RLIMIT_NOFILE","soft":1024,"hard":($h|tonumber+1)}]' --arg h "$hard"
refused "duplicate rlimit" 'process.rlimits\[1\].type: RLIMIT_NOFILE is set twice' '.process.rlimits+=[{"type":"RLIMIT_NOFILE","soft":1,"hard":1}]'
refused "non-namespaced sysctl" 'linux.sysctl.kernel.panic: `kernel.panic` is not a namespaced sysctl' '.linux.sysctl={"kernel.panic":"1"}'
refused "apparmor profile" 'process.apparmorProfile: AppArmor profiles are not supported' '.process.apparmorProfile="x"'
refused "missing root" 'root.path: `/nonexistent-root`' '.root.path="/nonexistent-root"'
refused "program not in the image" 'process.args\[0\]: `nosuchprogram`: executable file not found in \$PATH' '.process.args=["nosuchprogram"]'
refused "an absolute program path not in the image" 'process.args\[0\]: `/nonexistent`: No such file' '.process.args=["/nonexistent"]'
refused "cwd through a magic link" 'process.cwd: open `/proc/self/fd/0`' '.process.cwd="/proc/self/fd/0"'
refused "a masking source that is not /dev/null" 'linux.maskedPaths: /dev/null in the container is not the null device' '.mounts+=[{"destination":"/dev/null","type":"bind","source":"/etc/hostname","options":["bind"]}]'
refused "a failing prestart hook" 'prestart hook `/bin/false`: exited with status 1' '.hooks={"prestart":[{"path":"/bin/false"}]}'
refused "relative hook path" 'hooks.poststop\[0\].path: `false` is not an absolute path' '.hooks={"poststop":[{"path":"false"}]}'
refused "terminal without a console socket" 'process.terminal is true: --console-socket is required' '.process.terminal=true'
refused "user namespace without mappings" 'linux.uidMappings: a new user namespace needs mappings' '.linux.namespaces+=[{"type":"user"}]'
refused "VM config" 'vm: berth runs containers, not virtual machines' '.vm={"kernel":{"path":"/vmlinuz"}}'

expect_eq "state root holds nothing but the seccomp cache" "" "$(ls -A "$STATE" 2>/dev/null | grep -v "^.seccomp-cache$" || true)"
finish
