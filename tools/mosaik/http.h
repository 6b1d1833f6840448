/*
 * tools/mosaik/http.h — the status page of `mosaik node --http`
 * (docs/status-page.md).
 *
 * Files, one job each:
 *   http_route.c   the request line's path and query string -> a route
 *                  (pure; fuzzed by tests/fuzz/fuzz_http_route.c);
 *   http_json.c    what the node shows, as JSON (jansson), from the
 *                  library's public queries only;
 *   http_page.c    the same data as one self-contained HTML page;
 *   http_server.c  GNU libmicrohttpd on the node's poll loop: caps,
 *                  read-only methods, the answers.
 */
#ifndef MOSAIK_CLI_HTTP_H
#define MOSAIK_CLI_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cmd_node_stream.h"
#include "mosaik/mosaik.h"

/* ----- http_route.c ------------------------------------------------------ */

#define HTTP_MAX_URL 2048       /* bytes of the request target */
#define HTTP_MAX_QUERY_PARAMS 8 /* key=value pairs */
#define HTTP_MAX_PEER_FILTER 64 /* hex digits of ?peer= */

typedef enum http_route_id {
    HTTP_R_PAGE = 1, /* "/" */
    HTTP_R_STATUS,   /* "/api/status.json" */
    HTTP_R_PEERS,    /* "/api/peers.json" */
    HTTP_R_METRICS,  /* "/metrics" */
} http_route_id;

typedef struct http_route {
    http_route_id id;
    /* ?peer=HEX (lower-case hex prefix of a peer id; "" none): the peers
     * shown (page, peers.json) */
    char peer[HTTP_MAX_PEER_FILTER + 1];
    /* ?refresh=SECONDS (page): the JavaScript refresh period, 0 off,
     * 1..3600; -1 when not given (the default, 5) */
    int refresh;
} http_route;

/* Route a request: 200 and *out filled, or the HTTP status to answer with
 * (400 malformed target or query, 404 unknown path, 405 a method other
 * than GET and HEAD, 414 target too long). why (may be NULL) gets a short
 * reason for the error body. method and url need not be trusted. */
int http_route_parse(const char *method, const char *url, http_route *out, const char **why);

/* ----- http_json.c --------------------------------------------------------- */

/* A group (or a collection's group) the page shows, by name. */
typedef struct http_group {
    const char *name;
    mk_group *g;
} http_group;

/* What the page reads: the node's handles (borrowed). */
typedef struct http_view {
    mk_network *nw;
    const mk_validator *tdx_validator; /* judges peers' TDX tickets; may be NULL */
    const node_stream *stream;         /* may be NULL or without a stream */
    uint64_t started_ms;               /* mk_mono_ms() at start (uptime) */
    const http_group *groups;          /* `mosaik node` joins none; an embedder's */
    size_t n_groups;
    /* The node's verdict on each peer (e.g. a stream's any-of of TDX and
     * SNP); NULL: tdx_validator's. */
    const mk_validator *verdict_validator;
} http_view;

/* Peers described per document (each costs a quote verification): the
 * rest are counted ("peers_total", "peers_truncated"); ?peer= shows others. */
#define HTTP_MAX_PEERS_SHOWN 256

/* {"node":…, "peers":[…], "streams":[…], "groups":[…], "refusals":[…],
 * "time":…}; peer filters the peers (NULL or "": all). New reference, NULL
 * when out of memory. */
json_t *http_status_json(const http_view *v, const char *peer);
/* The view's groups in the Prometheus text (mk_group_metrics_prometheus),
 * appended to out. */
int http_groups_prometheus(const http_view *v, mk_buf *out);
/* {"peers":[…], "time":…}. */
json_t *http_peers_json(const http_view *v, const char *peer);

/* ----- http_page.c --------------------------------------------------------- */

/* The HTML page of a status object (http_status_json) into out; refresh
 * as in http_route (-1: the default). */
int http_page_render(const json_t *status, int refresh, mk_buf *out);

/* ----- http_server.c ------------------------------------------------------- */

#define HTTP_MAX_CONNECTIONS 32      /* at once; more are closed at accept */
#define HTTP_MAX_PER_IP 16           /* at once from one address */
#define HTTP_MAX_HEADERS 64          /* request header lines; more: 431 */
#define HTTP_MEMORY_LIMIT (32 << 10) /* bytes buffered per connection (request line + headers) */
#define HTTP_TIMEOUT_S 10            /* idle seconds before a connection is closed */

typedef struct node_http node_http;

/* Listen on addr ("IP:PORT", "[IPv6]:PORT", or "PORT" / ":PORT" for
 * 127.0.0.1) with the caps above. The server runs only inside
 * node_http_run; v must outlive it. MK_EINVAL for a bad address, MK_EIO
 * when it cannot listen. */
int node_http_start(const char *addr, const http_view *v, node_http **out, mk_error *err);
/* The descriptor the loop polls (readable when the server has work). */
int node_http_fd(const node_http *h);
/* At most this many ms until node_http_run must be called again (-1: no
 * deadline). */
int node_http_timeout_ms(const node_http *h);
/* Do the work that is ready (never blocks). */
void node_http_run(node_http *h);
/* Serve for ms milliseconds (waiting on the server's descriptor: a
 * replacement for a sleep in a loop that has nothing else to poll). */
void node_http_serve_for(node_http *h, int ms);
/* "IP:PORT" actually bound. */
void node_http_addr(const node_http *h, char *out, size_t n);
void node_http_stop(node_http *h);

#endif
