#!/usr/bin/env bash
# CLI test of `mosaik jwt issue|verify`: issue→verify for HS256, ES256 and
# EdDSA, the RFC 7515 A.1 example token, refusals (exit 1 with a reason on
# stderr) and usage errors (exit 2). All times are explicit (--now, --at).
set -u
CLI=${MOSAIK_CLI:?MOSAIK_CLI must point to the mosaik binary}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0

# expect CODE "stderr substring" -- command...
expect() {
    local want=$1 pattern=$2
    shift 3
    "$@" >"$TMP/out" 2>"$TMP/err"
    local got=$?
    if [ "$got" != "$want" ]; then
        echo "FAIL: exit $got, want $want: $*" >&2
        sed 's/^/  stderr: /' "$TMP/err" >&2
        fails=$((fails + 1))
    elif [ -n "$pattern" ] && ! grep -qF -- "$pattern" "$TMP/err" "$TMP/out"; then
        echo "FAIL: output lacks '$pattern': $*" >&2
        sed 's/^/  stderr: /' "$TMP/err" >&2
        fails=$((fails + 1))
    fi
}

NOW=1750000000
PEER=$(printf 'ab%.0s' $(seq 32))
OTHER=$(printf 'cd%.0s' $(seq 32))
KEY=$(printf '6b%.0s' $(seq 32)) # 32 bytes
printf '%s\n' "$KEY" >"$TMP/key.hex"

# --- HS256 issue -> verify ---
TOK=$("$CLI" jwt issue --alg HS256 --key-file "$TMP/key.hex" --iss issuer --sub-peer "$PEER" \
    --aud net --exp-in 3600 --claim 'role="admin"' --now $NOW) || { echo "FAIL: issue" >&2; exit 1; }
case "$TOK" in eyJ*.*.*) ;; *) echo "FAIL: not a token: $TOK" >&2; exit 1 ;; esac

expect 0 "valid: expires 2025-06-15T16:06:40Z" -- "$CLI" jwt verify "$TOK" --alg HS256 --key-hex "$KEY" \
    --iss issuer --aud net --sub "$PEER" --claim 'role="admin"' --at $((NOW + 10))
expect 0 '"valid": true' -- "$CLI" jwt verify "$TOK" --alg HS256 --key-hex "$KEY" --aud net --no-sub \
    --at $((NOW + 10)) --json
# From stdin.
echo "$TOK" >"$TMP/tok"
expect 0 "valid" -- sh -c "\"$CLI\" jwt verify - --alg HS256 --key-hex $KEY --aud net --no-sub --at $((NOW + 10)) <\"$TMP/tok\""

# --- refusals: exit 1 with the reason ---
expect 1 "another peer's token" -- "$CLI" jwt verify "$TOK" --alg HS256 --key-hex "$KEY" --aud net \
    --sub "$OTHER" --at $((NOW + 10))
expect 1 "signature does not verify" -- "$CLI" jwt verify "$TOK" --alg HS256 \
    --key-hex "$(printf '6c%.0s' $(seq 32))" --aud net --no-sub --at $((NOW + 10))
expect 1 "token expired at 2025-06-15T16:06:40Z" -- "$CLI" jwt verify "$TOK" --alg HS256 --key-hex "$KEY" \
    --aud net --no-sub --at $((NOW + 7200))
expect 1 'issuer "issuer" not accepted' -- "$CLI" jwt verify "$TOK" --alg HS256 --key-hex "$KEY" \
    --iss someone-else --aud net --no-sub --at $((NOW + 10))
expect 1 'audience "net" not accepted' -- "$CLI" jwt verify "$TOK" --alg HS256 --key-hex "$KEY" \
    --aud other --no-sub --at $((NOW + 10))
expect 1 'claim "role" is "admin", required "user"' -- "$CLI" jwt verify "$TOK" --alg HS256 \
    --key-hex "$KEY" --aud net --no-sub --claim 'role="user"' --at $((NOW + 10))
expect 1 "lifetime" -- "$CLI" jwt verify "$TOK" --alg HS256 --key-hex "$KEY" --aud net --no-sub \
    --max-lifetime 60 --at $((NOW + 10))
expect 1 "alg HS256 not accepted" -- "$CLI" jwt verify "$TOK" --alg HS384 \
    --key-hex "$(printf '6b%.0s' $(seq 48))" --aud net --no-sub --at $((NOW + 10))
