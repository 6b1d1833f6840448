/*
 * net_conn_util.h — what the tests split out of test_net.c share: the helpers and
 * fixtures below, and the top comment of the original file:
 *
 * Unit tests of net/: real TLS connections between nodes on 127.0.0.1 with
 * ephemeral ports. Each node records what its protocol callbacks saw (under
 * a mutex, since they run on the node's I/O thread); the test thread polls
 * with a deadline.
 */
#ifndef MOSAIK_TESTS_NET_CONN_UTIL_H
#define MOSAIK_TESTS_NET_CONN_UTIL_H
#include <pthread.h>
#include <time.h>

#include "net_util.h"
#include "mosaik/net.h"
#include "net/net_internal.h"

#define MAXC 128

typedef struct node {
    mk_transport *net;
    mk_id id;
    char addr[64];
    pthread_mutex_t mu;
    int connects, closes, frames, drains;
    mk_transport_conn *open[MAXC]; /* referenced while open */
    int n_open;
    mk_id last_peer;
    bool last_inbound;
    int last_close_code;
    char last_close_reason[512];
    uint8_t last_frame[256];
    size_t last_frame_len;
    bool echo; /* reply "re:" + frame */
} node;

static inline void lock(node *n) {
    pthread_mutex_lock(&n->mu);
}
static inline void unlock(node *n) {
    pthread_mutex_unlock(&n->mu);
}

static inline void on_connect(mk_transport_conn *c, bool inbound, void *ctx) {
    node *n = ctx;
    lock(n);
    n->connects++;
    mk_transport_conn_peer(c, &n->last_peer);
    n->last_inbound = inbound;
    if (n->n_open < MAXC) n->open[n->n_open++] = mk_transport_conn_ref(c);
    unlock(n);
}

static inline void on_frame(mk_transport_conn *c, const uint8_t *data, size_t len, void *ctx) {
    node *n = ctx;
    lock(n);
    n->frames++;
    n->last_frame_len = len;
    memcpy(n->last_frame, data, len < sizeof n->last_frame ? len : sizeof n->last_frame);
    bool echo = n->echo;
    unlock(n);
    if (echo && len < 200) {
        uint8_t buf[256];
        memcpy(buf, "re:", 3);
        memcpy(buf + 3, data, len);
        assert_int_equal(mk_transport_conn_send(c, buf, len + 3), 0);
    }
}

static inline void on_close(mk_transport_conn *c, int code, const char *reason, void *ctx) {
    node *n = ctx;
    lock(n);
    n->closes++;
    n->last_close_code = code;
    snprintf(n->last_close_reason, sizeof n->last_close_reason, "%s", reason);
    for (int i = 0; i < n->n_open; i++) {
        if (n->open[i] == c) {
            mk_transport_conn_unref(c);
            n->open[i] = n->open[--n->n_open];
            break;
        }
    }
    unlock(n);
}

static inline void on_drain(mk_transport_conn *c, void *ctx) {
    node *n = ctx;
    (void)c;
    lock(n);
    n->drains++;
    unlock(n);
}

static inline mk_transport_protocol proto_for(node *n, const char *name, size_t max_frame) {
    mk_transport_protocol p = {.name = name,
                               .max_frame = max_frame,
                               .on_connect = on_connect,
                               .on_frame = on_frame,
                               .on_close = on_close,
                               .on_drain = on_drain,
                               .ctx = n};
    return p;
}

typedef struct node_opts {
    const char *network;
    const char *listen;
    uint32_t idle_ms;
    const mk_ed25519_key *key;
    size_t max_frame; /* of protocol "test" */
    uint32_t max_pending;
    uint32_t handshake_ms;
    size_t max_send_queue;
} node_opts;

static inline void node_start(node *n, const node_opts *o) {
    memset(n, 0, sizeof *n);
    pthread_mutex_init(&n->mu, NULL);
    mk_transport_config cfg;
    mk_transport_config_init(&cfg);
    mk_id_from_name(&cfg.network_id, o && o->network ? o->network : "test-net");
    if (o && o->listen) cfg.listen_addr = o->listen;
    if (o && o->idle_ms) cfg.idle_timeout_ms = o->idle_ms;
    if (o && o->key) cfg.key = o->key;
    if (o && o->max_pending) cfg.max_pending = o->max_pending;
    if (o && o->handshake_ms) cfg.handshake_timeout_ms = o->handshake_ms;
    if (o && o->max_send_queue) cfg.max_send_queue = o->max_send_queue;
    cfg.reconnect_min_ms = 20;
    cfg.reconnect_max_ms = 200;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_transport_new(&cfg, &n->net, &err), 0, &err);
    mk_transport_protocol p = proto_for(n, "test", o ? o->max_frame : 0);
    TU_ASSERT_RC(mk_transport_protocol_register(n->net, &p, &err), 0, &err);
    TU_ASSERT_RC(mk_transport_start(n->net, &err), 0, &err);
    mk_transport_peer_id(n->net, &n->id);
    assert_int_equal(mk_transport_listen_addr(n->net, n->addr, sizeof n->addr), 0);
    assert_true(mk_transport_listen_port(n->net) > 0);
}

