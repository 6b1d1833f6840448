#!/usr/bin/env bash
# scripts/mutants.sh — mutation checks: every targeted mutant of the
# verifiers (tests/mutants/*.mut, format in tests/mutants/mutate.py) must be
# killed by the tests it names.
#
#   scripts/mutants.sh            all mutants (make mutants)
#   scripts/mutants.sh --quick    the ones marked "quick" (make test)
#   scripts/mutants.sh NAME...    just these
#
# How: the tree's files (git ls-files, tracked and untracked) are copied to
# MUTANTS_DIR (default build/mutants/src; only files whose content changed
# are rewritten, so the copy's build stays incremental between runs) and
# built there (build/mutants/build, Debug, only the targets the named tests
# need). The named tests first run unmutated (baseline: they must pass, or
# every mutant would look killed). Then, one mutant at a time: apply it,
# build the test executables its regex selects plus the CLI, run them with
# ctest; any failure (also a timeout) kills it, a green run means it
# survived; restore the original (with a new mtime, so it is recompiled).
# A mutant that does not compile, or a pattern that no longer occurs exactly
# once, is an error of the list, reported as such.
#
# Exit 0 when every mutant was killed; 1 with the survivors (and broken
# mutants) listed otherwise. The tally is printed as "killed K/N".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=${MUTANTS_DIR:-$root/build/mutants}
src=$work/src
bld=$work/build
jobs=${JOBS:-2}
mut=(python3 "$root/tests/mutants/mutate.py")
testdata=${MOSAIK_TESTDATA:-$(cd "$root/.." && pwd)/shared/testdata}
start=$(date +%s)

"${mut[@]}" check "$root"
list=$("${mut[@]}" list "$@")
[ -n "$list" ] || { echo "mutants: no mutant selected" >&2; exit 1; }

mkdir -p "$src" "$bld"
"${mut[@]}" restore "$src" # an interrupted run may have left one applied
"${mut[@]}" sync "$root" "$src"
cmake -S "$src" -B "$bld" -DCMAKE_BUILD_TYPE=Debug -DMOSAIK_TESTDATA="$testdata" >/dev/null

# targets REGEX: the executables the tests of REGEX run (test_X is the
# target X; the CLI for cli_* and for the unit tests that call it).
targets() {
  local t out=(mosaik_cli)
  while read -r t; do
    case $t in test_*) out+=("$t") ;; esac
  done < <(cd "$bld" && ctest -N -R "$1" | sed -n 's/^ *Test *#[0-9]*: //p')
  printf '%s\n' "${out[@]}"
}

# run_tests REGEX LOG: build what REGEX needs and run it; 0 green, 1 red,
# 2 when the build fails.
run_tests() {
  local re=$1 log=$2 n
  n=$(cd "$bld" && ctest -N -R "$re" | sed -n 's/^Total Tests: //p')
  if [ "${n:-0}" -eq 0 ]; then
    echo "mutants: the regex '$re' selects no test" >&2
    return 3
  fi
  # shellcheck disable=SC2046
  if ! cmake --build "$bld" -j "$jobs" --target $(targets "$re") >"$log" 2>&1; then
    return 2
  fi
  (cd "$bld" && ctest -R "$re" -j "$jobs" --timeout 120 --output-on-failure) >>"$log" 2>&1 || return 1
  return 0
}

# Baseline: every test a selected mutant names, unmutated (as one regex of
# test names: CMake's regex engine is small).
union=$(cut -f2 <<<"$list" | sort -u | while read -r re; do
  (cd "$bld" && ctest -N -R "$re" | sed -n 's/^ *Test *#[0-9]*: //p')
done | sort -u | paste -sd'|')
union="^(${union})\$"
echo "== mutants: baseline (unmutated): $union"
if ! run_tests "$union" "$work/baseline.log"; then
  echo "mutants: the tests fail without any mutant; see $work/baseline.log" >&2
  tail -30 "$work/baseline.log" >&2
  exit 1
fi

total=0
killed=0
survivors=()
broken=()
while IFS=$'\t' read -r name re; do
  total=$((total + 1))
  log="$work/$name.log"
  "${mut[@]}" apply "$name" "$src"
  t0=$(date +%s)
  rc=0
  run_tests "$re" "$log" || rc=$?
  "${mut[@]}" restore "$src"
  dt=$(($(date +%s) - t0))
  case $rc in
  1)
    killed=$((killed + 1))
    printf '  killed    %-40s %3ss  %s\n' "$name" "$dt" \
      "$(grep -m1 -oE '[0-9]+ tests failed out of [0-9]+' "$log" || true)"
    ;;
  0)
    survivors+=("$name ($re)")
    printf '  SURVIVED  %-40s %3ss  (%s)\n' "$name" "$dt" "$re"
    ;;
  *)
    broken+=("$name: $( [ $rc -eq 2 ] && echo "does not compile" || echo "bad test regex"), see $log")
    printf '  BROKEN    %-40s %3ss\n' "$name" "$dt"
    ;;
  esac
done <<<"$list"

echo "== mutants: killed $killed/$total in $(($(date +%s) - start)) s"
if [ ${#survivors[@]} -gt 0 ]; then
  echo "survivors (the tests named did not notice the change):"
  printf '  %s\n' "${survivors[@]}"
fi
if [ ${#broken[@]} -gt 0 ]; then
  echo "broken mutants (fix the list):"
  printf '  %s\n' "${broken[@]}"
fi
[ ${#survivors[@]} -eq 0 ] && [ ${#broken[@]} -eq 0 ]
