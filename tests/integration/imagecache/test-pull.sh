#!/usr/bin/env bash
# Pulls from Debian's docker-registry on 127.0.0.1 with images built here from busybox:
# one layer; several layers with file and directory whiteouts, an opaque directory,
# overwrites, a re-created file, hardlinks, symlinks, a long path, non-root owners, file
# capabilities, setuid, a FIFO and mtimes (checked file by file on the mounted rootfs and
# in the unpacked layers); an OCI index with two platforms; Docker v2 schema 2; zstd and
# uncompressed layers; pull policies; warm pulls; a shared base layer; registry errors.
. "$(dirname "$0")/lib.sh"

L1=$(printf 'd%.0s' {1..120}); L2=$(printf 'e%.0s' {1..120}); L3=$(printf 'f%.0s' {1..120})
LONG="opt/long/$L1/$L2/$L3/file-with-a-long-path.txt"
cat >"$T/spec.json" <<EOF
{"images": [
 {"tag": "single", "layers": [{"busybox": true}]},
 {"tag": "base2", "layers": [{"busybox": true}, {"entries": [{"path": "extra.txt", "content": "second image\n"}]}]},
 {"tag": "zstd", "layers": [{"busybox": true, "compression": "zstd"}, {"compression": "zstd", "entries": [{"path": "z.txt", "content": "zstd layer\n"}]}]},
 {"tag": "plain", "layers": [{"busybox": true, "compression": "none"}, {"compression": "none", "entries": [{"path": "p.txt", "content": "plain layer\n"}]}]},
 {"tag": "cfg", "config": {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo hi"], "Env": ["PATH=/bin", "A=b c"],
   "WorkingDir": "/srv", "User": "1000:1000", "ExposedPorts": {"8080/tcp": {}}, "StopSignal": "SIGQUIT",
   "Labels": {"org.example": "yes"}, "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 5000000000, "Retries": 3}},
  "layers": [{"busybox": true}]},
 {"tag": "multiarch", "index": [
   {"platform": "linux/amd64", "layers": [{"busybox": true}]},
   {"platform": "linux/arm64/v8", "layers": [{"entries": [{"path": "arch.txt", "content": "arm64\n"}]}]}]},
 {"tag": "multi", "layers": [
  {"busybox": true, "entries": [
   {"path": "etc/app", "type": "dir"},
   {"path": "etc/app/keep.txt", "content": "v1 keep\n"},
   {"path": "etc/app/delete-me.txt", "content": "delete me\n"},
   {"path": "data", "type": "dir"}, {"path": "data/old.txt", "content": "old data\n"},
   {"path": "data/sub", "type": "dir"}, {"path": "data/sub/deep.txt", "content": "deep\n"},
   {"path": "opt", "type": "dir"}, {"path": "opt/app", "type": "dir"},
   {"path": "opt/app/old1.txt", "content": "old1\n"},
   {"path": "opt/app/old-dir", "type": "dir"}, {"path": "opt/app/old-dir/x", "content": "x\n"},
   {"path": "srv", "type": "dir"}]},
  {"entries": [
   {"path": "etc/app/.wh.delete-me.txt"},
   {"path": ".wh.data"},
   {"path": "opt/app", "type": "dir"}, {"path": "opt/app/.wh..wh..opq"},
   {"path": "opt/app/new.txt", "content": "new\n"},
   {"path": "etc/app/keep.txt", "content": "v2 keep\n"},
   {"path": "etc/app/hardlink-to-keep", "type": "hardlink", "target": "etc/app/keep.txt"},
   {"path": "etc/app/symlink-to-keep", "type": "symlink", "target": "keep.txt"},
   {"path": "srv/user-file", "content": "owned by berth\n", "uid": 1000, "gid": 1000, "mode": "0640"},
   {"path": "srv/berth-dir", "type": "dir", "uid": 1000, "gid": 1000, "mode": "0750"},
   {"path": "$LONG", "content": "far away\n"},
   {"path": "bin/cap-file", "content": "caps\n", "mode": "0755",
    "xattrs": {"security.capability": "hex:0100000200200000000000000000000000000000"}},
   {"path": "etc/app/user-xattr", "content": "x\n", "xattrs": {"user.berth": "hello"}},
   {"path": "usr/bin/suid-file", "content": "suid\n", "mode": "4755"},
   {"path": "run/fifo", "type": "fifo", "mode": "0600"},
   {"path": "etc/app/mtime-file", "content": "old\n", "mtime": 1234567890}]},
  {"entries": [
   {"path": "etc/app/delete-me.txt", "content": "re-created in layer 3\n"},
   {"path": "data", "type": "dir"}, {"path": "data/new.txt", "content": "new data\n"}]}]}
]}
EOF
build "$T/spec.json" "$T/layout" || { echo "FAIL: image build"; exit 1; }
reg_start plain || exit 1
R=127.0.0.1:$REG_PORT
insecure "$R"
for t in single base2 zstd plain cfg multi; do reg_push "$T/layout" $t "$R/test/$t:latest" || bad "push $t"; done
reg_push "$T/layout" multiarch "$R/test/multiarch:latest" --all || bad "push multiarch"
reg_push "$T/layout" single "$R/test/docker:latest" --format v2s2 || bad "push docker v2s2"

layer_dir() { # REF INDEX -> the unpacked layer directory
  local chain
  chain=$("$BERTH" image inspect "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["layers"][int(sys.argv[1])]["chain_id"])' "$2")
  echo "$BERTH_IMAGE_ROOT/layers/${chain#sha256:}/diff"
}
inspect_q() { # REF PYTHON-EXPR over i (the image's inspect object)
  "$BERTH" image inspect "$1" | python3 -c 'import json,sys; i=json.load(sys.stdin)[0]; print(eval(sys.argv[1]))' "$2"
}

# ---------------------------------------------------------------- single layer
check "pull a single-layer image" pull "$R/test/single"
check "it is listed" sh -c "'$BERTH' images | grep -q '$R/test/single:latest'"
mkdir -p "$T/mnt"
check "mount its rootfs" "$BERTH" image mount "$R/test/single" "$T/mnt/single"
check_eq "busybox runs in it" "$(chroot "$T/mnt/single" /bin/sh -c 'echo hi from $(/bin/busybox basename /bin/sh)' 2>&1)" "hi from sh"
check "unmount it" "$BERTH" image umount "$T/mnt/single"
check "nothing mounted there any more" sh -c "! grep -q ' $T/mnt/single ' /proc/self/mountinfo"

# ---------------------------------------------------------------- multi-layer, file by file
check "pull the multi-layer image" pull "$R/test/multi"
check "mount it" "$BERTH" image mount "$R/test/multi" "$T/mnt/multi"
M=$T/mnt/multi
check_eq "overwritten file has the upper layer's content" "$(cat "$M/etc/app/keep.txt")" "v2 keep"
check_eq "file whited out then re-created" "$(cat "$M/etc/app/delete-me.txt")" "re-created in layer 3"
check_eq "directory whited out then re-created holds only the new file" "$(ls -A "$M/data")" "new.txt"
check_eq "opaque directory shows only its own layer" "$(ls -A "$M/opt/app")" "new.txt"
check_eq "symlink target" "$(readlink "$M/etc/app/symlink-to-keep")" "keep.txt"
check_eq "hardlink content" "$(cat "$M/etc/app/hardlink-to-keep")" "v2 keep"
check_eq "non-root file owner and mode" "$(stat -c %u:%g:%a "$M/srv/user-file")" "1000:1000:640"
check_eq "non-root directory owner and mode" "$(stat -c %u:%g:%a "$M/srv/berth-dir")" "1000:1000:750"
check_eq "long path" "$(cat "$M/$LONG")" "far away"
check_eq "file capability kept" "$(getcap "$M/bin/cap-file" | sed 's/.* //')" "cap_net_raw=ep"
check_eq "user xattr kept" "$(xattr "$M/etc/app/user-xattr" user.berth)" "68656c6c6f"
check_eq "setuid mode kept" "$(stat -c %a "$M/usr/bin/suid-file")" "4755"
check_eq "fifo" "$(stat -c %F "$M/run/fifo")" "fifo"
check_eq "mtime kept" "$(stat -c %Y "$M/etc/app/mtime-file")" "1234567890"
check_eq "no whiteout file visible" "$(find "$M" -name '.wh.*' | wc -l)" "0"
check_eq "a shell runs" "$(chroot "$M" /bin/sh -c 'cat /etc/app/keep.txt')" "v2 keep"
check "the rootfs is writable" sh -c "echo new >'$M/etc/app/written' && grep -q new '$T/mnt/multi.rw/upper/etc/app/written'"
L2DIR=$(layer_dir "$R/test/multi" 1)
L1DIR=$(layer_dir "$R/test/multi" 0)
check_eq "file whiteout is a 0/0 char device in the layer" "$(stat -c '%F %t:%T' "$L2DIR/etc/app/delete-me.txt")" "character special file 0:0"
check_eq "directory whiteout is a 0/0 char device" "$(stat -c '%F %t:%T' "$L2DIR/data")" "character special file 0:0"
check_eq "opaque directory xattr" "$(xattr "$L2DIR/opt/app" trusted.overlay.opaque)" "79"
check_eq "hardlink shares the inode in the layer" "$(stat -c %i "$L2DIR/etc/app/hardlink-to-keep")" "$(stat -c %i "$L2DIR/etc/app/keep.txt")"
check "the container's write did not reach the layer" test ! -e "$L2DIR/etc/app/written"
check_eq "lower layer unchanged" "$(cat "$L1DIR/etc/app/keep.txt")" "v1 keep"
check "unmount it" "$BERTH" image umount "$T/mnt/multi"
check "its writable layer is gone" test ! -e "$T/mnt/multi.rw/upper"

# ---------------------------------------------------------------- index with two platforms
check "pull an index (this host's platform)" pull "$R/test/multiarch"
check_eq "host platform chosen" "$(inspect_q "$R/test/multiarch" 'i["platform"]')" "linux/amd64"
check "pull the arm64 entry explicitly" pull --platform linux/arm64 "$R/test/multiarch"
check_eq "arm64 platform chosen" "$(inspect_q "$R/test/multiarch" 'i["platform"]')" "linux/arm64/v8"
check "its layer has the arm64 file" grep -q arm64 "$(layer_dir "$R/test/multiarch" 0)/arch.txt"
check_fails "a platform the index lacks is refused, naming what it has" "it has: linux/amd64, linux/arm64/v8" pull --platform linux/arm/v7 "$R/test/multiarch"

# ---------------------------------------------------------------- Docker v2 schema 2, zstd, uncompressed
DMT=$(curl -s -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "http://$R/v2/test/docker/manifests/latest" | python3 -c 'import json,sys; print(json.load(sys.stdin)["mediaType"])')
check_eq "the registry holds a Docker v2 schema 2 manifest" "$DMT" "application/vnd.docker.distribution.manifest.v2+json"
check "pull the Docker v2 schema 2 image" pull "$R/test/docker"
check_eq "its layers have Docker media types" "$(inspect_q "$R/test/docker" 'i["layers"][0]["media_type"]')" "application/vnd.docker.image.rootfs.diff.tar.gzip"
check "pull zstd layers" pull "$R/test/zstd"
check "pull uncompressed layers" pull "$R/test/plain"
check "zstd layer content" grep -q 'zstd layer' "$(layer_dir "$R/test/zstd" 1)/z.txt"
check "uncompressed layer content" grep -q 'plain layer' "$(layer_dir "$R/test/plain" 1)/p.txt"
check "store is consistent (deep)" "$BERTH" image check --deep

# ---------------------------------------------------------------- config for the agent
pull "$R/test/cfg" >/dev/null
check_eq "Entrypoint" "$(inspect_q "$R/test/cfg" 'i["config"]["entrypoint"]')" "['/bin/sh', '-c']"
check_eq "Cmd" "$(inspect_q "$R/test/cfg" 'i["config"]["cmd"]')" "['echo hi']"
check_eq "Env" "$(inspect_q "$R/test/cfg" 'i["config"]["env"]')" "['PATH=/bin', 'A=b c']"
check_eq "WorkingDir, User, StopSignal" "$(inspect_q "$R/test/cfg" '[i["config"][k] for k in ("working_dir", "user", "stop_signal")]')" "['/srv', '1000:1000', 'SIGQUIT']"
check_eq "ExposedPorts, Labels" "$(inspect_q "$R/test/cfg" '[i["config"]["exposed_ports"], i["config"]["labels"]]')" "[['8080/tcp'], ['org.example=yes']]"
check_eq "Healthcheck" "$(inspect_q "$R/test/cfg" '[i["config"]["healthcheck"][k] for k in ("test", "interval_ns", "retries")]')" "[['CMD-SHELL', 'true'], 5000000000, 3]"

# ---------------------------------------------------------------- warm pulls, shared base
check_eq "a warm pull fetches no blob bytes" "$(stats "$R/test/single" | json_field blob_bytes)" "0"
check_eq "if-not-present does not touch the registry" "$(stats --policy if-not-present "$R/test/single" | json_field requests)" "0"
BASE_SIZE=$(inspect_q "$R/test/single" 'i["layers"][0]["size"]')
S=$(stats "$R/test/base2")
check_eq "an image sharing the base layer fetches only its own blobs (config, top layer)" "$(json_field blobs_fetched <<<"$S")" "2"
check "and fewer bytes than the base layer alone" test "$(json_field blob_bytes <<<"$S")" -lt "$BASE_SIZE"
check_eq "the shared layer is not unpacked again" "$(json_field layers_cached <<<"$S")" "1"

# ---------------------------------------------------------------- a moved tag
reg_push "$T/layout" base2 "$R/test/single:latest" || bad "retag"
S=$(stats "$R/test/single")
check_eq "a moved tag is followed" "$(inspect_q "$R/test/single" 'len(i["layers"])')" "2"
check_eq "with every layer already here" "$(json_field layers_cached <<<"$S")" "2"

# ---------------------------------------------------------------- registry errors carry the registry's message
check_fails "unknown tag: the registry's message" "manifest unknown" pull "$R/test/single:nope"
check_fails "unknown repository" "404" pull "$R/test/nothing-here"
check_fails "policy never on an absent image" "not in the store and the pull policy is never" pull --policy never "$R/test/absent"

# ---------------------------------------------------------------- images, inspect, rmi
N_BLOBS=$(ls "$BERTH_IMAGE_ROOT/blobs/sha256" | wc -l)
check "rmi by name" "$BERTH" rmi "$R/test/zstd"
check "it is gone" sh -c "! '$BERTH' images | grep -q test/zstd"
check "its blobs are gone" test "$(ls "$BERTH_IMAGE_ROOT/blobs/sha256" | wc -l)" -lt "$N_BLOBS"
ID=$("$BERTH" images -q | head -1)
check "rmi by id prefix" "$BERTH" rmi "$ID"
check_fails "inspect of a removed image" "not in the store" "$BERTH" image inspect "$R/test/zstd"
check "store is consistent after removals" "$BERTH" image check --deep

# ---------------------------------------------------------------- offline: the registry is gone
reg_cleanup
check "if-not-present works with the registry gone" pull --policy if-not-present "$R/test/multi"
check "never works for a cached image" pull --policy never "$R/test/multi"
check_fails "always needs the registry" "Couldn't connect" pull --policy always "$R/test/multi"
finish
