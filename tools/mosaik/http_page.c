/*
 * tools/mosaik/http_page.c — the status page: one self-contained HTML
 * document rendered from the status object (http_json.c).
 *
 * The page needs no external asset and no JavaScript for its content:
 * every table is in the HTML as served. A small inline script re-fetches
 * the page every `refresh` seconds (default 5, ?refresh=0 off) and swaps
 * in the new <main>, so an open page stays current; without JavaScript it
 * is simply static. The server sends a Content-Security-Policy that
 * allows only that inline script and style and requests to itself.
 *
 * Escaping. Every value is HTML-escaped (& < > " ') where it is written;
 * peer-supplied text (addresses, reasons) reaches the page only through
 * esc(). Reasons were already cleaned of control bytes by the library.
 *
 * Labels the tests look for: the refusal reason text, the word SIMULATED
 * on every peer or ticket whose quote chains to a simulator root (or whose
 * entry says so), and each peer's full id (in the title attribute and the
 * cell).
 */
#include <string.h>

#include "http.h"

#define DEFAULT_REFRESH 5

static void esc(mk_buf *b, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            mk_buf_append_str(b, "&amp;");
            break;
        case '<':
            mk_buf_append_str(b, "&lt;");
            break;
        case '>':
            mk_buf_append_str(b, "&gt;");
            break;
        case '"':
            mk_buf_append_str(b, "&quot;");
            break;
        case '\'':
            mk_buf_append_str(b, "&#39;");
            break;
        default:
            mk_buf_append_u8(b, (uint8_t)*s);
        }
    }
}

