# Sourced by tdx_status_page.sh and tdx_status_browser.sh (not a test by
# itself: only tests/cli/*.sh are): a small simulated network for the
# status page, all on loopback with port 0.
#   b  consumes stream "feed", simulated TD with MRTD aa..; creates the
#      shared simulator state;
#   a  produces "feed", requires MRTD aa.. of its consumers (trusting the
#      simulator), simulated TD aa.., serves the status page on
#      127.0.0.1:0 (--http);
#   c  consumes "feed" with a simulated TD of MRTD bb..: refused by a;
#      serves its own page too (it shows a's refusal of it, "refused us").
# After status_net_up: ID_a ID_b ID_c (peer ids), HTTP (a's ip:port),
# HTTP_C (c's),
# $TMP/NAME.out (each node's JSON lines). Needs CLI, TMP, fail, PIDS.
MRTD_OK=$(printf 'aa%.0s' $(seq 48))
MRTD_BAD=$(printf 'bb%.0s' $(seq 48))
FAST=(--announce-ms 300 --sync-ms 300 --purge-after-ms 20000)

# wait_for NAME PATTERN SECONDS (polls the node's output)
wait_for() {
    local name=$1 pattern=$2 secs=$3 i
    for ((i = 0; i < secs * 20; i++)); do
        grep -qF -- "$pattern" "$TMP/$name.out" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# start NAME args...
start() {
    local name=$1
    shift
    "$CLI" node --network status-test --json "${FAST[@]}" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    PIDS+=("$!")
    wait_for "$name" '"event":"started"' 20 || fail "$name did not start"
    eval "ID_$name=$(sed -n 's/.*"event":"started","peer":"\([0-9a-f]*\)".*/\1/p' "$TMP/$name.out" | head -1)"
    eval "BS_$name=$(sed -n 's/.*"bootstrap":"\([^"]*\)".*/\1/p' "$TMP/$name.out" | head -1)"
}

status_net_up() {
    local st=$TMP/sim.state
    start b --tdx-sim "$MRTD_OK" --tdx-sim-state "$st" --consume feed
    start a --bootstrap "$BS_b" --tdx-sim "$MRTD_OK" --tdx-sim-state "$st" --produce feed \
        --require-tdx-mrtd "$MRTD_OK" --trust-sim-root "$st" --http 127.0.0.1:0
    start c --bootstrap "$BS_b" --tdx-sim "$MRTD_BAD" --tdx-sim-state "$st" --consume feed \
        --http 0
    HTTP=$(sed -n 's/.*"http":"\([^"]*\)".*/\1/p' "$TMP/a.out" | head -1)
    HTTP_C=$(sed -n 's/.*"http":"\([^"]*\)".*/\1/p' "$TMP/c.out" | head -1)
    [ -n "$HTTP_C" ] || fail "c printed no status page address"
    [ -n "$HTTP" ] || fail "a printed no status page address"
    # a judged both consumers: admitted b, refused c.
    wait_for a "\"event\":\"discovered\",\"peer\":\"$ID_b\"" 20 || fail "a did not discover b"
    wait_for a "\"event\":\"discovered\",\"peer\":\"$ID_c\"" 20 || fail "a did not discover c"
}