expect 1 '"valid": false' -- "$CLI" jwt verify "$TOK" --alg HS256 --key-hex "$KEY" --aud net --no-sub \
    --at $((NOW + 7200)) --json
expect 1 "base64url" -- "$CLI" jwt verify "e*J.e30.AA" --alg HS256 --key-hex "$KEY" --no-sub --at $NOW

# --- RFC 7515 A.1 (HS256, exp 1300819380) ---
A1_KEY=0323354b2b0fa5bc837e0665777ba68f5ab328e6f054c928a90f84b2d2502ebfd3fb5a92d20647ef968ab4c377623d223d2e2172052e4f08c0cd9af567d080a3
A1=eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk
expect 0 "valid: expires 2011-03-22T18:43:00Z" -- "$CLI" jwt verify "$A1" --alg HS256 --key-hex "$A1_KEY" \
    --iss joe --no-sub --at 1300819000
expect 1 "expired" -- "$CLI" jwt verify "$A1" --alg HS256 --key-hex "$A1_KEY" --no-sub --at $NOW

# --- ES256 with the RFC 7515 A.3 key: issue with d, verify with x||y ---
D=8e9b109e719098bf980487df1f5d77e9cb29606ebed2263b5f57c213df84f4b2
XY=7fcdce2770f6c45d4183cbee6fdb4b7b580733357be9ef13bacf6e3c7bd15445c7f144cd1bbd9b7e872cdfedb9eeb9f4b3695d6ea90b24ad8a4623288588e5ad
printf '%s' "$D" | xxd -r -p >"$TMP/es.raw" 2>/dev/null || python3 -c "import sys;sys.stdout.buffer.write(bytes.fromhex('$D'))" >"$TMP/es.raw"
ES=$("$CLI" jwt issue --alg ES256 --key-raw-file "$TMP/es.raw" --sub svc --exp-at $((NOW + 60)) --now $NOW) ||
    { echo "FAIL: ES256 issue" >&2; fails=$((fails + 1)); }
expect 0 "valid" -- "$CLI" jwt verify "$ES" --alg ES256 --key-hex "04$XY" --sub-fixed svc --at $NOW
expect 0 "valid" -- "$CLI" jwt verify "$ES" --alg ES256 --key-hex "03${XY:0:64}" --sub-fixed svc --at $NOW
expect 1 "no ES256 key configured" -- "$CLI" jwt verify "$ES" --alg HS256 --key-hex "$KEY" --no-sub --at $NOW

# --- EdDSA (RFC 8032 test 1 key) ---
SEED=9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60
PUB=d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a
ED=$("$CLI" jwt issue --alg EdDSA --key-hex "$SEED" --no-exp --now $NOW) ||
    { echo "FAIL: EdDSA issue" >&2; fails=$((fails + 1)); }
expect 1 'no "exp"' -- "$CLI" jwt verify "$ED" --alg EdDSA --key-hex "$PUB" --no-sub --at $NOW
expect 0 "valid: expires never" -- "$CLI" jwt verify "$ED" --alg EdDSA --key-hex "$PUB" --no-sub \
    --allow-no-exp --at $NOW

# --- usage errors: exit 2 ---
expect 0 "usage: mosaik jwt" -- "$CLI" jwt --help
expect 0 "usage: mosaik jwt issue" -- "$CLI" jwt issue --help
expect 2 "" -- "$CLI" jwt
expect 2 "unknown subcommand" -- "$CLI" jwt frobnicate
expect 2 "--alg is required" -- "$CLI" jwt issue --key-hex "$KEY" --exp-in 5
expect 2 "unknown --alg" -- "$CLI" jwt issue --alg none --key-hex "$KEY" --exp-in 5
expect 2 "exactly one of --exp-in" -- "$CLI" jwt issue --alg HS256 --key-hex "$KEY"
expect 2 "exactly one of --sub" -- "$CLI" jwt verify "$TOK" --alg HS256 --key-hex "$KEY"
expect 2 "unknown option" -- "$CLI" jwt verify "$TOK" --bogus
expect 2 "non-negative integer" -- "$CLI" jwt verify "$TOK" --alg HS256 --key-hex "$KEY" --no-sub --at soon
# A secret shorter than the hash is refused (RFC 7518 3.2).
expect 1 "at least 32" -- "$CLI" jwt issue --alg HS256 --key-hex 00112233 --exp-in 5

if [ "$fails" -ne 0 ]; then
    echo "$fails failure(s)" >&2
    exit 1
fi
echo "jwt CLI: all checks passed"
