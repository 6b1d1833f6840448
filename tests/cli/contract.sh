#!/usr/bin/env bash
# tests/cli/contract.sh — the contract every mosaik command keeps
# (docs/cli.md, "The contract"):
#   1. every command's --help exits 0 (demo's too), and with --json prints
#      one object {"help": ...}; -V, --version and `version --json` work;
#   2. exit status per class: 2 usage (an unknown option, for every
#      command), 1 refused, 3 input/output (a missing file, stdin, an
#      unreachable server) — and with --json exactly one JSON object on
#      stdout whose "error" says the same exit status and class;
#   3. '-' reads stdin wherever a file is read;
#   4. --at (and the other times) take UNIX seconds and RFC 3339;
#   5. out-of-range values are usage errors with a message, never clamped;
#   6. MOSAIK_LOG_FORMAT=json: one JSON object per log line, RFC 3339
#      times, hostile bytes escaped.
# No test needs the internet.
set -u
CLI=${MOSAIK_CLI:?MOSAIK_CLI must point to the mosaik binary}
TD=${MOSAIK_TESTDATA:?MOSAIK_TESTDATA not set}/tdx
TDX=${MOSAIK_FEATURE_TDX:-1}
BUILDER=${MOSAIK_FEATURE_BUILDER:-1}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# Where the CLI puts its temporary copies of stdin (removed at exit).
mkdir "$TMP/tmpdir"
export TMPDIR="$TMP/tmpdir"
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }

# expect CODE WHAT -- command...   (stdout and stderr in $TMP/out, $TMP/err)
expect() {
    local want=$1 what=$2
    shift 3
    "$@" >"$TMP/out" 2>"$TMP/err"
    local got=$?
    if [ "$got" -ne "$want" ]; then
        fail "$what: exit $got, want $want ($*)"
        sed 's/^/  stdout: /' "$TMP/out" | head -5 >&2
        sed 's/^/  stderr: /' "$TMP/err" | head -5 >&2
    fi
    return 0
}
has() { grep -q -- "$2" "$TMP/$1" || fail "$3: $1 lacks '$2'"; }
# one_json WHAT [EXIT CLASS]: stdout is exactly one JSON object (with that
# error when given; no "error" or a null one otherwise).
one_json() {
    python3 - "$TMP/out" "$@" <<'PY' || fail "$1: stdout is not the one JSON object wanted"
import json, sys
path, what = sys.argv[1], sys.argv[2]
text = open(path).read()
try:
    obj = json.loads(text)
except ValueError as e:
    sys.exit("%s: not one JSON document (%s): %r" % (what, e, text[:200]))
if not isinstance(obj, dict):
    sys.exit("%s: not an object" % what)
if len(sys.argv) > 3:
    e = obj.get("error")
    want = {"exit": int(sys.argv[3]), "class": sys.argv[4]}
    if not isinstance(e, dict) or any(e.get(k) != v for k, v in want.items()) or not e.get("message"):
        sys.exit("%s: error %r, want %r with a message" % (what, e, want))
elif obj.get("error") is not None:
    sys.exit("%s: unexpected error %r" % (what, obj["error"]))
PY
}

# --- 1. help, version ---------------------------------------------------------
mapfile -t COMMANDS < <("$CLI" help --commands)
[ "${#COMMANDS[@]}" -ge 6 ] || fail "help --commands lists ${#COMMANDS[@]} commands"
for c in "${COMMANDS[@]}"; do
    # shellcheck disable=SC2086
    expect 0 "$c --help" -- "$CLI" $c --help
    has out 'usage: mosaik' "$c --help"
    # shellcheck disable=SC2086
    expect 0 "$c --help --json" -- "$CLI" $c --help --json
    one_json "$c --help --json"
    has out '"help": "usage: mosaik' "$c --help --json"
    # shellcheck disable=SC2086
    expect 0 "help $c" -- "$CLI" help $c
    has out 'usage: mosaik' "help $c"
done
expect 0 "--help" -- "$CLI" --help
expect 2 "no command" -- "$CLI"
expect 2 "unknown command" -- "$CLI" frobnicate --json
one_json "unknown command" 2 usage
expect 2 "help for an unknown command" -- "$CLI" help frobnicate
for v in -V --version version; do
    expect 0 "$v" -- "$CLI" $v
    has out '^mosaik [0-9]*\.[0-9]*\.[0-9]* (tee=' "$v"
done
expect 0 "version --json" -- "$CLI" version --json
one_json "version --json"
has out '"version": "' "version --json"
has out '"tdx": ' "version --json"

