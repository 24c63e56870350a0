#!/usr/bin/env bash
# Offline import (OCI layout directory and tar, docker-archive, a multi-platform index,
# names from annotations or given, corrupt content refused) and GC: disk watermarks with
# LRU order, minimum age, leases, prune of leftovers.
. "$(dirname "$0")/lib.sh"

python3 - "$T/spec.json" <<'EOF'
import json, sys
imgs = [{"tag": "single", "config": {"Cmd": ["/bin/sh"], "Env": ["IMPORTED=yes"]},
         "layers": [{"busybox": True}, {"entries": [{"path": "imported.txt", "content": "imported\n"}]}]},
        {"tag": "multiarch", "index": [
            {"platform": "linux/amd64", "layers": [{"entries": [{"path": "arch", "content": "amd64\n"}]}]},
            {"platform": "linux/arm64", "layers": [{"entries": [{"path": "arch", "content": "arm64\n"}]}]}]}]
for i in range(8):
    imgs.append({"tag": "g%d" % i, "layers": [{"compression": "none", "entries": [{"path": "g%d.bin" % i, "random": 2000000}]}]})
json.dump({"images": imgs}, open(sys.argv[1], "w"))
EOF
build "$T/spec.json" "$T/layout" || { echo "FAIL: image build"; exit 1; }
SK=(skopeo --insecure-policy copy -q)
"${SK[@]}" --preserve-digests "oci:$T/layout:single" "oci:$T/one:latest" || bad "one-image layout"
"${SK[@]}" --preserve-digests --all "oci:$T/layout:multiarch" "oci:$T/multi:latest" || bad "multi-platform layout"
"${SK[@]}" "oci:$T/layout:single" "docker-archive:$T/docker.tar:example.com/from/docker:1" || bad "docker-archive"
tar -C "$T/one" -cf "$T/one.tar" . || bad "layout tar"

# ---------------------------------------------------------------- import
check_fails "a layout whose image has only a tag needs a name" "give one with a name" "$BERTH" image import "$T/one"
check_fails "a name for several images is refused" "a name can be given for one only" "$BERTH" image import --name x/y:1 "$T/layout"
check "import an OCI layout directory with a name" "$BERTH" image import --name example.com/oci/dir:1 "$T/one"
python3 - "$T/one/index.json" <<'EOF'
import json, sys
p = sys.argv[1]; i = json.load(open(p))
i["manifests"][0].setdefault("annotations", {})["io.containerd.image.name"] = "example.com/oci/annotated:2"
json.dump(i, open(p, "w"))
EOF
check "import an OCI layout named by its annotation" "$BERTH" image import "$T/one"
check "import an OCI layout tar" "$BERTH" image import --name example.com/oci/tar:1 "$T/one.tar"
check "import a docker-archive (name from RepoTags)" "$BERTH" image import "$T/docker.tar"
check "import the arm64 image of a multi-platform layout" "$BERTH" image import --platform linux/arm64 --name example.com/multi:arm "$T/multi"
for n in example.com/oci/dir:1 example.com/oci/annotated:2 example.com/oci/tar:1 example.com/from/docker:1 example.com/multi:arm; do
  check "$n is listed" sh -c "'$BERTH' images | grep -q '$n'"
done
check_eq "the imported config" "$("$BERTH" image inspect example.com/from/docker:1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["config"]["env"])')" "['IMPORTED=yes']"
check "the docker-archive image mounts and runs" sh -c "'$BERTH' image mount example.com/from/docker:1 '$T/m' && chroot '$T/m' /bin/cat /imported.txt | grep -q imported && '$BERTH' image umount '$T/m'"
check_eq "the arm64 layer was chosen" "$(cat "$BERTH_IMAGE_ROOT/layers/$("$BERTH" image inspect example.com/multi:arm | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["layers"][0]["chain_id"][7:])')/diff/arch")" "arm64"
check "the store is consistent" "$BERTH" image check --deep
# a layout with a corrupt layer blob
cp -a "$T/one" "$T/bad"
LAYER=$(python3 -c 'import json,sys; d=sys.argv[1]; i=json.load(open(d+"/index.json")); m=json.load(open(d+"/blobs/sha256/"+i["manifests"][0]["digest"][7:])); print(m["layers"][1]["digest"][7:])' "$T/bad")
printf 'X' | dd of="$T/bad/blobs/sha256/$LAYER" bs=1 seek=20 conv=notrunc 2>/dev/null
export BERTH_IMAGE_ROOT=$T/store-bad
check_fails "a corrupt blob in a layout is refused" "hashes to" "$BERTH" image import --name example.com/bad:1 "$T/bad"
check_eq "and nothing is recorded" "$("$BERTH" images -q | wc -l)" "0"
check_fails "a file that is no image archive" "is not an image archive" sh -c "echo hello >'$T/junk.tar' && '$BERTH' image import '$T/junk.tar'"

