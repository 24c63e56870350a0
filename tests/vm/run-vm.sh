#!/usr/bin/env bash
# tests/vm/run-vm.sh: runs a guest test script inside a qemu VM booted from Debian's kernel,
# for checks the host cannot give (pure cgroup v2 here). Shared by every module's VM tests
# (tests/vm/<module>/): see tests/vm/README.md.
#
#   run-vm.sh [--name NAME] [--bin FILE]... [--file SRC[:DST]]... [--dir SRC:DST]...
#             [--module NAME]... [--append ARGS] [--mem MB] [--smp N] [--timeout S]
#             -- GUEST_SCRIPT [ARG...]
#
# The kernel is the one linux-image-amd64 depends on, fetched with `apt-get download` and only
# extracted with dpkg-deb (nothing is installed, nothing touches /boot), cached in
# $BERTH_VM_CACHE (default /var/cache/berth-vm). The initramfs carries busybox-static, each
# --bin with the shared libraries ldd names (at the same paths), each --file and --dir, the
# kernel modules each --module needs (itself and what modules.dep says it depends on, loaded
# dependencies first by /init: Debian builds veth, bridge, overlay, nf_tables... as
# modules), and the guest script. The guest boots with cgroup_no_v1=all under TCG (no KVM on these machines), mounts
# proc, sys, devtmpfs, a tmpfs /tmp and cgroup2 at /sys/fs/cgroup, runs
#   sh GUEST_SCRIPT ARG...   (cwd /berth, PATH=/berth/bin:/bin)
# and powers off. Its output (serial console) is printed between markers, so a guest that
# prints TAP makes this a TAP test; the runner's own lines start with "# ".
# Exit status: the guest script's (77: skip); 1 when the VM fails (no exit marker, timeout);
# 77 when qemu is not installed.
set -euo pipefail

name=vm
bins=()
files=()
dirs=()
modules=()
append=""
mem=512
smp=1
timeout_s=600
while [ $# -gt 0 ]; do
  case "$1" in
  --name) name=$2; shift 2 ;;
  --bin) bins+=("$2"); shift 2 ;;
  --file) files+=("$2"); shift 2 ;;
  --dir) dirs+=("$2"); shift 2 ;;
  --module) modules+=("$2"); shift 2 ;;
  --append) append=$2; shift 2 ;;
  --mem) mem=$2; shift 2 ;;
  --smp) smp=$2; shift 2 ;;
  --timeout) timeout_s=$2; shift 2 ;;
  --) shift; break ;;
  *) echo "run-vm.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ $# -ge 1 ] || { echo "usage: run-vm.sh [options] -- GUEST_SCRIPT [ARG...]" >&2; exit 2; }
guest_script=$1
shift

say() { printf '# %s\n' "$*"; }
bail() { printf 'Bail out! %s\n' "$*"; exit 1; }

qemu=$(command -v qemu-system-x86_64 || true)
busybox=$(command -v busybox || true)
if [ -z "$qemu" ] || [ -z "$busybox" ]; then
  printf '1..0 # SKIP qemu-system-x86_64 or busybox is not installed (scripts/install-deps.sh)\n'
  exit 77
fi
for t in cpio gzip dpkg-deb apt-get ldd; do
  command -v "$t" >/dev/null || bail "$t is missing"
done
# busybox-static, not a dynamic busybox: the guest has no libraries of its own.
if ldd "$busybox" >/dev/null 2>&1; then
  bail "$busybox is dynamically linked; install busybox-static"
fi

# ---------------------------------------------------------------- the kernel (cached)
cache=${BERTH_VM_CACHE:-/var/cache/berth-vm}
mkdir -p "$cache"
exec 8>"$cache/.lock"
flock 8
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
if [ -z "$kpkg" ] && [ ! -e "$cache/.apt-updated" ]; then
  apt-get update -qq >/dev/null 2>&1 || true
  touch "$cache/.apt-updated"
  kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