# --- 2. exit status per class, --json on errors ----------------------------------
# Usage: an unknown option, for every command.
for c in "${COMMANDS[@]}"; do
    # shellcheck disable=SC2086
    expect 2 "$c --frobnicate" -- "$CLI" $c --frobnicate
    has err "unknown option '--frobnicate'" "$c --frobnicate"
    # shellcheck disable=SC2086
    expect 2 "$c --frobnicate --json" -- "$CLI" $c --frobnicate --json
    one_json "$c --frobnicate --json" 2 usage
done
expect 2 "option without its value" -- "$CLI" jwt verify tok --json --alg
one_json "option without its value" 2 usage
has out "needs a value" "option without its value"
# Input/output: files that are not there.
expect 3 "jwt issue, missing key file" -- "$CLI" jwt issue --alg HS256 --key-file "$TMP/none" \
    --exp-in 5 --json
one_json "jwt issue, missing key file" 3 io
expect 3 "node, missing config" -- "$CLI" node --config "$TMP/none" --json
one_json "node, missing config" 3 io
# Refused: a token that does not verify.
KEY=$(printf '6b%.0s' $(seq 32))
TOK=$("$CLI" jwt issue --alg HS256 --key-hex "$KEY" --exp-at 2030-01-01T00:00:00Z --now 1750000000)
expect 1 "jwt verify, wrong key" -- "$CLI" jwt verify "$TOK" --alg HS256 \
    --key-hex "$(printf '6c%.0s' $(seq 32))" --no-sub --at 1750000000 --json
one_json "jwt verify, wrong key" 1 refused
has out '"valid": false' "jwt verify, wrong key"
expect 0 "jwt verify" -- "$CLI" jwt verify "$TOK" --alg HS256 --key-hex "$KEY" --no-sub \
    --at 1750000000 --json
one_json "jwt verify"
if [ "$TDX" = 1 ]; then
    expect 3 "tdx verify, missing file" -- "$CLI" tdx verify "$TMP/none" --json
    one_json "tdx verify, missing file" 3 io
    expect 3 "tdx inspect, missing file" -- "$CLI" tdx inspect "$TMP/none" --json
    one_json "tdx inspect, missing file" 3 io
    expect 3 "tdx verify, missing collateral file" -- "$CLI" tdx verify "$TD/phala-v4/quote.bin" \
        --collateral "$TMP/none" --json
    one_json "tdx verify, missing collateral" 3 io
    expect 3 "tdx collateral fetch, server down" -- "$CLI" tdx collateral fetch \
        --fmspc b0c06f000000 --pccs http://127.0.0.1:9 --allow-http -o "$TMP/c.json" --json
    one_json "tdx collateral fetch, server down" 3 io
    expect 3 "tdx verify, PCCS down" -- "$CLI" tdx verify "$TD/phala-v4/quote.bin" \
        --pccs http://127.0.0.1:9 --allow-http --no-cache --json
    one_json "tdx verify, PCCS down" 3 io
    head -c 200 "$TD/phala-v4/quote.bin" >"$TMP/short.bin"
    expect 1 "tdx verify, truncated quote" -- "$CLI" tdx verify "$TMP/short.bin" --chain-only --json
    one_json "tdx verify, truncated quote" 1 refused
    has out '"verified": false' "tdx verify, truncated quote"
    expect 1 "tdx inspect, not a quote" -- "$CLI" tdx inspect "$TMP/short.bin" --json
    one_json "tdx inspect, not a quote" 1 refused
    expect 0 "tdx sim-init --json" -- "$CLI" tdx sim-init "$TMP/sim.pem" --json
    one_json "tdx sim-init --json"
    expect 0 "tdx ticket --json" -- "$CLI" tdx ticket --sim "$TMP/sim.pem" --with-collateral \
        -o "$TMP/t.bin" --json
    one_json "tdx ticket --json"
    has out '"simulated": true' "tdx ticket --json"
fi
if [ "$BUILDER" = 1 ]; then
    expect 3 "tdx measure, missing firmware" -- "$CLI" tdx measure --firmware "$TMP/none" --json
    one_json "tdx measure, missing firmware" 3 io
    expect 0 "tdx measure --list-profiles --json" -- "$CLI" tdx measure --list-profiles --json
    one_json "tdx measure --list-profiles --json"
    has out '"profiles"' "tdx measure --list-profiles --json"
fi

