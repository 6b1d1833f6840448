#!/usr/bin/env bash
# tests/cli/node_config.sh — the configuration file of `mosaik node`:
#   1. the example (packaging/mosaik-node.conf) documents every option of
#      `mosaik node --help` and is itself valid;
#   2. round trip: a file with every kind of value, --print-config, read the
#      output again, the same output (text and JSON);
#   3. the command line overrides the file (a value; a repeatable option's
#      whole list), and flags take true/false;
#   4. errors name FILE:LINE and exit 2 (unknown name, twice, bad value,
#      bad flag, no '=');
#   5. a node really runs from a file: its listen address, its key, its
#      bootstrap peer (it discovers the node it was pointed at).
set -u
CLI=${MOSAIK_CLI:?MOSAIK_CLI must point to the mosaik binary}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
EXAMPLE=$SRC/packaging/mosaik-node.conf
TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
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
    return 0
}
has() { grep -q -- "$2" "$TMP/$1" || fail "$3: $1 lacks '$2'"; }
hasnt() { ! grep -q -- "$2" "$TMP/$1" || fail "$3: $1 has '$2'"; }

# --- 1. the example documents every option, and is valid
opts=$("$CLI" node --help | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u | sed 's/^--//')
for o in $opts; do
    case $o in config | print-config | help) continue ;; esac
    grep -qE "^#? ?$o = " "$EXAMPLE" || fail "the example configuration does not document '$o'"
done
expect 0 "the example is valid" -- "$CLI" node --config "$EXAMPLE" --print-config
has out '^network = mosaik' "the example"
has out '^key = /var/lib/mosaik/node.key' "the example"

# --- 2. round trip
cat >"$TMP/a.conf" <<'EOF'
# a comment
network = cfg-test

listen = 127.0.0.1:0
  bootstrap = 1111111111111111111111111111111111111111111111111111111111111111@127.0.0.1:1
bootstrap = 2222222222222222222222222222222222222222222222222222222222222222@127.0.0.1:2
tag = alpha
tag = "  spaced  "
announce-ms=300
run-for = 0.5
json = off
no-depart = yes
metrics = 127.0.0.1:0
EOF
expect 0 "print-config" -- "$CLI" node --config "$TMP/a.conf" --print-config
cp "$TMP/out" "$TMP/b.conf"
has out '^tag = "  spaced  "$' "print-config keeps spaces"
has out '^run-for = 0.5$' "print-config"
has out '^no-depart = true$' "a flag set true"
hasnt out 'json' "a flag set false"
expect 0 "print-config of print-config" -- "$CLI" node --config "$TMP/b.conf" --print-config
cmp -s "$TMP/out" "$TMP/b.conf" || fail "round trip: the second --print-config differs"
expect 0 "print-config --json" -- "$CLI" node --config "$TMP/a.conf" --print-config --json
python3 - "$TMP/out" <<'PY' || fail "print-config --json"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["network"] == "cfg-test" and o["no-depart"] is True and o["json"] is True, o
assert o["tag"] == ["alpha", "  spaced  "] and len(o["bootstrap"]) == 2, o
PY

# --- 3. the command line overrides the file
expect 0 "override" -- "$CLI" node --config "$TMP/a.conf" --network other --tag beta \
    --run-for 2 --print-config
has out '^network = other$' "override a value"
has out '^tag = beta$' "override a list"
hasnt out 'alpha' "a list given on the command line replaces the file's"
has out '^bootstrap = 1111' "a list not given on the command line is the file's"
has out '^run-for = 2$' "override a value"
has out '^no-depart = true$' "a flag of the file"
printf 'network = x\njson = on\n' >"$TMP/j.conf"
expect 0 "a flag in the file takes effect" -- "$CLI" node --config "$TMP/j.conf" --print-config
has out '"json": true' "a flag in the file takes effect"

# --- 4. errors name FILE:LINE
err_case() { # WHAT LINE-CONTENT PATTERN
    printf 'network = x\n%s\n' "$2" >"$TMP/bad.conf"
    expect 2 "$1" -- "$CLI" node --config "$TMP/bad.conf" --print-config
    has err "bad.conf:2: " "$1"
    has err "$3" "$1"
}
err_case "unknown name" "frobnicate = 1" "unknown option 'frobnicate'"
err_case "given twice" "network = y" "'network' given twice"
err_case "bad value" "announce-ms = 0" "wants an integer"
err_case "bad flag" "json = maybe" "true or false"
err_case "no =" "listen" "want 'name = value'"
err_case "config in a config" "config = other.conf" "unknown option 'config'"
expect 2 "no network anywhere" -- "$CLI" node --config /dev/null --print-config
has err "network is required" "no network anywhere"

# --- 5. a node runs from a file
"$CLI" node --network cfg-run --json --announce-ms 300 --sync-ms 300 --run-for 20 \
    >"$TMP/a.out" 2>"$TMP/a.err" &
PIDS+=($!)
for _ in $(seq 100); do grep -q '"event":"started"' "$TMP/a.out" && break; sleep 0.1; done
BS=$(sed -n 's/.*"bootstrap":"\([^"]*\)".*/\1/p' "$TMP/a.out" | head -1)
IDA=${BS%@*}
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$TMP/run.conf" <<EOF
network = cfg-run
listen = 127.0.0.1:$PORT
key = $TMP/b.key
bootstrap = $BS
announce-ms = 300
sync-ms = 300
json = true
run-for = 20
EOF
"$CLI" node --config "$TMP/run.conf" >"$TMP/b.out" 2>"$TMP/b.err" &
PIDS+=($!)
ok=
for _ in $(seq 150); do
    grep -q "\"event\":\"discovered\",\"peer\":\"$IDA\"" "$TMP/b.out" && ok=1 && break
    sleep 0.1
done
[ -n "$ok" ] || { fail "the node from the file did not discover its bootstrap peer"; cat "$TMP/b.err" >&2; }
grep -q "\"addr\":\"127.0.0.1:$PORT\"" "$TMP/b.out" || fail "the node from the file does not listen on $PORT"
[ -s "$TMP/b.key" ] || fail "the node from the file did not create its key"

if [ "$FAILS" -ne 0 ]; then
    echo "$FAILS check(s) failed" >&2
    exit 1
fi
echo "node configuration: all checks passed"
