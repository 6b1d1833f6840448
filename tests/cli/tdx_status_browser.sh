#!/usr/bin/env bash
# Browser test of the status page (docs/status-page.md): headless Chromium
# (Debian's chromium) loads the page of a running node (status_net.bash:
# an admitted and a refused consumer) with --dump-dom and --screenshot;
# the rendered DOM must name the admitted peer, the refused peer with the
# validator's reason, and the SIMULATED label. The screenshot and the DOM
# are kept in $MOSAIK_ARTIFACTS (the build tree's artifacts/). Skipped
# (exit 77) only where Chromium is missing and cannot be installed.
set -u
CLI=${MOSAIK_CLI:?MOSAIK_CLI must point to the mosaik binary}
HERE=$(cd "$(dirname "$0")" && pwd)
ART=${MOSAIK_ARTIFACTS:-$PWD/artifacts}
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
    fails=$((fails + 1))
}

browser() { command -v chromium || command -v chromium-browser; }
if ! browser >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "# chromium missing: installing it (scripts/deps.sh test)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
        >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 &&
          DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
              >/dev/null 2>&1; }
fi
B=$(browser) || { echo "SKIP: chromium is not installed (and could not be installed)"; exit 77; }

# shellcheck source=status_net.bash
. "$HERE/status_net.bash"
status_net_up
URL="http://$HTTP/?refresh=0"
# The page shows c's refusal once a refused c (its verdict is there at
# once; the stream refusal follows its first SUBSCRIBE): poll the HTML.
for ((i = 0; i < 200; i++)); do
    curl -s "$URL" >"$TMP/page.html" 2>/dev/null
    grep -q "$ID_c" "$TMP/page.html" && grep -q 'stream feed' "$TMP/page.html" && break
    sleep 0.1
done
mkdir -p "$ART"
# Chromium as root needs --no-sandbox; its profile goes to TMP.
CHROME=("$B" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run
        --user-data-dir="$TMP/profile" --window-size=1400,1100)
timeout 120 "${CHROME[@]}" --dump-dom "$URL" >"$ART/status_page.dom.html" 2>"$TMP/chromium.err" ||
    fail "chromium --dump-dom failed: $(tail -3 "$TMP/chromium.err")"
timeout 120 "${CHROME[@]}" --screenshot="$ART/status_page.png" "$URL" >/dev/null 2>>"$TMP/chromium.err" ||
    fail "chromium --screenshot failed: $(tail -3 "$TMP/chromium.err")"
DOM=$ART/status_page.dom.html
[ -s "$ART/status_page.png" ] || fail "no screenshot"
# The DOM as rendered: the peers table names b (admitted) and c (refused,
# with the reason), the SIMULATED label, the refusal in the recent ones.
python3 - "$DOM" "$ID_b" "$ID_c" <<'PY' || fail "the rendered DOM lacks what the network did"
import sys, html.parser
dom, idb, idc = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
class Rows(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(); self.rows = []; self.cur = None; self.table = None
    def handle_starttag(self, tag, attrs):
        if tag == "table": self.table = dict(attrs).get("id")
        if tag == "tr": self.cur = [self.table, ""]
    def handle_endtag(self, tag):
        if tag == "tr" and self.cur: self.rows.append(tuple(self.cur)); self.cur = None
    def handle_data(self, d):
        if self.cur is not None: self.cur[1] += d
p = Rows(); p.feed(dom)
peers = [t for tab, t in p.rows if tab == "peers"]
refusals = [t for tab, t in p.rows if tab == "refusals"]
ok = True
def need(cond, what):
    global ok
    if not cond: print("FAIL: " + what, file=sys.stderr); ok = False
rb = [t for t in peers if idb in t]; rc = [t for t in peers if idc in t]
need(rb and "admitted" in rb[0] and "SIMULATED" in rb[0], "b's row: %r" % rb)
need(rc and "refused: tdx: MRTD mismatch" in rc[0] and "SIMULATED" in rc[0], "c's row: %r" % rc)
need(any(idc in t and "MRTD mismatch" in t and "stream feed" in t for t in refusals),
     "no refusal of c in the recent refusals: %r" % refusals)
sys.exit(0 if ok else 1)
PY
echo "# screenshot: $ART/status_page.png, DOM: $DOM"
[ $fails = 0 ] && echo "tdx_status_browser.sh: all passed"
exit $((fails > 0))
