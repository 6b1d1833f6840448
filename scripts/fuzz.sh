#!/usr/bin/env bash
# Build every libFuzzer target with clang and run each for FUZZ_SECONDS.
# Seeds come from tests/fuzz/corpus/<target>/ when present, and from the
# target's seed script tests/fuzz/seed_<target>.sh (e.g. from
# ../shared/testdata), which must succeed; findings fail the run.
#
# Nothing here passes by not running: without clang or its libFuzzer
# runtime the script fails (scripts/deps.sh test installs them), and every
# tests/fuzz/fuzz_*.c must have been built and run.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-fuzz}
secs=${FUZZ_SECONDS:-20}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
if ! command -v clang >/dev/null 2>&1; then
  echo "FAIL: fuzz: clang is not installed (scripts/deps.sh test installs it)" >&2
  exit 1
fi
CC=clang cmake -S . -B "$dir" -DMOSAIK_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$dir" -j "$JOBS"
status=0
ran=0
for src in tests/fuzz/fuzz_*.c; do
  name=$(basename "$src" .c)
  bin="$dir/tests/fuzz/$name"
  if [ ! -x "$bin" ]; then
    echo "FAIL: $name was not built ($bin)"; status=1; continue
  fi
  seeds="tests/fuzz/corpus/$name"
  work=$(mktemp -d)
  [ -d "$seeds" ] && cp -r "$seeds"/. "$work"/
  if [ -x "tests/fuzz/seed_$name.sh" ] && ! "tests/fuzz/seed_$name.sh" "$work"; then
    echo "FAIL: $name: its seed script failed"; status=1; rm -rf "$work"; continue
  fi
  echo "-- $name for ${secs}s"
  if ! (cd "$work" && ASAN_OPTIONS=detect_leaks=1 "$OLDPWD/$bin" -max_total_time="$secs" \
          -max_len=65536 -rss_limit_mb=2048 -print_final_stats=0 . >"$work.log" 2>&1); then
    echo "FAIL: $name found a crash:"; tail -40 "$work.log"; status=1
  else
    grep -E "^(#[0-9]+|Done)" "$work.log" | tail -1 || true
    ran=$((ran + 1))
  fi
  rm -rf "$work" "$work.log"
done
if [ "$ran" -eq 0 ]; then
  echo "FAIL: no fuzz target ran"; status=1
fi
echo "fuzz: $ran target(s) ran"
exit $status
