/*
 * tools/mosaik/http_server.c — `mosaik node --http`: GNU libmicrohttpd on
 * the node's loop, read-only, with caps.
 *
 * Integration (docs/decisions.md, "The status page's HTTP server"). MHD
 * runs in its external-epoll mode (MHD_USE_EPOLL without an internal
 * thread): it keeps every socket in one epoll descriptor of its own, which
 * the node's poll(2) loop watches beside the network's event fd and the
 * signal pipe; the loop calls MHD_run (never blocks) when that descriptor
 * is readable or MHD_get_timeout's deadline came. So requests are answered
 * on the node's main thread, where the library's blocking queries may be
 * called (they must not be called on the network's I/O thread), and no
 * thread is added.
 *
 * Caps: HTTP_MAX_CONNECTIONS at once (MHD closes further ones at accept)
 * and HTTP_MAX_PER_IP from one address; HTTP_MEMORY_LIMIT bytes per
 * connection for the request line and headers (beyond: MHD answers 431 or
 * 414 and closes); HTTP_MAX_HEADERS header lines (checked here: 431);
 * HTTP_TIMEOUT_S idle seconds (a slow client is closed; the others are
 * served meanwhile, one loop iteration never waits on a client). MHD's
 * strict parsing (MHD_OPTION_STRICT_FOR_CLIENT 1) refuses malformed
 * request lines with 400.
 *
 * Routing. MHD decodes the path before the handler sees it; the raw
 * target the client sent is taken from the URI log callback instead and
 * routed by http_route.c (the one place that interprets it). Only GET and
 * HEAD: anything else is 405 with "Allow: GET, HEAD", answered at once
 * without reading a body. Nothing served changes state.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "http.h"

struct node_http {
    struct MHD_Daemon *d;
    const http_view *v;
    char addr[MK_TRANSPORT_ADDR_MAX + 8];
};

/* The raw target of one request (the URI log callback's copy). */
typedef struct http_req {
    char *uri;
} http_req;

/* ----- addresses ------------------------------------------------------------ */

/* "IP:PORT", "[IP6]:PORT", "PORT", ":PORT" (the last two on 127.0.0.1). */
static int parse_addr(const char *addr, struct sockaddr_storage *ss, bool *v6, mk_error *err) {
    memset(ss, 0, sizeof *ss);
    char host[MK_TRANSPORT_ADDR_MAX + 1] = "127.0.0.1";
    const char *colon = strrchr(addr, ':'), *port_s = colon ? colon + 1 : addr;
    if (colon && colon > addr) {
        size_t hl = (size_t)(colon - addr);
        if (hl >= sizeof host) return mk_error_set(err, MK_EINVAL, "--http: address too long");
        memcpy(host, addr, hl);
        host[hl] = 0;
    }
    char *end = NULL;
    long port = strtol(port_s, &end, 10);
    if (!*port_s || *end || port < 0 || port > 65535)
        return mk_error_set(err, MK_EINVAL, "--http: want [IP:]PORT, not '%s'", addr);
    *v6 = host[0] == '[';
    if (*v6) {
        size_t hl = strlen(host);
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        host[hl - 1] = host[hl - 1] == ']' ? 0 : host[hl - 1];
        if (hl < 3 || inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
            return mk_error_set(err, MK_EINVAL, "--http: bad IPv6 address in '%s'", addr);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
            return mk_error_set(err, MK_EINVAL, "--http: bad IP address in '%s'", addr);
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
    }
    return 0;
}

/* ----- answers ---------------------------------------------------------------- */

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *type,
                              const void *body, size_t len, bool page) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (page)
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'none'; style-src 'unsafe-inline'; "
                                "script-src 'unsafe-inline'; connect-src 'self'");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) MHD_add_response_header(r, "Allow", "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result answer_error(struct MHD_Connection *c, unsigned status, const char *why) {
    char body[256];
    int n = snprintf(body, sizeof body, "%u %s\n", status, why);
    return answer(c, status, "text/plain; charset=utf-8", body, (size_t)n, false);
}

static enum MHD_Result answer_json(struct MHD_Connection *c, json_t *o) {
    if (!o) return answer_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s) return answer_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    enum MHD_Result rc = answer(c, MHD_HTTP_OK, "application/json", s, strlen(s), false);
    free(s);
    return rc;
}

