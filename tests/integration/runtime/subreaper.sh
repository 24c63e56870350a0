#!/usr/bin/env bash
# The shim scenario (see subreaper.c): a child subreaper drives create/start/exec/kill/delete.
. "$(dirname "$0")/lib.sh"
helper=${1:?usage: subreaper.sh HELPER}
b42=$(mkbundle exit42 '.process.args=["/bin/sh","-c","echo hello from the container; exit 42"]')
bsleep=$(mkbundle sleeper '.process.args=["/bin/sleep","1000"]')
if "$helper" "$RT_BIN" "$STATE" "$b42" "$bsleep" "$WORK" "sr-$ID_PREFIX"; then ok "shim scenario"; else fail "shim scenario"; fi
expect_eq "nothing left in the state root" "" "$(ls "$STATE" 2>/dev/null || true)"
finish
