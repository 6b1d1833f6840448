#!/usr/bin/env bash
# Build every libFuzzer target with clang and run each for FUZZ_SECONDS.
# Seeds come from tests/fuzz/corpus/<target>/ when present; findings fail the run.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-fuzz}
secs=${FUZZ_SECONDS:-20}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
CC=clang cmake -S . -B "$dir" -DMOSAIK_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$dir" -j "$JOBS"
status=0
for bin in "$dir"/tests/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  seeds="tests/fuzz/corpus/$name"
  work=$(mktemp -d)
  [ -d "$seeds" ] && cp -r "$seeds"/. "$work"/ 2>/dev/null || true
  # Generated seeds (e.g. from ../shared/testdata) come from the target's seed script.
  if [ -x "tests/fuzz/seed_$name.sh" ]; then "tests/fuzz/seed_$name.sh" "$work" || true; fi
  echo "-- $name for ${secs}s"
  if ! (cd "$work" && ASAN_OPTIONS=detect_leaks=1 "$OLDPWD/$bin" -max_total_time="$secs" \
          -max_len=65536 -rss_limit_mb=2048 -print_final_stats=0 . >"$work.log" 2>&1); then
    echo "FAIL: $name found a crash:"; tail -40 "$work.log"; status=1
  else
    grep -E "^(#[0-9]+|Done)" "$work.log" | tail -1 || true
  fi
  rm -rf "$work" "$work.log"
done
exit $status
