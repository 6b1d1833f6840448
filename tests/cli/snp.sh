#!/usr/bin/env bash
# tests/cli/snp.sh — `mosaik snp`: every shared SNP case through `mosaik snp
# verify` with its README outcome at an explicit time, the JSON fields,
# options (--allow-debug, --min-tcb, --max-vmpl, --key, --measurement),
# hex input, exit codes 2 (usage) and 3 (unreadable file), `snp inspect`,
# and `snp fetch` / `verify --kds` against a local KDS stand-in (the real
# KDS is never contacted).
set -u
CLI=${MOSAIK_CLI:?MOSAIK_CLI not set}
TD=${MOSAIK_TESTDATA:?MOSAIK_TESTDATA not set}/snp
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d)
SRV=
cleanup() { [ -n "$SRV" ] && kill "$SRV" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
FAILS=0
T26=1780272000 # 2026-06-01
T25=1748736000 # 2025-06-01
T2601=1767225600 # 2026-01-01

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
v() { "$CLI" snp verify "$@"; }

# --- The README's cases, each at its explicit time.
expect 0 "virtee-milan" -- v "$TD/virtee-milan/report.bin" --vcek "$TD/virtee-milan/vcek.der" --at $T26 --json
has out '"verified": true' "virtee-milan"
has out '"version": 2' "virtee-milan"
has out '"product": "Milan"' "virtee-milan"
has out '"signing_key": "vcek"' "virtee-milan"
has out '"measurement": "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f"' "virtee-milan"
has out '"microcode": 115' "virtee-milan reported_tcb"
has out '"debug": false' "virtee-milan policy"
has out '"vmpl": 0' "virtee-milan"
has out '"valid_until": "2030-04-03T19:23:43Z"' "virtee-milan"

expect 0 "trustee-milan" -- v "$TD/trustee-milan/report.bin" --vcek "$TD/trustee-milan/vcek.der" --at 2026-06-01T00:00:00Z --json
has out '"verified": true' "trustee-milan"
for bad in vcek-invalid-legacy.der vcek-invalid-new.der; do
    expect 1 "trustee $bad" -- v "$TD/trustee-milan/report.bin" --vcek "$TD/trustee-milan/$bad" --at $T26 --json
    has out '"verified": false' "trustee $bad"
    has out "\"reason\": \"chain: signature of certificate 'SEV-VCEK' does not verify\"" "trustee $bad"
done

expect 0 "trustee-vlek at 2025-06-01" -- v "$TD/trustee-vlek/report.bin" --vcek "$TD/trustee-vlek/vlek.der" --at $T25 --json
has out '"signing_key": "vlek"' "trustee-vlek"
has out '"vmpl": 1' "trustee-vlek"
has out '"version": 3' "trustee-vlek"
expect 1 "trustee-vlek at 2026-06-01" -- v "$TD/trustee-vlek/report.bin" --vcek "$TD/trustee-vlek/vlek.der" --at $T26 --json
has out "certificate 'SEV-VLEK' expired at 2025-12-10T22:14:21Z" "trustee-vlek expired"
expect 1 "trustee-vlek, VCEK only" -- v "$TD/trustee-vlek/report.bin" --vcek "$TD/trustee-vlek/vlek.der" --at $T25 --key vcek
has err "reports signed by a VLEK are not accepted" "trustee-vlek --key vcek"
expect 1 "trustee-vlek, VMPL 0 max" -- v "$TD/trustee-vlek/report.bin" --vcek "$TD/trustee-vlek/vlek.der" --at $T25 --max-vmpl 0
has err "report from VMPL 1; at most VMPL 0" "trustee-vlek --max-vmpl 0"

expect 1 "gsg-milan-debug (default policy)" -- v "$TD/gsg-milan-debug/report.bin" --vcek "$TD/gsg-milan-debug/vcek.der" --at $T26 --json
has out '"debug": true' "gsg-milan-debug"
has out '"chain_verified": true' "gsg-milan-debug"
has out '"reason": "policy: debug guest refused' "gsg-milan-debug"
expect 0 "gsg-milan-debug --allow-debug" -- v "$TD/gsg-milan-debug/report.bin" --vcek "$TD/gsg-milan-debug/vcek.der" --at $T26 --allow-debug

expect 0 "ms-genoa at 2026-06-01" -- v "$TD/ms-genoa/report.bin" --vcek "$TD/ms-genoa/vcek.pem" --at $T26 --json
has out '"product": "Genoa"' "ms-genoa"
has out '"cpuid": "19/11/01"' "ms-genoa"
expect 1 "ms-genoa at 2026-01-01" -- v "$TD/ms-genoa/report.bin" --vcek "$TD/ms-genoa/vcek.pem" --at $T2601
has err "is not valid before 2026-02-05T02:05:07Z" "ms-genoa not yet valid"
expect 1 "ms-genoa with the Milan chain" -- v "$TD/ms-genoa/report.bin" --vcek "$TD/ms-genoa/vcek.pem" --chain "$TD/roots/milan_vcek_chain.pem" --at $T26
has err "not AMD's pinned ARK-Genoa" "ms-genoa Milan chain"
# A PEM carrying the chain after the leaf.
cat "$TD/ms-genoa/vcek.pem" "$TD/roots/genoa_vcek_chain.pem" >"$TMP/genoa-full.pem"
expect 0 "ms-genoa, leaf+chain PEM" -- v "$TD/ms-genoa/report.bin" --vcek "$TMP/genoa-full.pem" --at $T26
# A Milan VCEK for the Genoa report; another chip's VCEK.
expect 1 "Milan VCEK for Genoa" -- v "$TD/ms-genoa/report.bin" --vcek "$TD/virtee-milan/vcek.der" --at $T26
has err "the certificate is for Milan" "Milan VCEK for Genoa"
expect 1 "another chip's VCEK" -- v "$TD/virtee-milan/report.bin" --vcek "$TD/trustee-milan/vcek.der" --at $T26
has err "a VCEK of another chip" "another chip"

# --- Options.
expect 1 "--min-tcb ucode=116" -- v "$TD/virtee-milan/report.bin" --vcek "$TD/virtee-milan/vcek.der" --at $T26 --min-tcb bl=3,tee=0,snp=8,ucode=116
has err "reported TCB microcode SVN 115 is below the minimum 116" "--min-tcb"
expect 0 "--min-tcb met" -- v "$TD/virtee-milan/report.bin" --vcek "$TD/virtee-milan/vcek.der" --at $T26 --min-tcb bl=3,snp=8,ucode=115,fmc=7
expect 0 "--measurement" -- v "$TD/virtee-milan/report.bin" --vcek "$TD/virtee-milan/vcek.der" --at $T26 \
    --measurement 7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f
expect 1 "--measurement other" -- v "$TD/virtee-milan/report.bin" --vcek "$TD/virtee-milan/vcek.der" --at $T26 \
    --measurement 0x000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000
has err "measurements: measurement mismatch" "--measurement other"
# Hex input.
od -An -v -tx1 "$TD/virtee-milan/report.bin" >"$TMP/report.hex"
expect 0 "hex report" -- v "$TMP/report.hex" --vcek "$TD/virtee-milan/vcek.der" --at $T26
# No certificate, no fetching: refused, and it says how.
expect 1 "no --vcek" -- v "$TD/virtee-milan/report.bin" --at $T26 --json
has err "pass --fetch" "no --vcek"
has out '"reason": "certificate: no VCEK given and no KDS fetcher configured"' "no --vcek"
# Truncated and oversized.
head -c 1183 "$TD/virtee-milan/report.bin" >"$TMP/short.bin"
expect 1 "truncated" -- v "$TMP/short.bin" --vcek "$TD/virtee-milan/vcek.der" --at $T26 --json
has out '"version": null' "truncated"
has out "exactly 1184 bytes" "truncated"

# --- Usage (2) and I/O (3).
expect 2 "no REPORT" -- v
expect 2 "two REPORTs" -- v a b
expect 2 "bad --at" -- v "$TD/virtee-milan/report.bin" --at yesterday
expect 2 "bad --min-tcb" -- v "$TD/virtee-milan/report.bin" --min-tcb ucode=300
expect 2 "bad --min-tcb name" -- v "$TD/virtee-milan/report.bin" --min-tcb foo=1
expect 2 "bad --key" -- v "$TD/virtee-milan/report.bin" --key both
expect 2 "bad --max-vmpl" -- v "$TD/virtee-milan/report.bin" --max-vmpl 4
expect 2 "unknown option" -- v "$TD/virtee-milan/report.bin" --frobnicate
expect 0 "--help" -- v --help
has out "usage: mosaik snp verify REPORT" "--help"
expect 3 "missing report" -- v "$TMP/nope.bin" --vcek "$TD/virtee-milan/vcek.der"
expect 3 "missing vcek" -- v "$TD/virtee-milan/report.bin" --vcek "$TMP/nope.der"
expect 2 "unknown snp command" -- "$CLI" snp frob

# --- inspect.
expect 0 "inspect report" -- "$CLI" snp inspect "$TD/trustee-vlek/report.bin" --json
has out '"type": "report"' "inspect report"
has out '"product": "Milan"' "inspect report (CPUID)"
has out '"signing_key": "vlek"' "inspect report"
expect 0 "inspect VLEK" -- "$CLI" snp inspect "$TD/trustee-vlek/vlek.der"
has out "csp_id: CN=cc-us-east-2.amazonaws.com" "inspect VLEK"
expect 0 "inspect Turin VCEK" -- "$CLI" snp inspect "$TD/virtee-turin-chain/vcek.der" --json
has out '"hwid": "1e550a8ee5cf9f4d"' "inspect Turin"
has out '"fmc": 0' "inspect Turin"
expect 1 "inspect junk" -- "$CLI" snp inspect "$TMP/short.bin"
expect 3 "inspect missing" -- "$CLI" snp inspect "$TMP/nope"

# --- The CLI contract on snp commands: --json errors carry the message.
expect 3 "verify missing --json" -- v "$TMP/nope" --json
has out '"message":"snp verify: '"$TMP"'/nope: No such file or directory"' "verify missing --json"
has out '"class":"io"' "verify missing --json"
expect 1 "verify refused --json" -- v "$TD/gsg-milan-debug/report.bin" --vcek "$TD/gsg-milan-debug/vcek.der" --at $T26 --json
[ "$(grep -c '"verified"' "$TMP/out")" = 1 ] || fail "verify refused --json: not one object"
has out '"class": "refused"' "verify refused --json"
has out '"message": "snp verify: policy: debug guest refused' "verify refused --json"
expect 0 "verify ok --json" -- v "$TD/virtee-milan/report.bin" --vcek "$TD/virtee-milan/vcek.der" --at $T26 --json
has out '"error": null' "verify ok --json"

# '-' is stdin.
expect 0 "verify from stdin" -- sh -c "\"$CLI\" snp verify - --vcek \"$TD/virtee-milan/vcek.der\" --at $T26 < \"$TD/virtee-milan/report.bin\""
has out 'verified: true' "verify from stdin"
expect 0 "inspect from stdin" -- sh -c "\"$CLI\" snp inspect - < \"$TD/virtee-milan/vcek.der\""

# --- snp ticket: the simulator (labelled), the guest (absent here).
expect 3 "ticket, no state file" -- "$CLI" snp ticket --sim "$TMP/sim.pem" -o "$TMP/t.bin" --json
has out '"message":"snp ticket: '"$TMP"'/sim.pem does not exist (add --sim-init)"' "ticket, no state file"
expect 0 "ticket --sim-init" -- "$CLI" snp ticket --sim "$TMP/sim.pem" --sim-init --peer node1 --network fleet --vmpl 1 --expires-in 600 -o "$TMP/t.bin" --json
has out '"simulated": true' "ticket --sim-init"
has out '"provider": "simulator (NOT real SEV-SNP)"' "ticket --sim-init"
has err 'SIMULATED report (not real SEV-SNP)' "ticket --sim-init"
[ -s "$TMP/t.bin" ] && [ -s "$TMP/sim.pem" ] || fail "ticket --sim-init: no ticket or state file"
expect 0 "ticket, existing state" -- "$CLI" snp ticket --sim "$TMP/sim.pem" -o "$TMP/t2.bin"
has out 'ticket: ' "ticket, existing state"
expect 1 "verify a simulated ticket, untrusted" -- v "$TMP/t.bin" --json
has out '"verified": false' "simulated ticket, untrusted"
has out 'simulator root not trusted' "simulated ticket, untrusted"
expect 0 "verify a simulated ticket, trusted" -- v "$TMP/t.bin" --trust-sim-root "$TMP/sim.pem" --json
has out '"verified": true' "simulated ticket, trusted"
has out '"simulated": true' "simulated ticket, trusted"
has out '"binds": true' "simulated ticket, trusted"
has out '"vmpl": 1' "simulated ticket, trusted"
has out "\"peer_id\": \"$("$CLI" id node1)\"" "simulated ticket, trusted"
expect 1 "verify a simulated ticket, --max-vmpl 0" -- v "$TMP/t.bin" --trust-sim-root "$TMP/sim.pem" --max-vmpl 0
has err 'policy: ' "simulated ticket, --max-vmpl 0"
expect 3 "verify --trust-sim-root missing" -- v "$TMP/t.bin" --trust-sim-root "$TMP/nope.pem" --json
has out '"class":"io"' "verify --trust-sim-root missing"
expect 2 "ticket without a source" -- "$CLI" snp ticket -o "$TMP/t3.bin"
expect 2 "ticket, both sources" -- "$CLI" snp ticket --local --sim "$TMP/sim.pem" -o "$TMP/t3.bin"
expect 2 "ticket --vmpl 4" -- "$CLI" snp ticket --sim "$TMP/sim.pem" --vmpl 4 -o "$TMP/t3.bin"
expect 2 "ticket --measurement short" -- "$CLI" snp ticket --sim "$TMP/sim.pem" --measurement abcd -o "$TMP/t3.bin"
expect 2 "ticket without -o" -- "$CLI" snp ticket --sim "$TMP/sim.pem"
if [ ! -e /sys/kernel/config/tsm/report ] && [ ! -e /dev/sev-guest ]; then
    expect 3 "ticket --local here" -- "$CLI" snp ticket --local -o "$TMP/t4.bin" --json
    has out 'no SEV-SNP guest interface here' "ticket --local here"
fi

# --- fetch and --kds against the stand-in.
if command -v python3 >/dev/null; then
    python3 "$HERE/../unit/tee/snp/kds_server.py" --testdata "$TD" --port-file "$TMP/port" &
    SRV=$!
    for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.1; done
    KDS="http://127.0.0.1:$(cat "$TMP/port")"
    mkdir -p "$TMP/f"
    expect 0 "fetch" -- "$CLI" snp fetch "$TD/virtee-milan/report.bin" --kds "$KDS" --chain --out "$TMP/f"
    cmp -s "$TMP/f/vcek.der" "$TD/virtee-milan/vcek.der" || fail "fetch: vcek.der differs"
    cmp -s "$TMP/f/cert_chain.pem" "$TD/roots/milan_vcek_chain.pem" || fail "fetch: cert_chain.pem differs"
    expect 0 "fetch Genoa (v3)" -- "$CLI" snp fetch "$TD/ms-genoa/report.bin" --kds "$KDS/throttle1" --out "$TMP/f"
    expect 0 "verify the fetched" -- v "$TD/ms-genoa/report.bin" --vcek "$TMP/f/vcek.der" --at $T26
    expect 1 "fetch unknown chip" -- "$CLI" snp fetch "$TD/gsg-milan-debug/report.bin" --kds "$KDS" --out "$TMP/f"
    has err "HTTP 404" "fetch unknown chip"
    expect 0 "verify --kds" -- v "$TD/virtee-milan/report.bin" --kds "$KDS" --cache "$TMP/cache" --at $T26 --json
    has out '"verified": true' "verify --kds"
    ls "$TMP/cache"/snp-vcek-Milan-d49554ec* >/dev/null 2>&1 || fail "verify --kds: nothing cached"
    expect 1 "verify --kds, lying server" -- v "$TD/virtee-milan/report.bin" --kds "$KDS/wrong" --at $T26
    has err "not the VCEK of the chip asked for" "lying server"
    expect 2 "fetch without report or product" -- "$CLI" snp fetch --chain
    expect 3 "fetch into a missing dir" -- "$CLI" snp fetch "$TD/virtee-milan/report.bin" --kds "$KDS" --out "$TMP/no/such"
else
    echo "python3 missing: fetch tests skipped"
fi

[ "$FAILS" = 0 ] && echo "snp: ok" || { echo "snp: $FAILS failure(s)"; exit 1; }