static enum MHD_Result serve(node_http *h, struct MHD_Connection *c, const http_route *rt) {
    mk_buf b = MK_BUF_INIT;
    enum MHD_Result rc;
    switch (rt->id) {
    case HTTP_R_STATUS:
        return answer_json(c, http_status_json(h->v, rt->peer));
    case HTTP_R_PEERS:
        return answer_json(c, http_peers_json(h->v, rt->peer));
    case HTTP_R_METRICS: {
        mk_id self;
        mk_network_peer_id(h->v->nw, &self);
        mk_network_metrics_prometheus(h->v->nw, &b);
        node_stream_prometheus(h->v->stream, &self, &b);
        http_groups_prometheus(h->v, &b);
        rc = answer(c, MHD_HTTP_OK, "text/plain; version=0.0.4", b.data, b.len, false);
        break;
    }
    default: { /* HTTP_R_PAGE */
        json_t *st = http_status_json(h->v, rt->peer);
        if (!st || http_page_render(st, rt->refresh, &b) < 0) {
            json_decref(st);
            mk_buf_free(&b);
            return answer_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        }
        json_decref(st);
        rc = answer(c, MHD_HTTP_OK, "text/html; charset=utf-8", b.data, b.len, true);
    }
    }
    mk_buf_free(&b);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls) {
    (void)url;
    (void)version;
    (void)upload;
    node_http *h = cls;
    http_req *rq = *req_cls;
    if (*upload_size) { /* a body after we answered (only possible for refused methods) */
        *upload_size = 0;
        return MHD_YES;
    }
    if (MHD_get_connection_values(c, MHD_HEADER_KIND, NULL, NULL) > HTTP_MAX_HEADERS)
        return answer_error(c, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, "too many header lines");
    http_route rt;
    const char *why = "";
    int st = http_route_parse(method, rq ? rq->uri : NULL, &rt, &why);
    if (st != 200) return answer_error(c, (unsigned)st, why);
    return serve(h, c, &rt);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
    (void)cls;
    (void)c;
    http_req *rq = calloc(1, sizeof *rq);
    if (rq) rq->uri = strndup(uri ? uri : "", HTTP_MAX_URL + 1); /* longer: 414 */
    return rq;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    (void)toe;
    http_req *rq = *req_cls;
    if (rq) free(rq->uri);
    free(rq);
    *req_cls = NULL;
}

/* ----- the daemon --------------------------------------------------------------- */

int node_http_start(const char *addr, const http_view *v, node_http **out, mk_error *err) {
    *out = NULL;
    struct sockaddr_storage ss;
    bool v6 = false;
    MK_TRY(parse_addr(addr, &ss, &v6, err));
    node_http *h = calloc(1, sizeof *h);
    if (!h) return mk_error_set(err, MK_ENOMEM, "out of memory");
    h->v = v;
    unsigned flags = MHD_USE_EPOLL | (v6 ? MHD_USE_IPv6 : 0);
    h->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNECTIONS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_MAX_PER_IP,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)HTTP_MEMORY_LIMIT, MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)16, MHD_OPTION_URI_LOG_CALLBACK, on_uri,
        (void *)h, MHD_OPTION_NOTIFY_COMPLETED, on_completed, (void *)h, MHD_OPTION_END);
    if (!h->d) {
        free(h);
        return mk_error_set(err, MK_EIO, "--http %s: cannot listen (address in use?)", addr);
    }
    const union MHD_DaemonInfo *pi = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    char ip[INET6_ADDRSTRLEN] = "?";
    if (v6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof ip);
    else
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof ip);
    snprintf(h->addr, sizeof h->addr, v6 ? "[%s]:%u" : "%s:%u", ip, pi ? pi->port : 0);
    *out = h;
    return 0;
}

int node_http_fd(const node_http *h) {
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    return i ? i->epoll_fd : -1;
}

int node_http_timeout_ms(const node_http *h) {
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(h->d, &ms) != MHD_YES) return -1;
    return ms > 1000 ? 1000 : (int)ms;
}

void node_http_run(node_http *h) {
    MHD_run(h->d);
}

void node_http_serve_for(node_http *h, int ms) {
    uint64_t end = mk_mono_ms() + (uint64_t)(ms > 0 ? ms : 0);
    for (;;) {
        uint64_t now = mk_mono_ms();
        if (now >= end) break;
        int t = (int)(end - now), ht = node_http_timeout_ms(h);
        if (ht >= 0 && ht < t) t = ht;
        struct pollfd p = {node_http_fd(h), POLLIN, 0};
        (void)poll(&p, 1, t);
        MHD_run(h->d);
    }
}

void node_http_addr(const node_http *h, char *out, size_t n) {
    snprintf(out, n, "%s", h->addr);
}

void node_http_stop(node_http *h) {
    if (!h) return;
    MHD_stop_daemon(h->d);
    free(h);
}
