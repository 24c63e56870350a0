#!/usr/bin/env bash
# Faults between berth and the registry, injected by tests/lib/faultproxy.py, and on the
# host: a connection reset mid-blob (resumed with Range), a server that ignores Range,
# 500s (retried) and 500s for ever (given up with the registry's message), a stalled
# server (timed out, retried), a wrong digest (rejected, nothing stored), a full disk
# while downloading and while unpacking (clean error, store intact), kill -9 during a
# pull (store consistent, the next pull resumes) and at each step of a GC (store
# consistent, every image left whole, the next GC finishes).
. "$(dirname "$0")/lib.sh"

cat >"$T/spec.json" <<'EOF'
{"images": [
 {"tag": "small", "layers": [{"entries": [{"path": "hello.txt", "content": "hello\n"}]}]},
 {"tag": "big", "layers": [{"busybox": true},
   {"compression": "none", "entries": [{"path": "blob.bin", "random": 6000000}]}]},
 {"tag": "bomb", "layers": [{"entries": [{"path": "zeros.bin", "zeros": 12000000}]}]},
 {"tag": "liar", "diff_ids": ["sha256:0000000000000000000000000000000000000000000000000000000000000000"],
  "layers": [{"entries": [{"path": "x", "content": "the config lies about me\n"}]}]}
]}
EOF
build "$T/spec.json" "$T/layout" || { echo "FAIL: image build"; exit 1; }
reg_start plain || exit 1
UP=$REG_PORT
for t in small big bomb liar; do reg_push "$T/layout" $t "127.0.0.1:$UP/f/$t:1" || bad "push $t"; done
export BERTH_IMAGE_PULL_RETRIES=4

# every test gets a fresh store and its own proxy
fresh() { export BERTH_IMAGE_ROOT=$T/store-$1; }
via() { # NAME PROXY-ARGS... -> sets P (host:port of the proxy)
  local name=$1; shift
  proxy_start "$name" "$UP" --log "$T/$name.log" "$@" || { bad "proxy $name"; return 1; }
  P=127.0.0.1:$PROXY_PORT
  insecure "$P"
}
no_partials() { # nothing half-written stays in the store
  [ -z "$(ls -A "$BERTH_IMAGE_ROOT/ingest")" ] && [ -z "$(ls -A "$BERTH_IMAGE_ROOT/layers" | grep '^\.tmp')" ]
}

# ---------------------------------------------------------------- reset mid-blob, resumed
fresh drop
via drop --drop-after 1500000
S=$(stats "$P/f/big:1")
check_eq "a connection reset mid-blob is retried" "$(json_field retries <<<"$S")" "1"
check "the retry resumed with a Range request" grep -Eq "range=bytes=[1-9][0-9]*- status=206" "$T/drop.log"
check "the resumed download did not start over" test "$(json_field blob_bytes <<<"$S")" -lt 8000000
check "and the blob verifies" "$BERTH" image check --deep

fresh norange
via norange --drop-after 1500000 --ignore-range
check "a server that ignores Range (200 to a resume) still gives a verified blob" pull "$P/f/big:1"
check "deep check" "$BERTH" image check --deep

# ---------------------------------------------------------------- 500s
fresh e500
via e500 --fail-500 --count 2
S=$(stats "$P/f/small:1")
check_eq "two 500s are retried" "$(json_field retries <<<"$S")" "2"
fresh e500forever
via e500forever --fail-500 --count -1
check_fails "500s for ever: given up with the registry's message" "injected failure" pull "$P/f/small:1"
check "nothing half-written stays" no_partials
check_eq "and no image recorded" "$("$BERTH" images -q | wc -l)" "0"

# ---------------------------------------------------------------- a stalled server
fresh stall
via stall --stall-after 200000
check "a stalled transfer is timed out and resumed" sh -c "BERTH_IMAGE_STALL_TIMEOUT=1s '$BERTH' pull '$P/f/big:1' 2>'$T/stall.err'"
check "the stall was reported as one" grep -q "retrying: .*stalled" "$T/stall.err"
check "deep check" "$BERTH" image check --deep