# --- 3. '-' reads stdin --------------------------------------------------------------
expect 0 "jwt verify -" -- sh -c "printf '%s\n' '$TOK' | '$CLI' jwt verify - --alg HS256 --key-hex $KEY --no-sub --at 1750000000"
printf '%s\n' "$KEY" >"$TMP/key.hex"
expect 0 "jwt verify --key-file -" -- sh -c "'$CLI' jwt verify '$TOK' --alg HS256 --key-file - --no-sub --at 1750000000 <'$TMP/key.hex'"
expect 0 "jwt issue --key-file -" -- sh -c "'$CLI' jwt issue --alg HS256 --key-file - --no-exp <'$TMP/key.hex'"
printf 'network = from-stdin\nlisten = 127.0.0.1:0\n' >"$TMP/stdin.conf"
expect 0 "node --config -" -- sh -c "'$CLI' node --config - --print-config <'$TMP/stdin.conf'"
has out '^network = from-stdin' "node --config -"
"$CLI" node --network stdin-key --key "$TMP/node.key" --run-for 0.05 --json >"$TMP/k1" 2>/dev/null
expect 0 "node --key -" -- sh -c "'$CLI' node --network stdin-key --key - --run-for 0.05 --json <'$TMP/node.key'"
[ "$(head -1 "$TMP/k1" | cut -c1-90)" = "$(head -1 "$TMP/out" | cut -c1-90)" ] ||
    fail "node --key -: another peer id than the key file's"
expect 2 "node --key - with empty stdin" -- sh -c "'$CLI' node --network x --key - </dev/null"
if [ "$TDX" = 1 ]; then
    Q=$TD/phala-v4/quote.bin C=$TD/phala-v4/collateral.json
    expect 0 "tdx verify -" -- sh -c "'$CLI' tdx verify - --collateral '$C' --at 1752919234 <'$Q'"
    has out '^verified: true' "tdx verify -"
    expect 0 "tdx verify --collateral -" -- sh -c "'$CLI' tdx verify '$Q' --collateral - --at 1752919234 <'$C'"
    has out '^verified: true' "tdx verify --collateral -"
    expect 0 "tdx inspect -" -- sh -c "'$CLI' tdx inspect - --json <'$Q'"
    has out '"quote_version": 4' "tdx inspect -"
    expect 0 "tdx verify --trust-sim-root -" -- sh -c "'$CLI' tdx verify '$TMP/t.bin' --trust-sim-root - <'$TMP/sim.pem'"
    expect 0 "tdx ticket --sim -" -- sh -c "'$CLI' tdx ticket --sim - -o '$TMP/t2.bin' <'$TMP/sim.pem'"
    expect 0 "the stdin ticket verifies" -- "$CLI" tdx verify "$TMP/t2.bin" --trust-sim-root "$TMP/sim.pem" --chain-only
    expect 2 "tdx sim-init -" -- "$CLI" tdx sim-init -
    expect 2 "tdx ticket --sim - --sim-init" -- "$CLI" tdx ticket --sim - --sim-init -o "$TMP/x"
fi
if [ "$BUILDER" = 1 ] && [ -r /usr/share/OVMF/OVMF.fd ]; then
    expect 0 "tdx measure --firmware -" -- sh -c "'$CLI' tdx measure --firmware - --json </usr/share/OVMF/OVMF.fd"
    has out '"mrtd"' "tdx measure --firmware -"
fi

[ -z "$(ls -A "$TMPDIR")" ] || fail "temporary copies of stdin were left behind: $(ls "$TMPDIR")"

# --- 4. times: UNIX seconds or RFC 3339 -------------------------------------------------
for at in 1750000000 2025-06-15T15:06:40Z 2025-06-15T17:06:40+02:00 2025-06-15t15:06:40.5Z; do
    expect 0 "jwt verify --at $at" -- "$CLI" jwt verify "$TOK" --alg HS256 --key-hex "$KEY" \
        --no-sub --at "$at" --json
done
expect 1 "jwt verify --at after exp (RFC 3339)" -- "$CLI" jwt verify "$TOK" --alg HS256 \
    --key-hex "$KEY" --no-sub --at 2030-01-01T00:00:01Z
expect 2 "jwt verify --at without a zone" -- "$CLI" jwt verify "$TOK" --alg HS256 \
    --key-hex "$KEY" --no-sub --at 2025-06-15T15:06:40
has err 'RFC 3339' "jwt verify --at without a zone"
TOK2=$("$CLI" jwt issue --alg HS256 --key-hex "$KEY" --exp-at 2025-06-15T16:06:40Z \
    --nbf 2025-06-15T15:00:00Z --now 2025-06-15T15:06:40Z)
expect 0 "jwt issue with RFC 3339 times" -- "$CLI" jwt verify "$TOK2" --alg HS256 --key-hex "$KEY" \
    --no-sub --at 1750000000 --json
