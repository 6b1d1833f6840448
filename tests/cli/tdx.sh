#!/usr/bin/env bash
# tests/cli/tdx.sh — `mosaik tdx`: verify real quotes (with collateral, or
# the chain alone with --chain-only, at explicit times), hex input, usage
# errors, simulated tickets refused unless the simulator root is trusted,
# and collateral fetched from a local stand-in for Intel PCS. No test needs
# the internet: without a collateral source, `tdx verify` fetches from
# Intel PCS, which the tests make unreachable (https_proxy to a closed port)
# to check that it then refuses to call anything verified (exit 3, naming
# --collateral and --chain-only).
set -u
CLI=${MOSAIK_CLI:?MOSAIK_CLI not set}
TD=${MOSAIK_TESTDATA:?MOSAIK_TESTDATA not set}/tdx
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILS=0
# Intel PCS, unreachable (no internet needed), and an empty collateral cache.
OFFLINE=(env https_proxy=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 no_proxy= NO_PROXY=
         XDG_CACHE_HOME="$TMP/xdg")

fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
# expect CODE DESCRIPTION -- command...   (stdout/stderr kept in $TMP/out, $TMP/err)
expect() {
    local want=$1 what=$2
    shift 3
    "$@" >"$TMP/out" 2>"$TMP/err"
    local got=$?
    if [ "$got" -ne "$want" ]; then
        fail "$what: exit $got, want $want"
        sed 's/^/  stdout: /' "$TMP/out" | head -5 >&2
        sed 's/^/  stderr: /' "$TMP/err" | head -5 >&2
    fi
}
has() { grep -q -- "$2" "$TMP/$1" || fail "$3: $1 lacks '$2'"; }

# --- phala-v4 with its collateral: valid at 1752919234, expired 1 s later.
expect 0 "phala-v4 at 1752919234" -- "$CLI" tdx verify "$TD/phala-v4/quote.bin" \
    --collateral "$TD/phala-v4/collateral.json" --at 1752919234 --json
has out '"verified": true' "phala-v4 at 1752919234"
has out '"tcb_status": "UpToDate"' "phala-v4 at 1752919234"
has out '"advisory_ids": \[\]' "phala-v4 at 1752919234"
has out '"fmspc": "b0c06f000000"' "phala-v4 at 1752919234"
has out '"quote_version": 4' "phala-v4 at 1752919234"
has out '"body": "TD1.0"' "phala-v4 at 1752919234"
has out '"trailing_bytes": 70' "phala-v4 at 1752919234"
has out '"mrtd": "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7"' "phala-v4 mrtd"

expect 1 "phala-v4 at 1752919235" -- "$CLI" tdx verify "$TD/phala-v4/quote.bin" \
    --collateral "$TD/phala-v4/collateral.json" --at 1752919235 --json
has out '"verified": false' "phala-v4 at 1752919235"
has err 'expired' "phala-v4 at 1752919235"

# Restricting the accepted statuses refuses an UpToDate platform.
expect 1 "phala-v4 --accept OutOfDate" -- "$CLI" tdx verify "$TD/phala-v4/quote.bin" \
    --collateral "$TD/phala-v4/collateral.json" --at 1752919234 --accept OutOfDate
has err 'UpToDate' "phala-v4 --accept OutOfDate"
expect 0 "phala-v4 --accept any" -- "$CLI" tdx verify "$TD/phala-v4/quote.bin" \
    --collateral "$TD/phala-v4/collateral.json" --at 1752919234 --accept any

# --- google-spr-v4 without collateral: fetched from Intel PCS, which is
# unreachable here: nothing is called verified (exit 3), and the refusal
# names --collateral and --chain-only, in the JSON and on stderr.
expect 3 "google-spr-v4 without collateral, offline" -- "${OFFLINE[@]}" "$CLI" tdx verify \
    "$TD/google-spr-v4/quote.bin" --at 1688169600 --json
has out '"verified": false' "google-spr-v4 offline"
has out '"chain_verified": false' "google-spr-v4 offline"
has out '"collateral": "pcs"' "google-spr-v4 offline"
has out '"collateral_url": "https://api.trustedservices.intel.com"' "google-spr-v4 offline"
has out '"class": "io"' "google-spr-v4 offline"
has out '--collateral FILE|DIR, or --chain-only' "google-spr-v4 offline"
has err '--collateral FILE|DIR, or --chain-only' "google-spr-v4 offline"
expect 3 "google-spr-v4 without collateral, offline, text" -- "${OFFLINE[@]}" "$CLI" tdx verify \
    "$TD/google-spr-v4/quote.bin" --at 1688169600
