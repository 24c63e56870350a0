#!/usr/bin/env bash
# mkrootfs.sh DIR : a minimal busybox root filesystem for tests (Debian's busybox-static;
# there is no internet). Idempotent: an existing complete DIR is left as it is.
set -euo pipefail
dir=${1:?usage: mkrootfs.sh DIR}
[ -x "$dir/bin/busybox" ] && [ -e "$dir/.berth-rootfs-complete" ] && exit 0
bb=/bin/busybox
[ -x "$bb" ] || { echo "mkrootfs.sh: $bb missing (apt-get install busybox-static)" >&2; exit 1; }
file -L "$bb" 2>/dev/null | grep -q 'statically linked' || ldd "$bb" 2>&1 | grep -q 'not a dynamic' ||
  { echo "mkrootfs.sh: $bb is not static" >&2; exit 1; }
mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,etc,dev,proc,sys,tmp,root,var/tmp,home,run}
chmod 1777 "$dir/tmp" "$dir/var/tmp"
chmod 0700 "$dir/root"
install -m 0755 "$bb" "$dir/bin/busybox"
"$bb" --list-full | while read -r applet; do
  [ "$applet" = bin/busybox ] && continue
  mkdir -p "$dir/$(dirname "$applet")"
  ln -sf /bin/busybox "$dir/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nberth:x:1000:1000:berth test user:/home/berth:/bin/sh\n' >"$dir/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\nberth:x:1000:\nextra:x:2000:berth\n' >"$dir/etc/group"
: >"$dir/etc/hosts"
: >"$dir/etc/resolv.conf"
echo berth-test >"$dir/etc/hostname"
touch "$dir/.berth-rootfs-complete"