# ---------------------------------------------------------------- GC with watermarks, LRU, leases, minimum age
mkdir -p "$T/gcfs"
if ! mount -t tmpfs -o size=40m berth-imagecache-gc "$T/gcfs"; then
  bad "cannot mount a tmpfs for the GC test"
  finish
fi
export BERTH_IMAGE_ROOT=$T/gcfs/store
for i in $(seq 0 7); do
  "${SK[@]}" --preserve-digests "oci:$T/layout:g$i" "oci:$T/g$i:latest" || bad "layout g$i"
  "$BERTH" image import --name "example.com/gc/g$i:1" "$T/g$i" >/dev/null || bad "import g$i"
  sleep 0.01 # distinct last-use times
done
"$BERTH" pull -q --policy never example.com/gc/g0:1 >/dev/null || bad "use g0 again"
"$BERTH" image mount --ro example.com/gc/g1:1 "$T/g1mnt" >/dev/null || bad "mount g1 (a lease)"
USED=$(df --output=pcent "$T/gcfs" | tail -1 | tr -dc 0-9)
check "the store fills the disk past the high watermark ($USED%)" test "$USED" -gt 60
check "GC with a minimum age above every image's age removes no image" sh -c \
  "'$BERTH' image gc --mode watermark --high 60 --low 30 --min-age 1h | grep -q 'Removed 0 blobs, 0 layers'"
check "GC below the high watermark removes nothing" sh -c \
  "'$BERTH' image gc --mode watermark --high 95 --low 30 --min-age 0s | grep -q 'Removed 0 blobs'"
check "GC above the high watermark" "$BERTH" image gc --mode watermark --high 60 --low 30 --min-age 0s
cp "$T/check.out" "$T/gc.out"
USED=$(df --output=pcent "$T/gcfs" | tail -1 | tr -dc 0-9)
check "it freed down to the low watermark ($USED%)" test "$USED" -le 30
check "the least recently used went first" grep -q "Removed image example.com/gc/g2:1" "$T/gc.out"
check "the recently used image stayed" sh -c "'$BERTH' images | grep -q gc/g0"
check "the leased (mounted) image stayed, though least recently used" sh -c "'$BERTH' images | grep -q gc/g1"
check "the mount still works" test -e "$T/g1mnt/g1.bin"
check "the store is consistent" "$BERTH" image check --deep
"$BERTH" image umount "$T/g1mnt" >/dev/null || bad "umount g1"
check "GC of every unused image" "$BERTH" image gc --mode all-unused --min-age 0s
check_eq "nothing left" "$("$BERTH" images -q | wc -l)" "0"
check_eq "no blob left" "$(ls "$BERTH_IMAGE_ROOT/blobs/sha256" | wc -l)" "0"
check_eq "no layer left" "$(ls -A "$BERTH_IMAGE_ROOT/layers" | wc -l)" "0"
umount "$T/gcfs"

# ---------------------------------------------------------------- prune leftovers of crashes
export BERTH_IMAGE_ROOT=$T/store-prune
"$BERTH" image import --name example.com/p:1 "$T/one" >/dev/null || bad "import for prune"
mkdir -p "$BERTH_IMAGE_ROOT/layers/.tmp-deadbeef-1-1/diff" && echo x >"$BERTH_IMAGE_ROOT/layers/.tmp-deadbeef-1-1/diff/f"
echo partial >"$BERTH_IMAGE_ROOT/ingest/import-1-1"
mkdir -p "$BERTH_IMAGE_ROOT/trash/layer-x" && echo x >"$BERTH_IMAGE_ROOT/trash/layer-x/f"
check "prune" "$BERTH" image gc --min-age 0s
check_eq "crash leftovers are gone" "$(find "$BERTH_IMAGE_ROOT/trash" "$BERTH_IMAGE_ROOT/ingest" "$BERTH_IMAGE_ROOT/layers" -mindepth 1 -maxdepth 1 -name '*' ! -regex '.*/layers/[0-9a-f]*' | wc -l)" "0"
check "the image is intact" "$BERTH" image check --deep
finish
