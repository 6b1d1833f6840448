#!/usr/bin/env bash
# make bench: every benchmark, each beside its named peer, as `name: value unit`
# lines; then one table (measure, ours, peer, ratio), printed and written to
# bench/results.md with the machine's CPU (/proc/cpuinfo) and the date.
#
#   bench/run.sh [BUILD_DIR]
#
# Every comparison is made in the same run (the peer right beside ours), so
# a ratio stays meaningful on a busy machine even when the figures do not.
# In the table, ratio > 1 means ours is better: ours/peer for rates,
# peer/ours for times; a row without a peer program compares with the
# issue's goal (peer column "goal ...") or shows no ratio.
#
# Environment: BENCH_ITERS, BENCH_PEER_ITERS (TDX verifications),
# BENCH_MAX_NODES (discovery, default 256), BENCH_STREAM_SECONDS,
# DCAP_QVL_WEB_DIR (where @phala/dcap-qvl-web is installed with npm),
# BENCH_RESULTS (the results file, default bench/results.md), BENCH_NOTE (a
# line added to its header, e.g. what else ran on the machine).
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
testdata=../shared/testdata
results=${BENCH_RESULTS:-bench/results.md}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
load_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")

# Run a benchmark: its lines go to stdout and to the log; a failure is said.
run() {
  local name=$1
  shift
  "$@" 2>&1 | tee -a "$log"
  local rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || echo "$name: failed (exit status $rc)" | tee -a "$log"
}

if [ -x "$build/bench/bench_tdx_verify" ] && [ -d "$testdata/tdx" ]; then
  echo "== TDX quote verification (phala-v4 quote + collateral, µs per verification)"
  run bench_tdx_verify "$build/bench/bench_tdx_verify" "$testdata" "${BENCH_ITERS:-2000}"
  peer_dir=${DCAP_QVL_WEB_DIR:-$build/bench/node}
  if command -v npm >/dev/null && command -v node >/dev/null; then
    if [ ! -f "$peer_dir/node_modules/@phala/dcap-qvl-web/dcap-qvl-web.js" ]; then
      mkdir -p "$peer_dir"
      (cd "$peer_dir" && npm install --silent --no-audit --no-fund @phala/dcap-qvl-web@0.3.3 >/dev/null 2>&1) \
        || echo "dcap_qvl_web: could not install @phala/dcap-qvl-web from npm"
    fi
    if [ -f "$peer_dir/node_modules/@phala/dcap-qvl-web/dcap-qvl-web.js" ]; then
      run dcap_qvl_web node bench/dcap_qvl_web.mjs "$peer_dir/node_modules/@phala/dcap-qvl-web" \
        "$testdata/tdx/phala-v4/quote.bin" "$testdata/tdx/phala-v4/collateral.json" \
        1752919234 "${BENCH_PEER_ITERS:-200}"
    fi
  else
    echo "dcap_qvl_web: node/npm not found (scripts/deps.sh bench installs them)" | tee -a "$log"
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
  echo "== discovery (entries applied beside bare Ed25519 verification; convergence, push and memory vs node count)"
  run bench_discovery "$build/bench/bench_discovery" "${BENCH_MAX_NODES:-256}"
fi
if [ -x "$build/bench/bench_streams" ]; then
  echo "== streams over loopback TLS beside ZeroMQ PUB/SUB with CURVE (same program)"
  run bench_streams "$build/bench/bench_streams" --seconds "${BENCH_STREAM_SECONDS:-2}"
fi
if [ -x "$build/bench/bench_groups" ]; then
  echo "== groups: commits on canonical raft over mosaik bonds beside raft_uv_tcp"
  run bench_groups "$build/bench/bench_groups"
fi

# ----- the table ------------------------------------------------------------------

# The value and unit of `key:` in the log (empty when absent).
val() { awk -v k="$1:" '$1 == k { print $2; exit }' "$log"; }
unit() { awk -v k="$1:" '$1 == k { print $3; exit }' "$log"; }
fmt() { # a value with its unit, thousands as k
  awk -v v="$1" -v u="$2" 'BEGIN {
    if (v >= 10000 && u ~ /\/s$/) printf "%.0f k %s", v / 1000, u
    else if (v >= 100) printf "%.0f %s", v, u
    else printf "%g %s", v, u }'
}
rows=()
# row MEASURE OURS_KEY PEER_NAME PEER_KEY hi|lo: a measured peer.
row() {
  local measure=$1 ok=$2 pname=$3 pk=$4 dir=$5 o p
  o=$(val "$ok")
  [ -n "$o" ] || return 0
  p=$(val "$pk")
  if [ -z "$p" ]; then
    rows+=("| $measure | $(fmt "$o" "$(unit "$ok")") | $pname: not run | |")
    return 0
  fi
  rows+=("| $measure | $(fmt "$o" "$(unit "$ok")") | $pname $(fmt "$p" "$(unit "$pk")") | $(
    awk -v o="$o" -v p="$p" -v d="$dir" 'BEGIN {
      r = (d == "hi") ? o / p : p / o; printf (r >= 10 ? "%.0f×" : "%.2f×"), r }') |")
}
# goal MEASURE OURS_KEY GOAL UNIT hi|lo|under: a goal instead of a peer
# (under: strictly below GOAL, which the ratio GOAL/ours then exceeds 1).
goal() {
  local measure=$1 ok=$2 g=$3 u=$4 dir=$5 o rel
  o=$(val "$ok")
  [ -n "$o" ] || return 0
  case "$dir" in hi) rel="≥" ;; lo) rel="≤" ;; *) rel="<" ;; esac
  rows+=("| $measure | $(fmt "$o" "$(unit "$ok")") | goal $rel $g $u | $(
    awk -v o="$o" -v g="$g" -v d="$dir" 'BEGIN {
      r = (d == "hi") ? o / g : (o > 0 ? g / o : 99); printf "%.2f×", r }') |")
}
# plain MEASURE OURS_KEY: no peer, no goal.
plain() {
  local o
  o=$(val "$2")
  [ -n "$o" ] && rows+=("| $1 | $(fmt "$o" "$(unit "$2")") | | |")
  return 0
}

