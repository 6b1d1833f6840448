#!/usr/bin/env bash
# make test: every test, three ways, and no test skipped in silence.
#  -  scripts/deps.sh build test: install what the tests need (as root), so
#     that they run instead of skipping: python3, clang and libFuzzer, the
#     QEMU/OVMF tools, Debian's OVMF build the MRTD checks expect
#  0. scripts/check_structure.py (sizes, include direction) and
#     scripts/check_sleeps.py (no fixed sleep before an assertion)
#  1. the plain build's unit, integration and CLI tests (CTest)
#  2. the same tests built with ASan + UBSan (without the label "slow")
#  3. each libFuzzer target for FUZZ_SECONDS (default 20); without clang
#     this stage fails, it does not pass
#
# Skips. A test that cannot run exits 77, its SKIP_RETURN_CODE, and CTest
# reports it as skipped (tests/CMakeLists.txt, tests/test_util.h). Each
# stage's CTest output is kept in BUILD/ctest-STAGE.log; the tests it lists
# as not run are collected, and the list is printed at the end (also when a
# stage fails), per stage. On CI (CI=true, set by .ci/run) a skipped test
# labelled "required" fails make test; elsewhere the list is the warning.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
start=$(date +%s)
on_ci=false
[ "${CI:-}" = true ] && on_ci=true

skipped=()          # "stage: test (reason)"
required_skipped=() # the same, for tests labelled "required"

summary() {
  echo "== skipped tests"
  if [ ${#skipped[@]} -eq 0 ]; then
    echo "  (none)"
  else
    printf '  %s\n' "${skipped[@]}"
  fi
  if [ ${#required_skipped[@]} -gt 0 ]; then
    echo "  of which labelled required:"
    printf '    %s\n' "${required_skipped[@]}"
  fi
}

# ctest_stage STAGE BUILD_DIR [CTEST_ARGS...]: run CTest in BUILD_DIR, keep
# its output, collect what it did not run; on a failure print the list and
# stop with CTest's status.
ctest_stage() {
  local stage=$1 dir=$2
  shift 2
  local log="$dir/ctest-$stage.log" rc=0
  (cd "$dir" && ctest --output-on-failure -j "$JOBS" "$@") 2>&1 | tee "$log" || rc=$?
  # CTest ends with "The following tests did not run:" and one line
  # "<tab> <n> - <name> (Skipped)" per test (Disabled ones too).
  local line name required
  required=$(cd "$dir" && ctest -N -L '^required$' | sed -n 's/^ *Test *#[0-9]*: //p')
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    skipped+=("$stage: $line")
    name=${line%% (*}
    if grep -qx -- "$name" <<<"$required"; then required_skipped+=("$stage: $line"); fi
  done < <(awk '/^The following tests did not run:/ { f = 1; next }
                f && /^[ \t]+[0-9]+ - / { sub(/^[ \t]+[0-9]+ - /, ""); print; next }
                { f = 0 }' "$log")
  if [ "$rc" -ne 0 ]; then
    summary
    exit "$rc"
  fi
}

echo "== what the tests need (scripts/deps.sh build test)"
if ! scripts/deps.sh build test; then
  if $on_ci; then
    echo "make test: the tests' dependencies could not be installed (CI)" >&2
    exit 1
  fi
  echo "make test: WARNING: some of the tests' dependencies are missing; the tests that need" >&2
  echo "them will be listed as skipped" >&2
fi

echo "== 0/3 structure (file and function sizes, include direction; no fixed sleeps in tests)"
python3 scripts/check_structure.py
python3 scripts/check_sleeps.py

echo "== 1/3 plain build and tests"
cmake -S . -B build ${CMAKE_FLAGS:-} >/dev/null
cmake --build build -j "$JOBS"
ctest_stage plain build

echo "== 2/3 ASan + UBSan build and tests"
cmake -S . -B build-asan -DMOSAIK_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j "$JOBS"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  MOSAIK_SANITIZED=1 ctest_stage asan build-asan -LE slow

echo "== 3/3 fuzz targets"
if ! FUZZ_SECONDS=${FUZZ_SECONDS:-20} scripts/fuzz.sh build-fuzz; then
  summary
  echo "make test: the fuzz stage failed" >&2
  exit 1
fi

summary
if [ ${#required_skipped[@]} -gt 0 ]; then
  if $on_ci; then
    echo "make test: required tests were skipped (CI)" >&2
    exit 1
  fi
  echo "make test: WARNING: required tests were skipped (this fails on CI)" >&2
fi
echo "make test: all stages passed in $(( $(date +%s) - start )) s"
