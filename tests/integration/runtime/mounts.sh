#!/usr/bin/env bash
# config.json mounts: binds (file and directory, relative source, ro, rbind, propagation),
# filesystem options reaching the kernel, options without effect on a bind reported, and
# mount destinations that an image tries to redirect with symlinks.
. "$(dirname "$0")/lib.sh"

mkdir -p "$WORK/src/sub" "$WORK/bundle-rel"
echo file-content >"$WORK/src/file"
echo inner >"$WORK/src/sub/inner"
# The image: /escape is a symlink out of the root; a mount on it must stay inside.
img=$WORK/img
cp -a "$ROOTFS" "$img"
ln -s /../../../../../../tmp "$img/escape"

b=$(mkbundle m '.root.path=$img | .root.readonly=false
  | .mounts+=[
    {"destination":"/data","type":"bind","source":$src,"options":["bind","ro"]},
    {"destination":"/data-rw","type":"bind","source":$src,"options":["rbind","rw"]},
    {"destination":"/etc/berth-file","type":"bind","source":($src+"/file"),"options":["bind","ro"]},
    {"destination":"/scratch","type":"tmpfs","source":"tmpfs","options":["size=1m","mode=700","noexec"]},
    {"destination":"/escape/inside","type":"tmpfs","source":"tmpfs","options":["size=1m"]},
    {"destination":"/opts","type":"bind","source":$src,"options":["bind","mode=755","size=1k"]}]
  | .process.args=["/bin/sh","-c","cat /data/file; cat /data/sub/inner; (echo x > /data/new) 2>/dev/null && echo data=rw || echo data=ro; (echo x > /data-rw/new) && echo datarw=rw; cat /etc/berth-file; stat -c %a /scratch; grep \" /scratch \" /proc/self/mountinfo | grep -c noexec; grep -c \" /escape/inside \" /proc/self/mountinfo; ls -d /tmp/inside 2>/dev/null || echo not-in-tmp"]' \
  --arg img "$img" --arg src "$WORK/src")
out=$(cd "$b" && rt run "m-$ID_PREFIX" </dev/null 2>"$WORK/err" | tr '\n' ' ')
expect_eq "bind mounts, ro and rw, file bind, tmpfs options" "file-content inner data=ro datarw=rw file-content 700 1 0 /tmp/inside " "$out"
check "the write through the rw bind reached the source" test -f "$WORK/src/new"
check "the mount on a symlink that points outside the root stayed inside it" test ! -e /tmp/inside
expect_match "options without effect on a bind are reported" 'mounts\[12\].options\[1\]: `mode=755` has no effect on a bind mount' "$(cat "$WORK/err")"

# A relative bind source is relative to the bundle.
mkdir -p "$b/relsrc"
echo rel >"$b/relsrc/f"
jq '.mounts+=[{"destination":"/rel","type":"bind","source":"relsrc","options":["bind"]}] | .process.args=["cat","/rel/f"]' "$b/config.json" >"$b/c" && mv "$b/c" "$b/config.json"
out=$(cd "$b" && rt run "rel-$ID_PREFIX" </dev/null 2>/dev/null)
expect_eq "relative bind source" rel "$out"

# Nothing a container mounted is left on the host.
expect_eq "no mount of the test left on the host" "" "$(grep -F "$WORK" /proc/self/mountinfo || true)"
finish
