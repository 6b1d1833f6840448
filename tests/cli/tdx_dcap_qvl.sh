#!/usr/bin/env bash
# tests/cli/tdx_dcap_qvl.sh — the rows of the TDX TCB what-if table
# (tests/data/tdx-tcb-whatif.tsv) that an independent implementation can
# check, run through both: @phala/dcap-qvl-web (dcap-qvl compiled to wasm,
# npm) and `mosaik tdx verify`, on the same unchanged phala-v4 quote and
# bundle at the same times. Every row whose dcap-qvl column says "checked"
# must be one of the cases below (so the table cannot claim a check that
# does not run). Which rows dcap-qvl-web can check at all, and why the
# others cannot be, is in docs/tdx-tcb-rules.md (sections 3 and 5).
#
# Needs node and npm (commands); the package is installed into the build
# tree once (DCAP_QVL_WEB_DIR to use another directory). Without node/npm,
# or when npm cannot install it, the test reports skipped (exit 77).
set -u
CLI=${MOSAIK_CLI:?MOSAIK_CLI not set}
TD=${MOSAIK_TESTDATA:?MOSAIK_TESTDATA not set}/tdx
SRC=$(cd "$(dirname "$0")/../.." && pwd)
TABLE=$SRC/tests/data/tdx-tcb-whatif.tsv
PEER_DIR=${DCAP_QVL_WEB_DIR:-$(dirname "$CLI")/dcap-qvl-web}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }

for c in node npm; do
  if ! command -v "$c" >/dev/null; then
    echo "SKIP: $c is not installed (the dcap-qvl cross-check needs node and npm)"
    exit 77
  fi
done
MOD=$PEER_DIR/node_modules/@phala/dcap-qvl-web
if [ ! -f "$MOD/dcap-qvl-web.js" ]; then
  mkdir -p "$PEER_DIR"
  if ! (cd "$PEER_DIR" && npm install --silent --no-audit --no-fund \
        @phala/dcap-qvl-web@0.3.3 >"$TMP/npm.log" 2>&1); then
    echo "SKIP: npm could not install @phala/dcap-qvl-web@0.3.3:"
    tail -5 "$TMP/npm.log"
    exit 77
  fi
fi

# dcap-qvl-web's verdict as one line: "ok STATUS ID,ID..." or "refused REASON".
cat >"$TMP/peer.mjs" <<'JS'
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
const [dir, quote, coll, now] = process.argv.slice(2);
const mod = await import(pathToFileURL(join(dir, 'dcap-qvl-web.js')).href);
mod.initSync({ module: readFileSync(join(dir, 'dcap-qvl-web_bg.wasm')) });
try {
  const r = mod.js_verify(new Uint8Array(readFileSync(quote)), JSON.parse(readFileSync(coll, 'utf8')),
                          BigInt(now));
  console.log(`ok ${r.status} ${(r.advisory_ids || []).join(',')}`);
} catch (e) {
  console.log(`refused ${String(e)}`);
}
JS
peer() { node "$TMP/peer.mjs" "$MOD" "$TD/phala-v4/quote.bin" "$TD/phala-v4/collateral.json" "$1"; }
# mosaik's verdict in the same form.
ours() {
  "$CLI" tdx verify "$TD/phala-v4/quote.bin" --collateral "$TD/phala-v4/collateral.json" \
    --at "$1" --json >"$TMP/out" 2>"$TMP/err"
  python3 - "$TMP/out" <<'PY'
import json, sys
try:
    j = json.load(open(sys.argv[1]))
except ValueError:
    print("refused (no JSON)"); sys.exit()
if j.get("verified"):
    print("ok %s %s" % (j.get("tcb_status"), ",".join(j.get("advisory_ids") or [])))
else:
    print("refused %s" % (j.get("reason") or j.get("error") or ""))
PY
}

# The rows checked here, with the table's expectation in dcap-qvl's words.
declare -A AT=([1]=1752919234 [2]=1752919235)
declare -A WANT=([1]="ok UpToDate " [2]="refused")
checked=$(awk -F'\t' '!/^#/ && $1 != "id" && $7 ~ /web 0\.3\.3: checked/ { print $1 }' "$TABLE")
[ -n "$checked" ] || fail "the table marks no row as checked by dcap-qvl-web"
for id in $checked; do
  t=${AT[$id]:-}
  if [ -z "$t" ]; then
    fail "row $id is marked checked by dcap-qvl-web but this test has no input for it"
    continue
  fi
  p=$(peer "$t")
  o=$(ours "$t")
  echo "row $id at $t: dcap-qvl-web: $p | mosaik: $o"
  case $p in "${WANT[$id]}"*) ;; *) fail "row $id: dcap-qvl-web says '$p', the table '${WANT[$id]}'" ;; esac
  case $o in "${WANT[$id]}"*) ;; *) fail "row $id: mosaik says '$o', the table '${WANT[$id]}'" ;; esac
  # Both accept with the same status and advisories, or both refuse.
  if [ "${p%% *}" = ok ] || [ "${o%% *}" = ok ]; then
    [ "$p" = "$o" ] || fail "row $id: dcap-qvl-web '$p' and mosaik '$o' differ"
  fi
done
[ "$FAILS" -eq 0 ] || exit 1
echo "dcap-qvl cross-check: rows $(echo $checked) agree"
