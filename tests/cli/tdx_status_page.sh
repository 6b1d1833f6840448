#!/usr/bin/env bash
# CLI test of `mosaik node --http` (docs/status-page.md): a small simulated
# network (status_net.bash: a producer serving the page, an admitted and a
# refused consumer), then status_page.py checks the JSON API against what
# the network did and sends hostile HTTP; the node must keep serving.
set -u
CLI=${MOSAIK_CLI:?MOSAIK_CLI must point to the mosaik binary}
HERE=$(cd "$(dirname "$0")" && pwd)
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
    for f in "$TMP"/*.err; do
        [ -s "$f" ] && tail -5 "$f" | sed "s|^|  $(basename "$f"): |" >&2
    done
    fails=$((fails + 1))
}
# shellcheck source=status_net.bash
. "$HERE/status_net.bash"

# Usage errors of the option come first (no network needed).
"$CLI" node --network x --http 1.2.3:80 >/dev/null 2>&1
[ $? = 2 ] || fail "--http 1.2.3:80 is not a usage error"
"$CLI" node --network x --http 127.0.0.1:99999 >/dev/null 2>&1
[ $? = 2 ] || fail "--http port 99999 is not a usage error"
"$CLI" node --help | grep -q -- '--http' || fail "--help does not list --http"

status_net_up
echo "# status page at http://$HTTP/"
python3 "$HERE/status_page.py" json "$HTTP" "$ID_a" "$ID_b" "$ID_c" "$TMP/a.out" "$HTTP_C" ||
    fail "the JSON API does not match the network"
case "$HTTP_C" in 127.0.0.1:*) ;; *) fail "--http 0 does not listen on 127.0.0.1: $HTTP_C" ;; esac
python3 "$HERE/status_page.py" hostile "$HTTP" "${PIDS[1]}" ||
    fail "hostile HTTP"
# The page is off by default: a node without --http prints no address.
grep -q '"http"' "$TMP/b.out" && fail "b serves a page without --http"

[ $fails = 0 ] && echo "tdx_status_page.sh: all passed"
exit $((fails > 0))