has out '"exp": 1750003600' "jwt issue with RFC 3339 times"
has out '"iat": 1750000000' "jwt issue with RFC 3339 times"
if [ "$TDX" = 1 ]; then
    for at in 1752919234 2025-07-19T10:00:34Z 2025-07-19T12:00:34+02:00; do
        expect 0 "tdx verify --at $at" -- "$CLI" tdx verify "$TD/phala-v4/quote.bin" \
            --collateral "$TD/phala-v4/collateral.json" --at "$at"
    done
    expect 1 "tdx verify --at a second late" -- "$CLI" tdx verify "$TD/phala-v4/quote.bin" \
        --collateral "$TD/phala-v4/collateral.json" --at 2025-07-19T10:00:35Z
    expect 2 "tdx collateral fetch --at soon" -- "$CLI" tdx collateral fetch --fmspc b0c06f000000 \
        --at soon -o "$TMP/x"
    expect 0 "tdx ticket --started-at RFC 3339" -- "$CLI" tdx ticket --sim "$TMP/sim.pem" \
        --started-at 2025-01-01T00:00:00Z -o "$TMP/t3.bin"
    expect 0 "its started_at" -- "$CLI" tdx inspect "$TMP/t3.bin" --json
    has out '"started_at": 1735689600' "tdx ticket --started-at RFC 3339"
fi

# --- 5. nothing clamped ---------------------------------------------------------------------
usage_err() { # WHAT PATTERN -- command...
    local what=$1 pattern=$2
    shift 2
    expect 2 "$what" "$@"
    has err "$pattern" "$what"
}
usage_err "node --announce-ms 0" "wants an integer in \[1, 86400000\]" -- "$CLI" node --network x --announce-ms 0
usage_err "node --sync-ms 86400001" "wants an integer" -- "$CLI" node --network x --sync-ms 86400001
usage_err "node --run-for inf" "wants seconds" -- "$CLI" node --network x --run-for inf
usage_err "node --run-for -1" "wants seconds" -- "$CLI" node --network x --run-for -1
usage_err "node --exit-after-items -5" "wants an integer" -- "$CLI" node --network x --exit-after-items -5
usage_err "jwt verify --skew 90000" "wants an integer in \[0, 86400\]" -- "$CLI" jwt verify "$TOK" \
    --alg HS256 --key-hex "$KEY" --no-sub --skew 90000
usage_err "jwt issue --exp-in -5" "wants an integer" -- "$CLI" jwt issue --alg HS256 --key-hex "$KEY" --exp-in -5
if [ "$TDX" = 1 ]; then
    usage_err "demo --duration 2" "duration" -- "$CLI" demo --duration 2
    usage_err "demo --duration 9999" "duration" -- "$CLI" demo --duration 9999
    usage_err "demo --expire-after 20" "expire-after" -- "$CLI" demo --duration 14 --expire-after 20
    usage_err "demo --duration 5 (default expiry too late)" "expire-after" -- "$CLI" demo --duration 5
    usage_err "demo --duration x" "duration" -- "$CLI" demo --duration x
    usage_err "tdx ticket --expires-in 0" "wants an integer" -- "$CLI" tdx ticket --sim "$TMP/sim.pem" \
        --expires-in 0 -o "$TMP/x"
fi
if [ "$BUILDER" = 1 ]; then
    usage_err "tdx measure --memory 10" "wants an integer in \[64" -- "$CLI" tdx measure --kernel x --memory 10
    usage_err "tdx build --cpus 0" "wants an integer in \[1, 1024\]" -- "$CLI" tdx build --cpus 0
fi

# --- 6. JSON logs ------------------------------------------------------------------------------
MOSAIK_LOG=info MOSAIK_LOG_FORMAT=json "$CLI" node --network log-test --run-for 0.1 \
    >/dev/null 2>"$TMP/log.json" || fail "node with JSON logs"
python3 - "$TMP/log.json" <<'PY' || fail "MOSAIK_LOG_FORMAT=json: lines are not the JSON log objects"
import json, re, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
assert lines, "no log lines"
for l in lines:
    o = json.loads(l)
    assert list(o) == ["time", "level", "subsystem", "message"], o
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", o["time"]), o["time"]
    assert o["level"] in ("error", "warn", "info", "debug", "trace"), o
PY
if [ "$TDX" = 1 ]; then
    # A warning quoting a path with a quote, a backslash and a byte that is
    # not UTF-8 (a broken cache file) stays one valid JSON line.
    bad="$TMP/c\"a\\b"$'\xff'
    mkdir -p "$bad"
    echo garbage >"$bad/tdx-collateral-B0C06F000000-platform.json"
    MOSAIK_LOG_FORMAT=json "$CLI" tdx verify "$TD/phala-v4/quote.bin" --pccs http://127.0.0.1:9 \
        --allow-http --cache "$bad" --at 1752919234 >/dev/null 2>"$TMP/log2"
    grep '^{' "$TMP/log2" >"$TMP/log2.json"
    python3 - "$TMP/log2.json" <<'PY' || fail "a hostile path broke the JSON log line"
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
hits = [o for o in objs if "collateral cache" in o["message"]]
assert hits, objs
m = hits[0]["message"]
assert 'c"a\\b\ufffd' in m, m
PY
fi

if [ "$FAILS" -ne 0 ]; then
    echo "$FAILS check(s) failed" >&2
    exit 1
fi
echo "cli contract: all checks passed"