fi
if [ -z "$kpkg" ]; then
  # No package index: use the newest kernel already cached, if any.
  kpkg=$(ls -1 "$cache" 2>/dev/null | grep '^linux-image-' | sort -V | tail -1 || true)
  [ -n "$kpkg" ] || bail "apt-cache knows no linux-image-amd64 and nothing is cached in $cache"
fi
kdir=$cache/$kpkg
if [ ! -s "$kdir/vmlinuz" ] || { [ ${#modules[@]} -gt 0 ] && [ ! -s "$kdir/modules/modules.dep" ]; }; then
  say "downloading $kpkg (apt-get download; extracted with dpkg-deb, not installed)"
  dl=$(mktemp -d "$cache/.dl.XXXXXX")
  (cd "$dl" && apt-get download -o APT::Sandbox::User=root "$kpkg" >/dev/null 2>&1) ||
    { rm -rf "$dl"; bail "apt-get download $kpkg failed"; }
  dpkg-deb -x "$dl"/*.deb "$dl/x"
  mkdir -p "$kdir.tmp"
  cp "$dl"/x/boot/vmlinuz-* "$kdir.tmp/vmlinuz"
  cp "$dl"/x/boot/config-* "$kdir.tmp/config"
  # the modules, with the modules.dep depmod writes for them (the package has none)
  command -v depmod >/dev/null || bail "depmod is missing (package kmod)"
  kver=$(ls "$dl/x/lib/modules")
  depmod -b "$dl/x" "$kver" || bail "depmod for $kpkg failed"
  mv "$dl/x/lib/modules/$kver" "$kdir.tmp/modules"
  echo "$kver" >"$kdir.tmp/modules/version"
  rm -rf "$dl" "$kdir"
  mv "$kdir.tmp" "$kdir"
fi
flock -u 8

# ---------------------------------------------------------------- the initramfs
work=$(mktemp -d "${TMPDIR:-/tmp}/berth-vm-$name.XXXXXX")
cleanup() { [ -n "${BERTH_VM_KEEP:-}" ] && say "kept $work" || rm -rf "$work"; }
trap cleanup EXIT
root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,run,etc,berth/bin}
cp "$busybox" "$root/bin/busybox"

copy_with_libs() { # FILE DESTDIR
  local f=$1 dest=$2 lib
  cp -L "$f" "$dest/"
  # ldd: "libx.so.1 => /lib/x86_64-linux-gnu/libx.so.1 (0x...)" and the loader's own line
  while read -r lib; do
    [ -n "$lib" ] || continue
    if [ ! -e "$root$lib" ]; then
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    fi
  done < <(ldd "$f" 2>/dev/null | awk '/=> \//{print $3} /^\t\/[^ ]+ \(/{print $1}')
}
for b in "${bins[@]}"; do
  [ -x "$b" ] || bail "--bin $b is not an executable"
  copy_with_libs "$b" "$root/berth/bin"
done
for spec in "${files[@]}"; do
  src=${spec%%:*}
  dst=${spec#*:}
  [ "$dst" != "$spec" ] || dst=/berth/$(basename "$src")
  mkdir -p "$root$(dirname "$dst")"
  cp -L "$src" "$root$dst"
done
for spec in "${dirs[@]}"; do
  src=${spec%%:*}
  dst=${spec#*:}
  [ -d "$src" ] && [ "$dst" != "$spec" ] || bail "--dir wants SRC:DST with SRC a directory ($spec)"
  mkdir -p "$root$dst"
  cp -a "$src/." "$root$dst/"
done
# --module: the closure over modules.dep, dependencies before dependents, in /berth/modules
if [ ${#modules[@]} -gt 0 ]; then
  mdir=$kdir/modules
  kver=$(cat "$mdir/version")
  declare -A loaded=()
  order=()
  mod_path() { # NAME -> kernel/.../NAME.ko (modules.dep key); - and _ are the same
    local n=${1//-/_} line
    while IFS= read -r line; do
      line=${line%%:*}
      local base=${line##*/}
      base=${base%.ko*}
      if [ "${base//-/_}" = "$n" ]; then echo "$line"; return 0; fi
    done <"$mdir/modules.dep"
    return 1
  }
  visit() { # PATH
    local p=$1 deps d
    [ -z "${loaded[$p]:-}" ] || return 0
    loaded[$p]=1
    deps=$(awk -v k="$p:" '$1 == k { $1 = ""; print; exit }' "$mdir/modules.dep")
    for d in $deps; do visit "$d"; done
    order+=("$p")
  }
  for m in "${modules[@]}"; do
    p=$(mod_path "$m") || bail "--module $m: no such module in $kpkg"
    visit "$p"
  done
  for p in "${order[@]}"; do
    mkdir -p "$root/lib/modules/$kver/$(dirname "$p")"
    cp "$mdir/$p" "$root/lib/modules/$kver/$p"
    echo "/lib/modules/$kver/$p"
  done >"$root/berth/modules"
fi
cp "$guest_script" "$root/berth/guest.sh"
cp "$(dirname "$0")/tap.sh" "$root/berth/tap.sh"
{
  printf 'set --'
  for a in "$@"; do
    case "$a" in *[!A-Za-z0-9_./=:,+-]*) bail "guest argument \`$a' needs quoting; keep guest arguments simple" ;; esac
    printf ' %s' "$a"
  done
  printf '\n'
} >"$root/berth/args"
cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/berth/bin:/bin HOME=/tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs -o mode=1777 tmp /tmp
mount -t tmpfs run /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
echo 1 >/proc/sys/kernel/printk
echo "root:x:0:0:root:/tmp:/bin/sh" >/etc/passwd
if [ -f /berth/modules ]; then
  for m in $(cat /berth/modules); do insmod "$m" || echo "insmod $m failed"; done
