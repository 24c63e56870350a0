#!/usr/bin/env bash
# scripts/test.sh [STAGE...] : sets up this machine and runs berth's whole test suite.
# Stages (default: all, in this order):
#   build        install dependencies, configure and build (build/)
#   unit         Criterion unit tests
#   integration  real-kernel tests (root): namespaces, cgroups, mounts, networks, registry
#   e2e          berthd driven through its CLI and task sources
#   conformance  the harness suite against a control endpoint
#   asan         the unit and integration suites again under ASan+UBSan (build-asan/)
#   valgrind     the unit suite under valgrind memcheck
#   fuzz         every libFuzzer target over its seed corpus plus a short run (build-fuzz/, clang)
#   vm           cgroup v2 suite inside a qemu guest (Debian's kernel, TCG)
# A suite with no tests yet is reported and passes; a failing stage fails the run, but the
# remaining stages still run so one report shows everything.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD
all=(build unit integration e2e conformance asan valgrind fuzz vm)
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=("${all[@]}")
failed=()
export BERTH_TEST_TOP=$top

say() { printf '\n=== %s\n' "$*"; }

configure() { # DIR [meson args...]
  local dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then
    meson setup --reconfigure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@" >/dev/null
  fi && meson compile -C "$dir"
}

has_suite() { # DIR SUITE
  meson introspect --tests "$1" 2>/dev/null | jq -e --arg s "berth:$2" 'any(.[]; .suite | index($s))' >/dev/null
}

run_suite() { # DIR SUITE [meson test args...]
  local dir=$1 suite=$2; shift 2
  if ! has_suite "$dir" "$suite"; then
    echo "(no tests in suite '$suite' yet)"
    return 0
  fi
  meson test -C "$dir" --suite "$suite" --print-errorlogs --num-processes "${BERTH_TEST_JOBS:-2}" "$@"
}

stage() {
  case "$1" in
  build)
    ./scripts/install-deps.sh && configure build ;;
  unit|integration|e2e|conformance)
    run_suite build "$1" ;;
  asan)
    configure build-asan -Db_sanitize=address,undefined -Db_lundef=false &&
      ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        run_suite build-asan unit && \
      ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        run_suite build-asan integration ;;
  valgrind)
    # Criterion forks a child per test and ignores its exit code: the wrapper reads
    # valgrind's per-process logs and fails on any error or definite leak.
    # Tests in suite 'no-valgrind' use syscalls valgrind 3.19 does not know (pidfd_*).
    run_suite build unit --no-suite no-valgrind --timeout-multiplier 10 \
      --wrapper "$top/tests/lib/valgrind-wrap.sh" ;;
  fuzz)
    CC=clang configure build-fuzz -Dfuzz=true -Dtests=disabled && run_suite build-fuzz fuzz ;;
  vm)
    run_suite build vm --timeout-multiplier 3 ;;
  *)
    echo "unknown stage $1 (stages: ${all[*]})" >&2; return 2 ;;
  esac
}

for s in "${stages[@]}"; do
  say "stage: $s"
  if ! stage "$s"; then
    failed+=("$s")
    [ "$s" = build ] && break
  fi
done

say "summary"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED stages: ${failed[*]}"
  exit 1
fi
echo "all stages passed: ${stages[*]}"
