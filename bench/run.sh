#!/usr/bin/env bash
# make bench: every benchmark, each beside its named peer, as `name: value unit`.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
testdata=../shared/testdata
if [ -x "$build/bench/bench_tdx_verify" ] && [ -d "$testdata/tdx" ]; then
  echo "== TDX quote verification (phala-v4 quote + collateral, µs per verification)"
  out=$("$build/bench/bench_tdx_verify" "$testdata" "${BENCH_ITERS:-2000}")
  echo "$out"
  peer_dir=${DCAP_QVL_WEB_DIR:-$build/bench/node}
  if command -v npm >/dev/null && command -v node >/dev/null; then
    if [ ! -f "$peer_dir/node_modules/@phala/dcap-qvl-web/dcap-qvl-web.js" ]; then
      mkdir -p "$peer_dir"
      (cd "$peer_dir" && npm install --silent --no-audit --no-fund @phala/dcap-qvl-web@0.3.3 >/dev/null 2>&1) \
        || echo "dcap_qvl_web: could not install @phala/dcap-qvl-web from npm"
    fi
    if [ -f "$peer_dir/node_modules/@phala/dcap-qvl-web/dcap-qvl-web.js" ]; then
      peer=$(node bench/dcap_qvl_web.mjs "$peer_dir/node_modules/@phala/dcap-qvl-web" \
               "$testdata/tdx/phala-v4/quote.bin" "$testdata/tdx/phala-v4/collateral.json" \
               1752919234 "${BENCH_PEER_ITERS:-200}")
      echo "$peer"
      warm=$(echo "$out" | awk '/^tdx_verify_warm:/{print $2}')
      qvl=$(echo "$peer" | awk '/^dcap_qvl_web_verify:/{print $2}')
      awk -v w="$warm" -v q="$qvl" 'BEGIN{printf "dcap_qvl_web_over_warm: %.1f x\n", q/w}'
    fi
  else
    echo "dcap_qvl_web: node/npm not installed (scripts/deps.sh bench installs them)"
  fi
fi
if [ -x "$build/bench/bench_snp_verify" ] && [ -d "$testdata/snp" ]; then
  echo "== SEV-SNP report verification (virtee-milan report + VCEK, µs per verification)"
  out=$("$build/bench/bench_snp_verify" "$testdata" "${BENCH_ITERS:-1000}")
  echo "$out"
  lit_dir=${LIT_SNP_DIR:-$build/bench/node-snp}
  lit_pkg=$lit_dir/node_modules/@lit-protocol/sev-snp-utils-sdk
  if command -v npm >/dev/null && command -v node >/dev/null; then
    if [ ! -f "$lit_pkg/package.json" ]; then
      mkdir -p "$lit_dir"
      # pako is required by the SDK but not declared as its dependency.
      (cd "$lit_dir" && npm install --silent --no-audit --no-fund \
         @lit-protocol/sev-snp-utils-sdk@6.11.5 pako >/dev/null 2>&1) \
        || echo "lit_sev_snp: could not install @lit-protocol/sev-snp-utils-sdk from npm"
    fi
    if [ -f "$lit_pkg/package.json" ]; then
      peer=$(node bench/lit_sev_snp.js "$lit_pkg" "$testdata/snp/virtee-milan/report.bin" \
               "$testdata/snp/virtee-milan/vcek.der" "${BENCH_PEER_ITERS:-50}")
      echo "$peer"
      warm=$(echo "$out" | awk '/^snp_verify_warm:/{print $2}')
      cold=$(echo "$out" | awk '/^snp_verify_cold:/{print $2}')
      lit=$(echo "$peer" | awk '/^lit_sev_snp_verify:/{print $2}')
      awk -v w="$warm" -v c="$cold" -v l="$lit" \
        'BEGIN{printf "lit_over_warm: %.1f x\nlit_over_cold: %.1f x\n", l/w, l/c}'
    fi
  else
    echo "lit_sev_snp: node/npm not installed (scripts/deps.sh bench installs them)"
  fi
fi
if [ -x "$build/bench/bench_discovery" ]; then
  echo "== discovery (entries applied beside bare Ed25519 verification; convergence vs node count)"
  "$build/bench/bench_discovery" "${BENCH_MAX_NODES:-64}"
fi
if [ -x "$build/bench/bench_streams" ]; then
  echo "== streams over loopback TLS beside ZeroMQ PUB/SUB with CURVE (same program)"
  "$build/bench/bench_streams" --seconds "${BENCH_STREAM_SECONDS:-2}"
fi
if [ -x "$build/bench/bench_groups" ]; then
  echo "== groups: commits on canonical raft over mosaik bonds beside raft_uv_tcp"
  "$build/bench/bench_groups"
fi