row "stream, 64 B messages" streams_64B_msgs "ZeroMQ+CURVE" zmq_curve_64B_msgs hi
row "stream, 1 KiB messages" streams_1KiB_msgs "ZeroMQ+CURVE" zmq_curve_1KiB_msgs hi
row "stream, 64 KiB messages" streams_64KiB_throughput "ZeroMQ+CURVE" zmq_curve_64KiB_throughput hi
row "stream, 64 B, lossless" streams_64B_lossless_msgs "ZeroMQ+CURVE" zmq_curve_64B_lossless_msgs hi
row "stream, 1 KiB, lossless" streams_1KiB_lossless_msgs "ZeroMQ+CURVE" zmq_curve_1KiB_lossless_msgs hi
row "stream, 64 KiB, lossless" streams_64KiB_lossless_throughput "ZeroMQ+CURVE" \
  zmq_curve_64KiB_lossless_throughput hi
row "stream latency p50 (64 B)" streams_latency_p50 "ZeroMQ+CURVE" zmq_curve_latency_p50 lo
row "stream latency p99 (64 B)" streams_latency_p99 "ZeroMQ+CURVE" zmq_curve_latency_p99 lo
for n in 3 5; do
  row "group commits, $n nodes, sequential" "groups_${n}_commits_per_s" "raft_uv_tcp" \
    "raft_tcp_${n}_commits_per_s" hi
  row "group commits, $n nodes, TDX bonds" "groups_tdx_${n}_commits_per_s" "raft_uv_tcp" \
    "raft_tcp_${n}_commits_per_s" hi
done
row "TDX verification, warm" tdx_verify_warm "dcap-qvl-web" dcap_qvl_web_verify lo
row "TDX verification, cold" tdx_verify_full "its ECDSA floor (9 P-256 verifications)" \
  tdx_cold_ecdsa_floor lo
goal "TDX verification, cold" tdx_verify_full 800 µs lo
row "TDX verification, new peer on a known platform" tdx_verify_new_peer \
  "its ECDSA floor (3 P-256 verifications)" tdx_new_peer_ecdsa_floor lo
goal "TDX verification, new peer over its floor" new_peer_over_floor 1.3 × lo
row "discovery, entries applied" discovery_entries_applied "bare Ed25519 verify" \
  ed25519_verify_floor hi
for n in 64 256; do
  goal "discovery, $n nodes from cold to converged" "discovery_converge_${n}_nodes" 2000 ms lo
  goal "discovery, a change reaching $n nodes" "discovery_change_${n}_nodes" 300 ms lo
  goal "discovery, $n nodes: most hops of the change" "discovery_change_${n}_nodes_max_hops" \
    8 "hops (under the limit)" under
  row "discovery, $n nodes: CPU time to converge" "discovery_converge_${n}_nodes_cpu" \
    "n(n-1) Ed25519 checks" "discovery_converge_${n}_nodes_verify_floor" lo
  plain "discovery, $n nodes: nodes the change reached by push" "discovery_change_${n}_nodes_by_push"
  plain "discovery, $n nodes: messages per change" "discovery_change_${n}_nodes_msgs"
  plain "discovery, $n nodes: messages per change per node" \
    "discovery_change_${n}_nodes_msgs_per_node"
done
plain "memory: idle node (RSS)" discovery_rss_idle_node
for n in 16 64 256; do
  plain "memory: per known peer, $n peers (RSS)" "discovery_rss_per_peer_${n}"
done

cpu=$(awk -F': *' '/^model name/ { m = $2 } /^processor/ { n++ } END { printf "%s × %d", m, n }' \
  /proc/cpuinfo 2>/dev/null)
{
  echo "# make bench results"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- CPU: ${cpu:-unknown} (/proc/cpuinfo)"
  echo "- load average (1, 5, 15 min) at start: $load_start; at end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")"
  echo "- commit: $(git describe --always --dirty 2>/dev/null || echo unknown)"
  [ -z "${BENCH_NOTE:-}" ] || echo "- note: $BENCH_NOTE"
  echo
  echo "Ratio > 1: ours is better (ours/peer for rates, peer/ours for times;"
  echo "against a goal, how far inside it). Each peer ran in the same run as ours."
  echo
  echo "| measure | ours | peer | ratio |"
  echo "| --- | --- | --- | --- |"
  printf '%s\n' "${rows[@]}"
} >"$results"
echo "== results (written to $results)"
cat "$results"
