#!/usr/bin/env bash
# scripts/demo-runtime.sh : berth-runtime on its own. Installs what it needs, builds berth,
# makes a busybox bundle with `berth-runtime spec`, runs a container that shows what it can
# see (hostname, capabilities, seccomp, its own pid 1, its own mounts), then the same
# container driven step by step (create, state, start, exec, kill, delete), and removes
# everything it made.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
[ "$(id -u)" = 0 ] || { echo "demo-runtime.sh: run as root (sudo $0)" >&2; exit 1; }
step() { printf '\n== %s\n' "$*"; }

step "installing dependencies and building berth"
./scripts/install-deps.sh
if [ -f build/build.ninja ]; then meson setup --reconfigure build >/dev/null; else meson setup build >/dev/null; fi
meson compile -C build >/dev/null
rt=$top/build/runtime/berth-runtime

work=$(mktemp -d /tmp/berth-demo-runtime.XXXXXX)
chmod 755 "$work"
state=$work/state
cleanup() {
  for id in $("$rt" --root "$state" list -q 2>/dev/null); do "$rt" --root "$state" delete --force "$id"; done
  rm -rf "$work"
}
trap cleanup EXIT
R() { echo "+ berth-runtime $*" >&2; "$rt" --root "$state" "$@"; }

step "a bundle: a busybox root filesystem and the config.json of \`berth-runtime spec\`"
"$top/tests/lib/mkrootfs.sh" "$work/bundle/rootfs"
(cd "$work/bundle" && "$rt" spec)
jq '.hostname="berth-demo" | .process.args=["/bin/sh","-c",$probe]' --arg probe '
echo "hostname:      $(hostname)"
echo "user:          $(id)"
echo "processes:     $(ps -o pid,comm | tail -n +2 | tr -s " " | tr "\n" ";")"
echo "capabilities:  $(grep CapEff /proc/self/status | cut -f2)  (Docker'"'"'s 14)"
echo "no_new_privs:  $(grep NoNewPrivs /proc/self/status | cut -f2)   seccomp mode: $(grep ^Seccomp: /proc/self/status | cut -f2)"
echo "mounts:        $(cut -d" " -f5 /proc/self/mountinfo | sort | tr "\n" " ")"
echo "/proc/keys:    $(wc -c </proc/keys) bytes (masked with /dev/null)"
unshare -n true 2>/dev/null && echo "unshare:       allowed?!" || echo "unshare:       refused by seccomp"
' "$work/bundle/config.json" >"$work/bundle/c" && mv "$work/bundle/c" "$work/bundle/config.json"
echo "$work/bundle/config.json: $(jq -c '{process: {args: .process.args[0:2], capabilities: (.process.capabilities.bounding | length), noNewPrivileges: .process.noNewPrivileges}, namespaces: [.linux.namespaces[].type], seccomp: .linux.seccomp.defaultAction}' "$work/bundle/config.json")"

step "berth-runtime run: the container's view of itself"
(cd "$work/bundle" && R run demo </dev/null)
echo "host hostname: $(hostname) (unchanged)"

step "the same container step by step"
jq '.process.args=["/bin/sleep","300"]' "$work/bundle/config.json" >"$work/bundle/c" && mv "$work/bundle/c" "$work/bundle/config.json"
(cd "$work/bundle" && R create --pid-file "$work/pid" demo2 </dev/null >/dev/null)
R state demo2 | jq -c '{id, status, pid}'
R start demo2
R state demo2 | jq -c '{id, status, pid}'
R exec demo2 /bin/sh -c 'echo "exec inside: pid $$, sees $(ls -d /proc/[0-9]* | wc -l) processes"'
R ps demo2
R kill demo2 KILL
sleep 0.3
R state demo2 | jq -c '{id, status}'
R delete demo2
R list
step "done: nothing is left (state, cgroups, mounts and processes are gone)"