# ---------------------------------------------------------------- wrong digest
fresh corrupt
via corrupt --corrupt --count -1
check_fails "a blob that does not match its digest is rejected" "not stored" pull "$P/f/big:1"
BIGLAYER=$(python3 -c 'import json,sys
lay=sys.argv[1]; idx=json.load(open(lay+"/index.json"))
d=[m["digest"] for m in idx["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"]=="big"][0]
m=json.load(open(lay+"/blobs/sha256/"+d[7:])); print(m["layers"][1]["digest"][7:])' "$T/layout")
check "the corrupt blob was not stored" test ! -e "$BERTH_IMAGE_ROOT/blobs/sha256/$BIGLAYER"
check "nothing half-written stays" no_partials
check_eq "no image recorded" "$("$BERTH" images -q | wc -l)" "0"
check "the store is consistent" "$BERTH" image check --deep

# ---------------------------------------------------------------- a config that lies about a DiffID
fresh liar
insecure "127.0.0.1:$UP"
check_fails "a layer whose uncompressed content does not match the config's DiffID is refused" "but the image config says" pull "127.0.0.1:$UP/f/liar:1"
check_eq "no layer was committed" "$(ls -A "$BERTH_IMAGE_ROOT/layers" | wc -l)" "0"
check_eq "no image recorded" "$("$BERTH" images -q | wc -l)" "0"

# ---------------------------------------------------------------- disk full
insecure "127.0.0.1:$UP"
mkdir -p "$T/tmpfs"
if mount -t tmpfs -o size=4m berth-imagecache-test "$T/tmpfs"; then
  export BERTH_IMAGE_ROOT=$T/tmpfs/store
  check "a small image fits" pull "127.0.0.1:$UP/f/small:1"
  check_fails "downloading more than the disk holds fails cleanly" "No space left on device" pull "127.0.0.1:$UP/f/big:1"
  check "nothing half-written stays" no_partials
  check "the image already there is intact" "$BERTH" image check --deep
  check "and usable" pull --policy never "127.0.0.1:$UP/f/small:1"
  check_fails "unpacking more than the disk holds fails cleanly" "No space left on device" pull "127.0.0.1:$UP/f/bomb:1"
  check "nothing half-unpacked stays" no_partials
  check "the store is still consistent" "$BERTH" image check --deep
  umount "$T/tmpfs"
else
  bad "cannot mount a tmpfs for the disk-full test"
fi

# ---------------------------------------------------------------- kill -9 during a pull
fresh kill
via slow --rate 1500000 --count 0
"$BERTH" pull -q "$P/f/big:1" >/dev/null 2>&1 &
PULL=$!
for ((i = 0; i < 400; i++)); do
  [ -n "$(find "$BERTH_IMAGE_ROOT/ingest" -type f -size +200k 2>/dev/null)" ] && break
  sleep 0.05
done
kill -9 "$PULL" 2>/dev/null
wait "$PULL" 2>/dev/null
check "the killed pull left a partial download" test -n "$(find "$BERTH_IMAGE_ROOT/ingest" -type f -size +200k)"
check "the store is consistent after kill -9" "$BERTH" image check --deep
check_eq "no image recorded" "$("$BERTH" images -q | wc -l)" "0"
# what is left to fetch: each blob of the image minus what is committed or partially here
LEFT=$(python3 -c 'import json,os,sys
lay,store=sys.argv[1],sys.argv[2]; idx=json.load(open(lay+"/index.json"))
d=[m["digest"] for m in idx["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"]=="big"][0]
m=json.load(open(lay+"/blobs/sha256/"+d[7:])); left=0
for b in [m["config"]]+m["layers"]:
    h=b["digest"][7:]
    if os.path.exists(store+"/blobs/sha256/"+h): continue
    p=store+"/ingest/"+h
    left+=b["size"]-(os.path.getsize(p) if os.path.exists(p) else 0)
print(left)' "$T/layout" "$BERTH_IMAGE_ROOT")
insecure "127.0.0.1:$UP"
S=$(stats "127.0.0.1:$UP/f/big:1")
check_eq "the next pull resumes the partial downloads (fetches only the rest)" "$(json_field blob_bytes <<<"$S")" "$LEFT"
check "and the image is complete" "$BERTH" image check --deep

# ---------------------------------------------------------------- kill -9 during GC, at each step
# `berth image gc --stop-at STEP` stops itself (SIGSTOP) at a known point of its work; it is
# killed there, and the store must be consistent, every image left whole and mountable, and
# the next GC must finish the job.
python3 - "$T/gcspec.json" <<'EOF2'
import json, sys
imgs = []
for i in range(4):
    ents = [{"path": "d%d" % i, "type": "dir"}] + [{"path": "d%d/f%04d" % (i, j), "content": "%d %d\n" % (i, j)} for j in range(300)]
    imgs.append({"tag": "g%d" % i, "layers": [{"entries": ents}]})
json.dump({"images": imgs}, open(sys.argv[1], "w"))
EOF2
build "$T/gcspec.json" "$T/gclayout" || bad "gc images"
for i in 0 1 2 3; do reg_push "$T/gclayout" "g$i" "127.0.0.1:$UP/gc/g$i:1" || bad "push g$i"; done
GC=
EXTRA_CLEANUP+=('[ -z "$GC" ] || kill -9 "$GC" 2>/dev/null')
wait_stopped() { # PID: true once the process is stopped (state T), false if it exits first
  local i s
  for ((i = 0; i < 3000; i++)); do
    s=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$s" = T ] && return 0
    sleep 0.01
  done
  return 1
}
# images left after a kill at each step of an all-unused GC of 4 images: none removed yet,
# the first one's records gone, its content gone, every image gone (only the trash is left)
for want in pruned:4 records:3 swept:3 unlocked:0; do
  step=${want%%:*}
  fresh "gc-$step"
  for i in 0 1 2 3; do pull "127.0.0.1:$UP/gc/g$i:1" >/dev/null || bad "pull g$i"; done
  # an unpack a crash left behind: the first prune moves it to the trash
  mkdir -p "$BERTH_IMAGE_ROOT/layers/.tmp-crash/diff" && echo x >"$BERTH_IMAGE_ROOT/layers/.tmp-crash/diff/x"
  "$BERTH" image gc --mode all-unused --min-age 0s --stop-at "$step" >"$T/gc.out" 2>&1 &
  GC=$!
  if wait_stopped "$GC"; then
    kill -9 "$GC"
    wait "$GC" 2>/dev/null
    GC=
    ok "GC stopped at $step and killed with SIGKILL there"
  else
    wait "$GC" 2>/dev/null
    GC=
    bad "GC never stopped at $step: $(cat "$T/gc.out")"
    continue
  fi
  check "after kill -9 at $step: the trash holds unfinished work (the crash leftover at least)" test -n "$(ls -A "$BERTH_IMAGE_ROOT/trash")"
  check_eq "after kill -9 at $step: images left" "$("$BERTH" images -q | wc -l)" "${want#*:}"
  check "after kill -9 at $step: the store is consistent" "$BERTH" image check --deep
  check "after kill -9 at $step: every image left is whole and mountable" sh -c "for i in \$('$BERTH' images -q); do '$BERTH' image mount --ro \$i '$T/gcm' && '$BERTH' image umount '$T/gcm' || exit 1; done"
  check "after kill -9 at $step: a later GC finishes the job" "$BERTH" image gc --mode all-unused --min-age 0s
  check_eq "after kill -9 at $step: nothing left" "$(ls -A "$BERTH_IMAGE_ROOT/blobs/sha256" "$BERTH_IMAGE_ROOT/layers" "$BERTH_IMAGE_ROOT/trash" | grep -vc ':$\|^$')" "0"
done
check_fails "--stop-at names a GC step" "not a GC step" "$BERTH" image gc --stop-at sweeped
finish