[ -s "$TMP/out" ] && fail "google-spr-v4 offline: a refusal printed a report on stdout"
# --chain-only: the chain alone, said so in text and JSON; not "verified".
expect 0 "google-spr-v4 chain only at 2023-07-01" -- "$CLI" tdx verify \
    "$TD/google-spr-v4/quote.bin" --at 1688169600 --chain-only --json
has out '"verified": false' "google-spr-v4 chain only"
has out '"chain_verified": true' "google-spr-v4 chain only"
has out '"chain_only": true' "google-spr-v4 chain only"
has out '"result": "chain verified; TCB status and revocation not checked"' "google-spr-v4 chain only"
has out '"tcb_status": null' "google-spr-v4 chain only"
has out '"trailing_bytes": 39' "google-spr-v4 chain only"
has out '"error": null' "google-spr-v4 chain only"
expect 0 "google-spr-v4 chain only, text, RFC 3339 --at" -- "$CLI" tdx verify \
    "$TD/google-spr-v4/quote.bin" --at 2023-07-01T00:00:00Z --chain-only
has out '^verified: false' "google-spr-v4 chain only, text"
has out '^result: chain verified; TCB status and revocation not checked' "google-spr-v4 chain only, text"
has out '^at: 2023-07-01T00:00:00Z' "google-spr-v4 chain only, text"
has err 'chain verified; TCB status and revocation not checked' "google-spr-v4 chain only, text"
expect 2 "--chain-only with --collateral" -- "$CLI" tdx verify "$TD/phala-v4/quote.bin" \
    --chain-only --collateral "$TD/phala-v4/collateral.json"
expect 2 "--pccs http:// without --allow-http" -- "$CLI" tdx verify "$TD/phala-v4/quote.bin" \
    --pccs http://127.0.0.1:9
expect 1 "google-spr-v4 at 2053-07-01" -- "$CLI" tdx verify "$TD/google-spr-v4/quote.bin" \
    --at 2635113600 --chain-only
has err 'expired' "google-spr-v4 at 2053"

# --- google-v5: TD 1.5 body.
expect 0 "google-v5 chain only" -- "$CLI" tdx verify "$TD/google-v5/quote.bin" \
    --at 1770076800 --chain-only --json
has out '"quote_version": 5' "google-v5"
has out '"body": "TD1.5"' "google-v5"

# --- an SGX quote is not a TDX quote.
expect 1 "phala-sgx" -- "$CLI" tdx verify "$TD/phala-sgx/quote.bin" --json
has out '"verified": false' "phala-sgx"
has out 'not a TDX quote' "phala-sgx"
has err 'not a TDX quote' "phala-sgx"

# --- hex input: 0x prefix, line breaks.
{ printf '0x'; od -An -v -tx1 "$TD/phala-v4/quote.bin" | tr -d ' '; } >"$TMP/q.hex"
expect 0 "hex input" -- "$CLI" tdx verify "$TMP/q.hex" \
    --collateral "$TD/phala-v4/collateral.json" --at 1752919234 --json
has out '"tcb_status": "UpToDate"' "hex input"
printf '0xzz' >"$TMP/bad.hex"
expect 1 "garbage input" -- "$CLI" tdx verify "$TMP/bad.hex"

# --- usage errors.
expect 2 "no argument" -- "$CLI" tdx verify
expect 2 "unknown option" -- "$CLI" tdx verify --frobnicate "$TD/phala-v4/quote.bin"
expect 2 "bad --accept" -- "$CLI" tdx verify --accept Sunny "$TD/phala-v4/quote.bin"
expect 2 "bad --at" -- "$CLI" tdx verify --at soon "$TD/phala-v4/quote.bin"
expect 2 "unknown subcommand" -- "$CLI" tdx frobnicate
expect 2 "ticket without -o" -- "$CLI" tdx ticket --sim "$TMP/sim.pem"
for sub in verify inspect ticket "collateral fetch" sim-init; do
    # shellcheck disable=SC2086
    expect 0 "tdx $sub --help" -- "$CLI" tdx $sub --help
    has out 'usage: mosaik tdx' "tdx $sub --help"
done
expect 0 "tdx --help" -- "$CLI" tdx --help

# --- inspect.
expect 0 "inspect quote" -- "$CLI" tdx inspect "$TD/google-v5/quote.bin" --json
has out '"body": "TD1.5"' "inspect quote"

# --- simulated tickets.
expect 3 "ticket with a missing sim state" -- "$CLI" tdx ticket --sim "$TMP/none.pem" \
    -o "$TMP/t.bin"
