#!/usr/bin/env bash
# run-fuzz.sh FUZZER SEED_CORPUS_DIR : replays the seeds, then fuzzes for BERTH_FUZZ_SECONDS.
# New inputs go to a work corpus beside the fuzzer in the build tree, crash artifacts next to
# them; the seed directory in the source tree is only read.
set -euo pipefail
exe=$1 seeds=$2
work="$(dirname "$exe")/$(basename "$exe").work"
mkdir -p "$work/corpus" "$work/artifacts"
exec "$exe" -max_total_time="${BERTH_FUZZ_SECONDS:-20}" -rss_limit_mb=2048 -timeout=10 \
  -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds"
