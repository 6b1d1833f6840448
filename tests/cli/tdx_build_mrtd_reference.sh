#!/usr/bin/env bash
# tests/cli/tdx_build_mrtd_reference.sh — the real-firmware MRTDs of
# tests/data/ovmf-mrtd.tsv, each recomputed by the independent reference
# (tests/builder/mrtd_reference.py) and by `mosaik tdx measure` on the image
# the row names. An image that is missing or not the row's exact build
# (SHA-256) makes the test skip (exit 77): scripts/deps.sh test installs
# Debian's ovmf.
set -u
CLI=${MOSAIK_CLI:?MOSAIK_CLI not set}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
REF=$SRC/tests/builder/mrtd_reference.py
FAILS=0
ran=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
while IFS=$'\t' read -r pkg path sha order want; do
  case $pkg in '#'* | '') continue ;; esac
  if [ ! -r "$path" ]; then
    echo "SKIP: $path ($pkg) is not installed"
    exit 77
  fi
  have=$(sha256sum "$path" | cut -d' ' -f1)
  if [ "$have" != "$sha" ]; then
    echo "SKIP: $path is not $pkg (sha256 $have)"
    exit 77
  fi
  python3 "$REF" "$path" "$order" "$want" || fail "$pkg $order: the reference computes another MRTD"
  got=$("$CLI" tdx measure --firmware "$path" --page-order "$order" --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["mrtd"])') || fail "$pkg $order: mosaik tdx measure failed"
  [ "$got" = "$want" ] || fail "$pkg $order: mosaik tdx measure says $got, the table $want"
  ran=$((ran + 1))
done <"$SRC/tests/data/ovmf-mrtd.tsv"
[ "$ran" -gt 0 ] || fail "no firmware row in tests/data/ovmf-mrtd.tsv"
[ "$FAILS" -eq 0 ] || exit 1
echo "mrtd reference: $ran values agree"