expect 0 "sim-init" -- "$CLI" tdx sim-init "$TMP/sim.pem" --root-out "$TMP/root.der"
has out 'NOT real TDX' "sim-init"
MRTD=$(printf 'ab%.0s' $(seq 48))
expect 0 "sim ticket" -- "$CLI" tdx ticket --sim "$TMP/sim.pem" --mrtd "$MRTD" \
    --peer peer-a --network demo --with-collateral -o "$TMP/t.bin"
has err 'SIMULATED' "sim ticket"
expect 1 "sim ticket without --trust-sim-root" -- "$CLI" tdx verify "$TMP/t.bin" --json
has out '"verified": false' "sim ticket untrusted"
has err 'simulator root is not trusted' "sim ticket untrusted"
expect 0 "sim ticket with --trust-sim-root (state file)" -- "$CLI" tdx verify "$TMP/t.bin" \
    --trust-sim-root "$TMP/sim.pem" --json
has out '"verified": true' "sim ticket trusted"
has out '"simulated": true' "sim ticket trusted"
has out "\"mrtd\": \"$MRTD\"" "sim ticket trusted"
has out '"tcb_status": "UpToDate"' "sim ticket trusted"
expect 0 "sim ticket with --trust-sim-root (root cert)" -- "$CLI" tdx verify "$TMP/t.bin" \
    --trust-sim-root "$TMP/root.der"
expect 0 "sim ticket, right peer and network" -- "$CLI" tdx verify "$TMP/t.bin" \
    --trust-sim-root "$TMP/sim.pem" --peer peer-a --network demo
expect 1 "sim ticket, other peer" -- "$CLI" tdx verify "$TMP/t.bin" \
    --trust-sim-root "$TMP/sim.pem" --peer peer-b
has err 'ticket binds peer' "sim ticket, other peer"
expect 1 "sim ticket, expired" -- "$CLI" tdx verify "$TMP/t.bin" \
    --trust-sim-root "$TMP/sim.pem" --at $(( $(date +%s) + 7200 ))
has err 'expired' "sim ticket, expired"
expect 0 "inspect ticket" -- "$CLI" tdx inspect "$TMP/t.bin" --json
has out '"report_data_binds_extra": true' "inspect ticket"
has out '"has_collateral": true' "inspect ticket"
# A ticket without collateral: fetched (unreachable here: exit 3), or the
# chain alone with --chain-only, which says so.
expect 0 "sim ticket without collateral" -- "$CLI" tdx ticket --sim "$TMP/sim.pem" \
    --quote-version 5 --td15 -o "$TMP/t5.bin"
expect 3 "sim v5 ticket without collateral, offline" -- "${OFFLINE[@]}" "$CLI" tdx verify \
    "$TMP/t5.bin" --trust-sim-root "$TMP/sim.pem" --json
has out '"verified": false' "sim v5 ticket offline"
has err '--chain-only' "sim v5 ticket offline"
expect 0 "sim v5 ticket, chain only" -- "$CLI" tdx verify "$TMP/t5.bin" \
    --trust-sim-root "$TMP/sim.pem" --chain-only --json
has out '"chain_only": true' "sim v5 ticket"
has out '"verified": false' "sim v5 ticket"
has out '"result": "chain verified; TCB status and revocation not checked"' "sim v5 ticket"
has out '"tcb_status": null' "sim v5 ticket"
has out '"body": "TD1.5"' "sim v5 ticket"
# A ticket's own collateral comes before fetching (no network needed).
expect 0 "sim ticket, its own collateral" -- "${OFFLINE[@]}" "$CLI" tdx verify "$TMP/t.bin" \
    --trust-sim-root "$TMP/sim.pem" --json
has out '"collateral": "ticket"' "sim ticket, its own collateral"
has out '"verified": true' "sim ticket, its own collateral"
# A corrupted ticket is refused with a reason.
head -c 100 "$TMP/t.bin" >"$TMP/trunc.bin"
expect 1 "truncated ticket" -- "$CLI" tdx verify "$TMP/trunc.bin" --trust-sim-root "$TMP/sim.pem"
has err 'TDX ticket' "truncated ticket"

