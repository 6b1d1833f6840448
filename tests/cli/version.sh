#!/usr/bin/env bash
# CLI test of `mosaik version` (and --version): one line with the library's
# runtime version (mk_version) and the features compiled into it
# (mk_features), which must be those of this build (CTest passes them as
# MOSAIK_FEATURE_TDX, MOSAIK_FEATURE_BUILDER and MOSAIK_FEATURE_SNP), in
# text and in `version --json`.
set -u
CLI=${MOSAIK_CLI:?MOSAIK_CLI must point to the mosaik binary}
onoff() { [ "${1:-0}" = 1 ] && echo on || echo off; }
tdx=$(onoff "${MOSAIK_FEATURE_TDX:-}")
builder=$(onoff "${MOSAIK_FEATURE_BUILDER:-}")
snp=$(onoff "${MOSAIK_FEATURE_SNP:-}")
fails=0
for arg in version --version; do
  out=$("$CLI" "$arg") || { echo "FAIL: mosaik $arg exited $?" >&2; fails=$((fails + 1)); continue; }
  if ! [[ "$out" =~ ^mosaik\ [0-9]+\.[0-9]+\.[0-9]+\ \(tee=(on|off)\ tdx=(on|off)\ tdx-builder=(on|off)\ snp=(on|off)\)$ ]]; then
    echo "FAIL: mosaik $arg: unexpected output '$out'" >&2
    fails=$((fails + 1))
  elif [ "${BASH_REMATCH[2]}" != "$tdx" ] || [ "${BASH_REMATCH[3]}" != "$builder" ] ||
       [ "${BASH_REMATCH[4]}" != "$snp" ]; then
    echo "FAIL: mosaik $arg says tdx=${BASH_REMATCH[2]} tdx-builder=${BASH_REMATCH[3]} snp=${BASH_REMATCH[4]}, the build has tdx=$tdx tdx-builder=$builder snp=$snp" >&2
    fails=$((fails + 1))
  fi
done
# --json lists every feature, SNP included.
js=$("$CLI" version --json)
want_snp=$([ "$snp" = on ] && echo true || echo false)
echo "$js" | grep -q "\"snp\": $want_snp" || { echo "FAIL: version --json lacks \"snp\": $want_snp: $js" >&2; fails=$((fails + 1)); }
# The usage text names the same version.
ver=$("$CLI" version | cut -d' ' -f2)
"$CLI" --help 2>&1 | head -1 | grep -qF "mosaik $ver " || { echo "FAIL: --help does not name version $ver" >&2; fails=$((fails + 1)); }
[ "$fails" = 0 ] && echo "version: ok" || exit 1
