#!/usr/bin/env bash
# valgrind-wrap.sh CMD [ARGS...] : runs CMD under valgrind memcheck, following forked and
# exec'd children, and fails if any process reported an error or a definite leak.
# Criterion decides pass/fail from its own protocol and ignores a forked test's exit code,
# so the per-process valgrind logs are the only reliable verdict.
set -uo pipefail
logs=$(mktemp -d /tmp/berth-valgrind.XXXXXX)
trap 'rm -rf "$logs"' EXIT
valgrind --trace-children=yes --child-silent-after-fork=no --leak-check=full \
  --errors-for-leak-kinds=definite --show-leak-kinds=definite --error-exitcode=99 \
  --log-file="$logs/vg.%p" "$@"
rc=$?
bad=0
for f in "$logs"/vg.*; do
  [ -s "$f" ] || continue
  if grep -qE 'ERROR SUMMARY: [1-9]' "$f"; then
    echo "valgrind: errors in $(basename "$f"):" >&2
    cat "$f" >&2
    bad=1
  fi
done
[ $bad = 0 ] || exit 99
exit $rc