# --- collateral fetch against a local stand-in for Intel PCS (python3).
PCS=$(cd "$(dirname "$0")/.." && pwd)/unit/tee/tdx/pcs_server.py
if command -v python3 >/dev/null; then
    python3 "$PCS" --collateral "$TD/phala-v4/collateral.json" --port-file "$TMP/port" &
    SRV=$!
    for _ in $(seq 50); do [ -s "$TMP/port" ] && break; sleep 0.1; done
    PORT=$(cat "$TMP/port" 2>/dev/null || echo 0)
    expect 0 "collateral fetch" -- "$CLI" tdx collateral fetch --fmspc b0c06f000000 \
        --pcs "http://127.0.0.1:$PORT" --allow-http --at 1752919234 -o "$TMP/fetched.json"
    expect 0 "verify with fetched collateral" -- "$CLI" tdx verify "$TD/phala-v4/quote.bin" \
        --collateral "$TMP/fetched.json" --at 1752919234 --json
    has out '"tcb_status": "UpToDate"' "verify with fetched collateral"
    # tdx verify without --collateral fetches from the PCCS (--pccs) through
    # the disk cache; with the server gone the cached bundle is used, and
    # without the cache nothing is verified.
    expect 0 "verify, fetched from --pccs" -- "$CLI" tdx verify "$TD/phala-v4/quote.bin" \
        --pccs "http://127.0.0.1:$PORT" --allow-http --cache "$TMP/pcs-cache" \
        --at 2025-07-19T10:00:34Z --json
    has out '"verified": true' "verify, fetched from --pccs"
    has out '"collateral": "pcs"' "verify, fetched from --pccs"
    has out '"tcb_status": "UpToDate"' "verify, fetched from --pccs"
    ls "$TMP/pcs-cache"/tdx-collateral-B0C06F000000-platform.json >/dev/null 2>&1 ||
        fail "verify, fetched from --pccs: nothing cached"
    expect 1 "collateral fetch over http without --allow-http" -- "$CLI" tdx collateral fetch \
        --fmspc b0c06f000000 --pcs "http://127.0.0.1:$PORT" --at 1752919234 -o "$TMP/x.json"
    # The same collateral as a directory of PCS responses.
    mkdir -p "$TMP/pcsdir"
    python3 - "$TD/phala-v4/collateral.json" "$TMP/pcsdir" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
d = sys.argv[2]
def w(name, data, mode="w"):
    with open(d + "/" + name, mode) as f:
        f.write(data)
w("tcb_info.json", '{"tcbInfo":' + b["tcb_info"] + ',"signature":"' + b["tcb_info_signature"] + '"}')
w("tcb_info_issuer_chain.pem", b["tcb_info_issuer_chain"])
w("qe_identity.json", '{"enclaveIdentity":' + b["qe_identity"] + ',"signature":"' + b["qe_identity_signature"] + '"}')
w("qe_identity_issuer_chain.pem", b["qe_identity_issuer_chain"])
w("pck_crl.der", bytes.fromhex(b["pck_crl"]), "wb")
w("pck_crl_issuer_chain.pem", b["pck_crl_issuer_chain"])
w("root_ca_crl.der", bytes.fromhex(b["root_ca_crl"]), "wb")
PY
    expect 0 "verify with a directory of PCS responses" -- "$CLI" tdx verify \
        "$TD/phala-v4/quote.bin" --collateral "$TMP/pcsdir" --at 1752919234 --json
    has out '"tcb_status": "UpToDate"' "verify with a PCS directory"
    kill "$SRV" 2>/dev/null
    wait "$SRV" 2>/dev/null
    expect 0 "verify from the cache, PCCS gone" -- "$CLI" tdx verify "$TD/phala-v4/quote.bin" \
        --pccs "http://127.0.0.1:$PORT" --allow-http --cache "$TMP/pcs-cache" --at 1752919234
    has out '^verified: true' "verify from the cache"
    has out '^tcb_status: UpToDate' "verify from the cache"
    expect 3 "verify without the cache, PCCS gone" -- "$CLI" tdx verify \
        "$TD/phala-v4/quote.bin" --pccs "http://127.0.0.1:$PORT" --allow-http --no-cache \
        --at 1752919234 --json
    has out '"verified": false' "verify without the cache, PCCS gone"
    has err '--chain-only' "verify without the cache, PCCS gone"
else
    SKIPPED="python3 is not installed: the collateral fetch checks did not run"
fi
expect 2 "collateral fetch without --fmspc" -- "$CLI" tdx collateral fetch -o "$TMP/x.json"
expect 2 "collateral fetch, bad fmspc" -- "$CLI" tdx collateral fetch --fmspc xyz -o "$TMP/x.json"

if [ "$FAILS" -ne 0 ]; then
    echo "$FAILS check(s) failed" >&2
    exit 1
fi
[ -z "${SKIPPED:-}" ] || { echo "SKIP: $SKIPPED (scripts/deps.sh test)"; exit 77; }
echo "all tdx CLI checks passed"