static inline void node_stop(node *n) {
    if (!n->net) return;
    mk_transport_stop(n->net);
    /* on_close ran for every open connection during stop. */
    lock(n);
    assert_int_equal(n->n_open, 0);
    unlock(n);
    mk_transport_free(n->net);
    n->net = NULL;
    pthread_mutex_destroy(&n->mu);
}

static inline uint64_t ms_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Poll an expression (evaluated under the node's lock) until true. */
#define WAIT_UNTIL(n, expr, ms)                                                                    \
    do {                                                                                           \
        uint64_t wu_end_ = ms_now() + (ms);                                                        \
        bool wu_ok_ = false;                                                                       \
        for (;;) {                                                                                 \
            lock(n);                                                                               \
            wu_ok_ = (expr);                                                                       \
            unlock(n);                                                                             \
            if (wu_ok_ || ms_now() > wu_end_) break;                                               \
            sleep_ms(2);                                                                           \
        }                                                                                          \
        if (!wu_ok_) fail_msg("timed out waiting for %s", #expr);                                  \
    } while (0)

#define WAIT_COND(expr, ms)                                                                        \
    do {                                                                                           \
        uint64_t wc_end_ = ms_now() + (ms);                                                        \
        while (!(expr) && ms_now() <= wc_end_)                                                     \
            sleep_ms(2);                                                                           \
        if (!(expr)) fail_msg("timed out waiting for %s", #expr);                                  \
    } while (0)

typedef struct dial_res {
    atomic_int done;
    int status;
    mk_transport_conn *conn;
    char msg[512];
} dial_res;

static inline void on_dial(mk_transport_conn *c, int status, const mk_error *err, void *ctx) {
    dial_res *r = ctx;
    r->status = status;
    r->conn = c ? mk_transport_conn_ref(c) : NULL;
    if (err) snprintf(r->msg, sizeof r->msg, "%s", err->msg);
    atomic_store(&r->done, 1);
}

static inline void dial_wait(node *from, node *to, const mk_id *expect, const char *proto,
                             bool keep, dial_res *r) {
    memset(r, 0, sizeof *r);
    mk_error err;
    mk_error_clear(&err);
    mk_transport_dial_opts o = {.keep = keep};
    TU_ASSERT_RC(mk_transport_dial(from->net, expect ? expect : &to->id, to->addr,
                                   proto ? proto : "test", &o, on_dial, r, &err),
                 0, &err);
    WAIT_COND(atomic_load(&r->done), 8000);
}

static inline mk_transport_metrics metrics(node *n) {
    mk_transport_metrics m;
    mk_transport_metrics_get(n->net, &m);
    return m;
}

/* ------------------------------------------------------------------------------- */

typedef struct raw_job {
    mk_transport_conn *c;
    const uint8_t *data;
    size_t len;
    bool close_after;
} raw_job;

static inline void raw_run(mk_transport *net, void *ctx) {
    (void)net;
    raw_job *j = ctx;
    mk_transport_conn_send_raw(j->c, j->data, j->len);
    if (j->close_after) mk_transport_conn_close(j->c, "raw test");
}

static inline void export_of(node *n, mk_transport_conn *c, const char *label, uint8_t out[32]) {
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_transport_conn_export(c, label, "ctx", 3, out, 32, &err), 0, &err);
    (void)n;
}

typedef struct post_ctx {
    mk_transport *net;
    atomic_int ran, status, fired;
    mk_transport_timer *t;
} post_ctx;

static inline void posted(mk_transport *net, void *ctx, int status) {
    post_ctx *p = ctx;
    if (status == 0) assert_true(mk_transport_on_loop(net));
    atomic_store(&p->status, status);
    atomic_fetch_add(&p->ran, 1);
}

static inline void ticked(mk_transport_timer *t, void *ctx) {
    post_ctx *p = ctx;
    assert_true(mk_transport_on_loop(p->net));
    if (atomic_fetch_add(&p->fired, 1) + 1 == 3) mk_transport_timer_stop(t);
}

#endif
