/*
 * tools/mosaik/http_route.c — the status page's routing: a request's
 * method and raw target ("/api/peers.json?peer=ab12") -> a route.
 *
 * libmicrohttpd parses HTTP; what it hands over here is the request
 * target exactly as the client sent it (http_server.c takes it from MHD's
 * URI log callback, before MHD decodes anything), so this file is the one
 * place that interprets it. It is pure (no allocation, no I/O, no global
 * state) and fuzzed (tests/fuzz/fuzz_http_route.c).
 *
 * Rules. Only GET and HEAD (the server is read-only: anything else is
 * 405). The target is at most HTTP_MAX_URL bytes (414), starts with '/',
 * and holds only printable ASCII (400). The path must equal one of the
 * four routes byte for byte (no decoding, no normalisation: "/%61pi" or
 * "/api/../metrics" is 404). The query is '&'-separated key[=value] pairs,
 * at most HTTP_MAX_QUERY_PARAMS; each key and value is percent-decoded
 * ("%XX" with two hex digits, '+' a space), and anything malformed or
 * decoding to a control byte is 400. Known keys may appear once: peer
 * (lower- or upper-case hex digits, at most HTTP_MAX_PEER_FILTER, stored
 * lower-case), refresh (a decimal 0..3600). Unknown keys are ignored (a
 * browser's cache-buster does no harm).
 */
#include <string.h>

#include "http.h"

static const struct {
    const char *path;
    http_route_id id;
} ROUTES[] = {
    {"/", HTTP_R_PAGE},
    {"/api/status.json", HTTP_R_STATUS},
    {"/api/peers.json", HTTP_R_PEERS},
    {"/metrics", HTTP_R_METRICS},
};

static int fail(const char **why, const char *msg, int status) {
    if (why) *why = msg;
    return status;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decode s[0..n) into out (cap bytes with the NUL): 0, or -1 for a
 * bad escape, a control byte or no room. */
static int decode(const char *s, size_t n, char *out, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= n) return -1; /* two hex digits must follow */
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0) return -1;
            c = h << 4 | l;
            i += 2;
        }
        if (c < 0x20 || c == 0x7f) return -1;
        if (o + 1 >= cap) return -1;
        out[o++] = (char)c;
    }
    out[o] = 0;
    return 0;
}

/* One decoded key=value into r; 0 or the status. */
static int param(http_route *r, const char *k, const char *v, bool *seen_peer, bool *seen_refresh,
                 const char **why) {
    if (!strcmp(k, "peer")) {
        if (*seen_peer) return fail(why, "peer given twice", 400);
        *seen_peer = true;
        size_t n = strlen(v);
        if (n > HTTP_MAX_PEER_FILTER) return fail(why, "peer: too long", 400);
        for (size_t i = 0; i < n; i++) {
            int h = hexval(v[i]);
            if (h < 0) return fail(why, "peer: want hex digits", 400);
            r->peer[i] = "0123456789abcdef"[h];
        }
        r->peer[n] = 0;
    } else if (!strcmp(k, "refresh")) {
        if (*seen_refresh) return fail(why, "refresh given twice", 400);
        *seen_refresh = true;
        size_t n = strlen(v);
        if (n == 0 || n > 4) return fail(why, "refresh: want 0..3600 seconds", 400);
        int x = 0;
        for (size_t i = 0; i < n; i++) {
            if (v[i] < '0' || v[i] > '9') return fail(why, "refresh: want 0..3600 seconds", 400);
            x = x * 10 + (v[i] - '0');
        }
        if (x > 3600) return fail(why, "refresh: want 0..3600 seconds", 400);
        r->refresh = x;
    }
    return 0;
}

/* The query string q[0..n): 0 or the status. */
static int query(http_route *r, const char *q, size_t n, const char **why) {
    bool seen_peer = false, seen_refresh = false;
    unsigned count = 0;
    size_t i = 0;
    while (i < n) {
        size_t end = i;
        while (end < n && q[end] != '&')
            end++;
        if (end > i) {
            if (++count > HTTP_MAX_QUERY_PARAMS) return fail(why, "too many parameters", 400);
            size_t eq = i;
            while (eq < end && q[eq] != '=')
                eq++;
            char k[32], v[HTTP_MAX_URL + 1];
            if (decode(q + i, eq - i, k, sizeof k) < 0)
                return fail(why, "malformed query parameter name", 400);
            size_t vs = eq < end ? eq + 1 : end;
            if (decode(q + vs, end - vs, v, sizeof v) < 0)
                return fail(why, "malformed query parameter value", 400);
            int rc = param(r, k, v, &seen_peer, &seen_refresh, why);
            if (rc) return rc;
        }
        i = end + 1;
    }
    return 0;
}

int http_route_parse(const char *method, const char *url, http_route *out, const char **why) {
    memset(out, 0, sizeof *out);
    out->refresh = -1;
    if (why) *why = "";
    if (!method || (strcmp(method, "GET") && strcmp(method, "HEAD")))
        return fail(why, "read-only: only GET and HEAD", 405);
    if (!url) return fail(why, "no request target", 400);
    size_t n = strnlen(url, HTTP_MAX_URL + 1);
    if (n > HTTP_MAX_URL) return fail(why, "request target too long", 414);
    if (n == 0 || url[0] != '/') return fail(why, "the target must start with '/'", 400);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
            return fail(why, "the target must be printable ASCII", 400);
    const char *qm = memchr(url, '?', n);
    size_t plen = qm ? (size_t)(qm - url) : n;
    out->id = 0;
    for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++)
        if (strlen(ROUTES[i].path) == plen && !memcmp(ROUTES[i].path, url, plen))
            out->id = ROUTES[i].id;
    if (!out->id) return fail(why, "not found", 404);
    if (qm) {
        int rc = query(out, qm + 1, n - plen - 1, why);
        if (rc) return rc;
    }
    return 200;
}