fi
echo "BERTH-VM-BEGIN $(uname -r) $(cut -d' ' -f1 /proc/uptime)"
cd /berth
. /berth/args
sh /berth/guest.sh "$@"
rc=$?
echo "BERTH-VM-EXIT $rc $(cut -d' ' -f1 /proc/uptime)"
sync
poweroff -f
EOF
chmod +x "$root/init"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) >"$work/initramfs.cpio.gz"
say "$name: kernel $kpkg, initramfs $(($(stat -c %s "$work/initramfs.cpio.gz") / 1024)) KiB"

# ---------------------------------------------------------------- boot
serial=$work/serial.log
t0=$(date +%s%N)
rc=0
timeout "$timeout_s" "$qemu" -accel tcg -machine pc -cpu max -m "$mem" -smp "$smp" \
  -nodefaults -no-user-config -nographic -nic none -monitor none -no-reboot \
  -serial "file:$serial" \
  -kernel "$kdir/vmlinuz" -initrd "$work/initramfs.cpio.gz" \
  -append "console=ttyS0 cgroup_no_v1=all panic=-1 quiet loglevel=1 $append" \
  >"$work/qemu.log" 2>&1 || rc=$?
t1=$(date +%s%N)

# Between the markers is the guest's own output.
# (firmware escape sequences may share the marker's line: match anywhere, keep what follows)
tr -d '\r' <"$serial" | awk '
  index($0, "BERTH-VM-BEGIN") { on = 1; next }
  index($0, "BERTH-VM-EXIT") { on = 0; next }
  on { print }'
exit_line=$(tr -d '\r' <"$serial" | grep -ao 'BERTH-VM-EXIT.*' | tail -1 || true)
begin_line=$(tr -d '\r' <"$serial" | grep -ao 'BERTH-VM-BEGIN.*' | tail -1 || true)
say "$name: qemu rc=$rc after $(((t1 - t0) / 1000000)) ms; guest: ${begin_line#BERTH-VM-BEGIN } .. ${exit_line#BERTH-VM-EXIT }"
if [ -z "$exit_line" ]; then
  [ "$rc" = 124 ] && say "timed out after ${timeout_s}s"
  say "qemu: $(tr -cd '[:print:]\n' <"$work/qemu.log" | tail -5 | tr '\n' ' ')"
  say "serial tail:"
  tr -cd '[:print:]\n' <"$serial" | tail -20 | sed 's/^/#   /'
  bail "the guest did not finish ($name)"
fi
set -- $exit_line
exit "$2"
