#!/usr/bin/env bash
# CLI test of `mosaik node` with several processes on loopback:
#   1. three processes converge (each reports the other two as discovered);
#   2. a process killed with SIGKILL is purged by the others after
#      --purge-after-ms (no departure was announced);
#   3. SIGTERM makes a process announce its departure, which the others see;
#   4. the Prometheus responder answers with discovery and net counters,
#      and a producing node's with its stream statistics;
#   5. (TDX builds) a node with a simulated TDX ticket is validated by a node
#      trusting the shared simulator root with the right MRTD, and refused,
#      with the reason, by one requiring another MRTD.
set -u
CLI=${MOSAIK_CLI:?MOSAIK_CLI must point to the mosaik binary}
TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
fails=0
fail() {
    echo "FAIL: $*" >&2
    for f in "$TMP"/*.out "$TMP"/*.err; do
        [ -s "$f" ] && sed "s|^|  $(basename "$f"): |" "$f" >&2
    done
    fails=$((fails + 1))
}

FAST=(--announce-ms 300 --sync-ms 300 --purge-after-ms 2000)
# start NAME args... : runs a node in the background, output in $TMP/NAME.out
start() {
    local name=$1
    shift
    "$CLI" node --network cli-test --json "${FAST[@]}" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    local pid=$!
    PIDS+=("$pid")
    eval "PID_$name=$pid"
    wait_for "$name" '"event":"started"' 10 || fail "$name did not start"
    eval "ID_$name=$(sed -n 's/.*"event":"started","peer":"\([0-9a-f]*\)".*/\1/p' "$TMP/$name.out" | head -1)"
    eval "BS_$name=$(sed -n 's/.*"bootstrap":"\([^"]*\)".*/\1/p' "$TMP/$name.out" | head -1)"
}
# wait_for NAME PATTERN SECONDS
wait_for() {
    local name=$1 pattern=$2 secs=$3 i
    for ((i = 0; i < secs * 20; i++)); do
        grep -qF -- "$pattern" "$TMP/$name.out" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}
ev() { echo "\"event\":\"$1\",\"peer\":\"$2\""; }

start a
start b --bootstrap "$BS_a"
start c --bootstrap "$BS_a" --tag validator
for n in a b c; do
    for m in a b c; do
        [ $n = $m ] && continue
        eval "idm=\$ID_$m"
        wait_for $n "$(ev discovered "$idm")" 10 || fail "$n did not discover $m"
    done
done
echo "# 3 processes converged"

# SIGKILL: no departure; purged after purge_after.
kill -9 "$PID_c"
wait "$PID_c" 2>/dev/null
t0=$(date +%s%N)
for n in a b; do
    wait_for $n "$(ev purged "$ID_c")" 10 || fail "$n did not purge the killed node"
done
t1=$(date +%s%N)
echo "# killed node purged after $(((t1 - t0) / 1000000)) ms (purge_after 2000 ms)"
grep -qF "$(ev departed "$ID_c")" "$TMP/a.out" && fail "a saw a departure from a killed node"

# SIGTERM: graceful departure.
kill -TERM "$PID_b"
wait_for a "$(ev departed "$ID_b")" 5 || fail "a did not see b depart"
wait_for b '"event":"left"' 5 || fail "b did not report leaving"

# Metrics over HTTP (bash /dev/tcp, no curl needed).
start m --bootstrap "$BS_a" --metrics 127.0.0.1:0
MADDR=$(sed -n 's/.*"metrics":"\([^"]*\)".*/\1/p' "$TMP/m.out" | head -1)
wait_for m "$(ev discovered "$ID_a")" 10 || fail "m did not discover a"
if [ -n "$MADDR" ] && exec 3<>"/dev/tcp/${MADDR%:*}/${MADDR##*:}"; then
    printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3
    timeout 5 cat <&3 >"$TMP/metrics.txt"
    exec 3<&-
    grep -q '^HTTP/1.0 200' "$TMP/metrics.txt" || fail "metrics: no 200 response"
    grep -q '^mosaik_discovery_catalog_peers{peer="[0-9a-f]*"} 1' "$TMP/metrics.txt" ||
        fail "metrics: catalog size not 1"
    grep -q '^mosaik_net_bytes_in_total' "$TMP/metrics.txt" || fail "metrics: no net counters"
    grep -q 'reason="bad_signature"' "$TMP/metrics.txt" || fail "metrics: no refusal counters"
else
    fail "metrics: cannot connect to '$MADDR'"
fi

# Stream statistics in the metrics of a producer with a consumer.
start sp --bootstrap "$BS_a" --produce cli.feed --metrics 127.0.0.1:0
start sc --bootstrap "$BS_sp" --consume cli.feed
wait_for sc '"event":"received"' 15 || fail "the consumer received nothing"
SADDR=$(sed -n 's/.*"metrics":"\([^"]*\)".*/\1/p' "$TMP/sp.out" | head -1)
if [ -n "$SADDR" ] && exec 3<>"/dev/tcp/${SADDR%:*}/${SADDR##*:}"; then
    printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3
    timeout 5 cat <&3 >"$TMP/smetrics.txt"
    exec 3<&-
    grep -q '^# TYPE mosaik_stream_items_total counter' "$TMP/smetrics.txt" ||
        fail "metrics: no stream families"
    grep -qE '^mosaik_stream_items_total\{peer="[0-9a-f]{8}",stream="cli.feed",side="producer"\} [1-9]' \
        "$TMP/smetrics.txt" || fail "metrics: no items sent on cli.feed"
    grep -qE '^mosaik_stream_admitted_total\{[^}]*stream="cli.feed"[^}]*\} 1$' "$TMP/smetrics.txt" ||
        fail "metrics: the consumer is not counted as admitted"
    grep -qE '^mosaik_stream_channels_active\{[^}]*\} 1$' "$TMP/smetrics.txt" ||
        fail "metrics: no active channel"
    grep -q '^mosaik_discovery_catalog_peers' "$TMP/smetrics.txt" ||
        fail "metrics: the stream families replaced the library's"
else
    fail "stream metrics: cannot connect to '$SADDR'"
fi
echo "# stream statistics in the Prometheus output"

# Simulated TDX tickets, validated by peers.
if [ "${MOSAIK_FEATURE_TDX:-1}" = 1 ]; then
    MRTD=$(printf 'ab%.0s' $(seq 48))
    OTHER=$(printf 'cd%.0s' $(seq 48))
    start t --bootstrap "$BS_a" --tdx-sim "$MRTD" --tdx-sim-state "$TMP/sim.pem"
    start v --bootstrap "$BS_a" --require-tdx-mrtd "$MRTD" --trust-sim-root "$TMP/sim.pem"
    start w --bootstrap "$BS_a" --require-tdx-mrtd "$OTHER" --trust-sim-root "$TMP/sim.pem"
    wait_for v "$(ev discovered "$ID_t")" 10 || fail "v did not discover t"
    wait_for w "$(ev discovered "$ID_t")" 10 || fail "w did not discover t"
    grep -F "$(ev discovered "$ID_t")" "$TMP/v.out" | grep -qF '"tdx":{"valid":true' ||
        fail "v did not validate t's simulated TDX ticket"
    grep -F "$(ev discovered "$ID_t")" "$TMP/w.out" | grep -qF '"valid":false' ||
        fail "w accepted a ticket with the wrong MRTD"
    grep -F "$(ev discovered "$ID_t")" "$TMP/w.out" | grep -q 'MRTD' ||
        fail "w's refusal does not name the MRTD"
    # A node without any TDX ticket is refused with a reason.
    grep -F "$(ev discovered "$ID_a")" "$TMP/v.out" | grep -qF '"valid":false' ||
        fail "v accepted a node without a TDX ticket"
    echo "# simulated TDX ticket validated across processes"
fi

[ $fails = 0 ] && echo "node.sh: all passed"
exit $((fails > 0))
