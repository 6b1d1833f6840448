#!/usr/bin/env bash
# make test: every test, three ways.
#  0. scripts/check_structure.py (sizes, include direction)
#  1. the plain build's unit, integration and CLI tests (CTest)
#  2. the same tests built with ASan + UBSan
#  3. each libFuzzer target for FUZZ_SECONDS (default 20) when clang is present
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
start=$(date +%s)

echo "== 0/3 structure (file and function sizes, include direction)"
python3 scripts/check_structure.py

echo "== 1/3 plain build and tests"
cmake -S . -B build ${CMAKE_FLAGS:-} >/dev/null
cmake --build build -j "$JOBS"
(cd build && ctest --output-on-failure -j "$JOBS")

echo "== 2/3 ASan + UBSan build and tests"
cmake -S . -B build-asan -DMOSAIK_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j "$JOBS"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 MOSAIK_SANITIZED=1 \
   ctest --output-on-failure -j "$JOBS" -LE slow)

echo "== 3/3 fuzz targets"
if command -v clang >/dev/null; then
  FUZZ_SECONDS=${FUZZ_SECONDS:-20} scripts/fuzz.sh build-fuzz
else
  echo "clang not found: fuzz targets skipped"
fi
echo "make test: all stages passed in $(( $(date +%s) - start )) s"