static const char *str(const json_t *o, const char *k) {
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void cell(mk_buf *b, const char *text) {
    mk_buf_append_str(b, "<td>");
    esc(b, text);
    mk_buf_append_str(b, "</td>");
}

/* A time field pair (key, key_in) as "2026-12-04T21:00:00Z (in 3599 s)". */
static void time_cell(mk_buf *b, const json_t *o, const char *key) {
    char k2[48];
    snprintf(k2, sizeof k2, "%s_in", key);
    const json_t *t = json_object_get(o, key);
    if (!json_is_integer(t)) {
        cell(b, t && json_is_null(t) ? "never" : "");
        return;
    }
    char when[MK_RFC3339_LEN];
    mk_time_format_rfc3339((int64_t)json_integer_value(t), when);
    long long in = (long long)json_integer_value(json_object_get(o, k2));
    mk_buf_printf(b, "<td>%s (%s %lld s)</td>", when, in >= 0 ? "in" : "expired",
                  in < 0 ? -in : in);
}

static void sim_label(mk_buf *b, bool sim) {
    if (sim) mk_buf_append_str(b, " <span class=\"sim\">SIMULATED</span>");
}

/* A ticket in one cell: platform, MRTD, TCB, expiry, the verdict. */
static void ticket_cell(mk_buf *b, const json_t *t) {
    mk_buf_append_str(b, "<div class=\"t\"><b>");
    esc(b, str(t, "platform"));
    mk_buf_append_str(b, "</b>");
    sim_label(b, json_is_true(json_object_get(t, "simulated")));
    const json_t *m = json_object_get(t, "measurements");
    if (m) {
        mk_buf_append_str(b, "<br>MRTD <code>");
        esc(b, str(m, "MRTD"));
        mk_buf_append_str(b, "</code>");
        if (json_is_boolean(json_object_get(t, "verified")))
            mk_buf_append_str(b, json_is_true(json_object_get(t, "verified")) ? " (verified)"
                                                                              : " (not verified)");
    }
    if (json_object_get(t, "tcb_status")) {
        mk_buf_append_str(b, "<br>TCB ");
        esc(b, json_is_null(json_object_get(t, "tcb_status")) ? "not evaluated"
                                                              : str(t, "tcb_status"));
    }
    const json_t *ex = json_object_get(t, "expires_in");
    if (json_is_integer(ex))
        mk_buf_printf(b, "<br>expires in %lld s", (long long)json_integer_value(ex));
    mk_buf_append_str(b, "</div>");
}

static void peers_table(mk_buf *b, const json_t *peers) {
    mk_buf_append_str(b, "<h2>Peers</h2><table id=\"peers\"><tr><th>peer</th><th>addresses</th>"
                         "<th>tickets</th><th>verdict</th><th>expires</th></tr>");
    size_t i;
    const json_t *p;
    json_array_foreach(peers, i, p) {
        mk_buf_append_str(b, "<tr class=\"peer\" title=\"");
        esc(b, str(p, "peer"));
        mk_buf_append_str(b, "\"><td><code>");
        esc(b, str(p, "peer"));
        mk_buf_append_str(b, "</code>");
        sim_label(b, json_is_true(json_object_get(p, "simulated")));
        mk_buf_append_str(b, "</td><td>");
        size_t k;
        const json_t *a;
        json_array_foreach(json_object_get(p, "addrs"), k, a) {
            if (k) mk_buf_append_str(b, "<br>");
            esc(b, json_string_value(a));
        }
        mk_buf_append_str(b, "</td><td>");
        json_array_foreach(json_object_get(p, "tickets"), k, a) ticket_cell(b, a);
        const json_t *v = json_object_get(p, "verdict");
        if (!json_is_object(v)) {
            mk_buf_append_str(b, "</td><td>not judged (no validator)</td><td></td></tr>");
            continue;
        }
        if (json_is_true(json_object_get(v, "admitted"))) {
            mk_buf_append_str(b, "</td><td class=\"ok\">admitted</td>");
            time_cell(b, v, "until");
        } else {
            mk_buf_append_str(b, "</td><td class=\"bad\">refused: ");
            esc(b, str(v, "reason"));
            mk_buf_append_str(b, "</td><td></td>");
        }
        mk_buf_append_str(b, "</tr>");
    }
    if (!json_array_size(peers)) mk_buf_append_str(b, "<tr><td colspan=\"5\">none</td></tr>");
    mk_buf_append_str(b, "</table>");
}

static void node_table(mk_buf *b, const json_t *n) {
    mk_buf_append_str(b, "<h2>This node</h2><table id=\"node\">");
    static const char *rows[][2] = {
        {"peer", "peer id"}, {"network", "network"}, {"listen", "listening on"}};
    for (size_t i = 0; i < 3; i++) {
        mk_buf_printf(b, "<tr><th>%s</th><td><code>", rows[i][1]);
        esc(b, str(n, rows[i][0]));
        mk_buf_append_str(b, "</code></td></tr>");
    }
    mk_buf_printf(b, "<tr><th>uptime</th><td>%lld s</td></tr><tr><th>peers known</th><td>%lld</td>",
                  (long long)json_integer_value(json_object_get(n, "uptime_s")),
                  (long long)json_integer_value(json_object_get(n, "peers_known")));
    mk_buf_append_str(b, "</tr><tr><th>tickets</th><td>");
    size_t k;
    const json_t *t;
    json_array_foreach(json_object_get(n, "tickets"), k, t) ticket_cell(b, t);
    if (!json_array_size(json_object_get(n, "tickets"))) mk_buf_append_str(b, "none");
    sim_label(b, json_is_true(json_object_get(n, "simulated_tag")));
    mk_buf_append_str(b, "</td></tr></table>");
}

static void streams_table(mk_buf *b, const json_t *streams) {
    mk_buf_append_str(b, "<h2>Streams</h2><table id=\"streams\"><tr><th>stream</th><th>role</th>"
                         "<th>channel (peer)</th><th>state</th><th>items</th><th>bytes</th>"
                         "<th>drops</th><th>expires</th></tr>");
    size_t i, k;
    const json_t *s, *c;
    json_array_foreach(streams, i, s) {
        mk_buf_append_str(b, "<tr><td>");
        esc(b, str(s, "name"));
        mk_buf_printf(b,
                      "</td><td>%s</td><td>all (admitted %lld, refused %lld)</td><td>%lld active"
                      "</td><td>%lld</td><td>%lld</td><td>%lld</td><td></td></tr>",
                      str(s, "role"), (long long)json_integer_value(json_object_get(s, "admitted")),
                      (long long)json_integer_value(json_object_get(s, "refused")),
                      (long long)json_integer_value(json_object_get(s, "active")),
                      (long long)json_integer_value(json_object_get(s, "items")),
                      (long long)json_integer_value(json_object_get(s, "bytes")),
                      (long long)json_integer_value(json_object_get(s, "drops")));
        json_array_foreach(json_object_get(s, "channels"), k, c) {
            mk_buf_append_str(b, "<tr><td></td><td></td><td><code>");
            esc(b, str(c, "peer"));
            mk_buf_printf(b, "</code></td><td>%s</td><td>%lld</td><td>%lld</td><td>%lld</td>",
                          str(c, "state"),
                          (long long)json_integer_value(json_object_get(c, "items")),
                          (long long)json_integer_value(json_object_get(c, "bytes")),
                          (long long)json_integer_value(json_object_get(c, "drops")));
            time_cell(b, c, "expires");
            mk_buf_append_str(b, "</tr>");
        }
    }
    if (!json_array_size(streams)) mk_buf_append_str(b, "<tr><td colspan=\"8\">none</td></tr>");
    mk_buf_append_str(b, "</table>");
}

static void groups_table(mk_buf *b, const json_t *groups) {
    mk_buf_append_str(b, "<h2>Groups and collections</h2><table id=\"groups\"><tr><th>name</th>"
                         "<th>members (role)</th><th>leader</th><th>commit</th><th>refused</th>"
                         "</tr>");
    size_t i, k;
    const json_t *g, *m;
    json_array_foreach(groups, i, g) {
        mk_buf_append_str(b, "<tr class=\"group\"><td>");
        esc(b, str(g, "name"));
        mk_buf_append_str(b, "</td><td>");
        json_array_foreach(json_object_get(g, "members"), k, m) {
            mk_buf_append_str(b, k ? "<br><code>" : "<code>");
            esc(b, str(m, "peer"));
            mk_buf_printf(b, "</code> %s%s%s%s", str(m, "role"),
                          json_is_true(json_object_get(m, "leader")) ? ", leader" : "",
                          json_is_true(json_object_get(m, "self")) ? ", this node" : "",
                          json_is_true(json_object_get(m, "bonded")) ? ", bonded" : "");
        }
        mk_buf_append_str(b, "</td><td><code>");
        esc(b, json_is_string(json_object_get(g, "leader")) ? str(g, "leader") : "unknown");
        mk_buf_printf(b, "</code></td><td>%lld</td><td class=\"bad\">",
                      (long long)json_integer_value(json_object_get(g, "commit")));
        esc(b, str(g, "refusal"));
        mk_buf_append_str(b, "</td></tr>");
    }
    if (!json_array_size(groups)) mk_buf_append_str(b, "<tr><td colspan=\"5\">none</td></tr>");
    mk_buf_append_str(b, "</table>");
}

static void refusals_table(mk_buf *b, const json_t *refusals) {
    mk_buf_append_str(b, "<h2>Recent refusals</h2><table id=\"refusals\"><tr><th>last seen</th>"
                         "<th>peer</th><th>where</th><th>direction</th><th>reason</th>"
                         "<th>times</th></tr>");
    size_t i;
    const json_t *r;
    json_array_foreach(refusals, i, r) {
        char when[MK_RFC3339_LEN];
        mk_time_format_rfc3339((int64_t)json_integer_value(json_object_get(r, "last_at")), when);
        mk_buf_printf(b, "<tr class=\"refusal\"><td>%s</td><td><code>", when);
        esc(b, str(r, "peer"));
        mk_buf_append_str(b, "</code></td><td>");
        esc(b, str(r, "layer"));
        mk_buf_append_str(b, " ");
        esc(b, str(r, "where"));
        mk_buf_append_str(b, "</td>");
        cell(b, str(r, "direction"));
        mk_buf_append_str(b, "<td class=\"bad\">");
        esc(b, str(r, "reason"));
        mk_buf_printf(b, "</td><td>%lld</td></tr>",
                      (long long)json_integer_value(json_object_get(r, "count")));
    }
    if (!json_array_size(refusals)) mk_buf_append_str(b, "<tr><td colspan=\"6\">none</td></tr>");
    mk_buf_append_str(b, "</table>");
}

static const char HEAD[] =
    "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<meta name=\"viewport\" content=\"width=device-width\"><title>mosaik node</title><style>"
    "body{font:14px system-ui,sans-serif;margin:1em 2em;color:#222}"
    "table{border-collapse:collapse;margin-bottom:1.5em}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}"
    "th{background:#f3f3f3}code{font-size:12px;word-break:break-all}"
    ".sim{background:#fd3;color:#000;font-weight:bold;padding:0 4px;border-radius:3px}"
    ".ok{color:#060}.bad{color:#a00}.t{margin:2px 0}"
    "</style></head><body><h1>mosaik node</h1>";

static const char SCRIPT[] =
    "<script>(function(){var m=document.querySelector('main'),s=+m.dataset.refresh;"
    "if(!(s>0))return;setInterval(function(){fetch(location.href,{cache:'no-store'})"
    ".then(function(r){return r.text()}).then(function(t){var d=new DOMParser()"
    ".parseFromString(t,'text/html').querySelector('main');if(d)document.querySelector('main')"
    ".replaceWith(d)}).catch(function(){})},s*1000)})();</script>";

int http_page_render(const json_t *status, int refresh, mk_buf *out) {
    if (refresh < 0) refresh = DEFAULT_REFRESH;
    MK_TRY(mk_buf_append_str(out, HEAD));
    char when[MK_RFC3339_LEN];
    mk_time_format_rfc3339((int64_t)json_integer_value(json_object_get(status, "time")), when);
    mk_buf_printf(out, "<main data-refresh=\"%d\"><p>as of %s%s</p>", refresh, when,
                  refresh ? "" : " (refresh off)");
    node_table(out, json_object_get(status, "node"));
    peers_table(out, json_object_get(status, "peers"));
    if (json_is_true(json_object_get(status, "peers_truncated")))
        mk_buf_printf(out, "<p>%lld peers in all: the first %d shown (?peer=HEX for others)</p>",
                      (long long)json_integer_value(json_object_get(status, "peers_total")),
                      HTTP_MAX_PEERS_SHOWN);
    streams_table(out, json_object_get(status, "streams"));
    groups_table(out, json_object_get(status, "groups"));
    refusals_table(out, json_object_get(status, "refusals"));
    mk_buf_append_str(out, "<p>Machine-readable: <a href=\"/api/status.json\">status.json</a>, "
                           "<a href=\"/api/peers.json\">peers.json</a>, "
                           "<a href=\"/metrics\">metrics</a>.</p></main>");
    mk_buf_append_str(out, SCRIPT);
    return mk_buf_append_str(out, "</body></html>\n");
}
