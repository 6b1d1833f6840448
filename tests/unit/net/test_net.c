/*
 * Unit tests of net/: real TLS connections between nodes on 127.0.0.1 with
 * ephemeral ports. Each node records what its protocol callbacks saw (under
 * a mutex, since they run on the node's I/O thread); the test thread polls
 * with a deadline.
 */
#include <pthread.h>
#include <time.h>

#include "netutil.h"
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

static void lock(node *n) {
    pthread_mutex_lock(&n->mu);
}
static void unlock(node *n) {
    pthread_mutex_unlock(&n->mu);
}

static void on_connect(mk_transport_conn *c, bool inbound, void *ctx) {
    node *n = ctx;
    lock(n);
    n->connects++;
    mk_transport_conn_peer(c, &n->last_peer);
    n->last_inbound = inbound;
    if (n->n_open < MAXC) n->open[n->n_open++] = mk_transport_conn_ref(c);
    unlock(n);
}

static void on_frame(mk_transport_conn *c, const uint8_t *data, size_t len, void *ctx) {
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

static void on_close(mk_transport_conn *c, int code, const char *reason, void *ctx) {
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

static void on_drain(mk_transport_conn *c, void *ctx) {
    node *n = ctx;
    (void)c;
    lock(n);
    n->drains++;
    unlock(n);
}

static mk_transport_protocol proto_for(node *n, const char *name, size_t max_frame) {
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

static void node_start(node *n, const node_opts *o) {
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

static void node_stop(node *n) {
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

static uint64_t ms_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
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

static void on_dial(mk_transport_conn *c, int status, const mk_error *err, void *ctx) {
    dial_res *r = ctx;
    r->status = status;
    r->conn = c ? mk_transport_conn_ref(c) : NULL;
    if (err) snprintf(r->msg, sizeof r->msg, "%s", err->msg);
    atomic_store(&r->done, 1);
}

static void dial_wait(node *from, node *to, const mk_id *expect, const char *proto, bool keep,
                      dial_res *r) {
    memset(r, 0, sizeof *r);
    mk_error err;
    mk_error_clear(&err);
    mk_transport_dial_opts o = {.keep = keep};
    TU_ASSERT_RC(mk_transport_dial(from->net, expect ? expect : &to->id, to->addr,
                                   proto ? proto : "test", &o, on_dial, r, &err),
                 0, &err);
    WAIT_COND(atomic_load(&r->done), 8000);
}

static mk_transport_metrics metrics(node *n) {
    mk_transport_metrics m;
    mk_transport_metrics_get(n->net, &m);
    return m;
}

/* ------------------------------------------------------------------------------- */

static void exchange(void **state) {
    (void)state;
    node a, b;
    node_start(&a, NULL);
    node_start(&b, NULL);
    b.echo = true;
    dial_res r;
    dial_wait(&a, &b, NULL, NULL, false, &r);
    if (r.status) fail_msg("dial failed: %s", r.msg);
    assert_non_null(r.conn);
    mk_id p;
    mk_transport_conn_peer(r.conn, &p);
    assert_true(mk_id_eq(&p, &b.id));
    assert_false(mk_transport_conn_inbound(r.conn));
    assert_string_equal(mk_transport_conn_protocol(r.conn), "test");
    /* The listener learned who dialed. */
    WAIT_UNTIL(&b, b.connects == 1, 3000);
    lock(&b);
    assert_true(mk_id_eq(&b.last_peer, &a.id));
    assert_true(b.last_inbound);
    unlock(&b);
    lock(&a);
    assert_int_equal(a.connects, 1);
    assert_false(a.last_inbound);
    unlock(&a);
    /* Frames both ways (b echoes). */
    assert_int_equal(mk_transport_conn_send(r.conn, "hello", 5), 0);
    WAIT_UNTIL(&a, a.frames == 1, 3000);
    lock(&b);
    assert_int_equal(b.last_frame_len, 5);
    assert_memory_equal(b.last_frame, "hello", 5);
    unlock(&b);
    lock(&a);
    assert_int_equal(a.last_frame_len, 8);
    assert_memory_equal(a.last_frame, "re:hello", 8);
    unlock(&a);
    /* Invalid sends. */
    assert_int_equal(mk_transport_conn_send(r.conn, "x", 0), MK_EINVAL);
    static uint8_t big[MK_TRANSPORT_DEFAULT_MAX_FRAME + 1];
    assert_int_equal(mk_transport_conn_send(r.conn, big, sizeof big), MK_ETOOBIG);
    /* A maximal frame goes through. */
    assert_int_equal(mk_transport_conn_send(r.conn, big, MK_TRANSPORT_DEFAULT_MAX_FRAME), 0);
    WAIT_UNTIL(&b, b.frames == 2, 5000);
    lock(&b);
    assert_int_equal(b.last_frame_len, MK_TRANSPORT_DEFAULT_MAX_FRAME);
    unlock(&b);
    mk_transport_metrics ma = metrics(&a), mb = metrics(&b);
    assert_int_equal(ma.conns_open, 1);
    assert_int_equal(mb.conns_open, 1);
    assert_int_equal(ma.conns_outbound, 1);
    assert_int_equal(mb.conns_inbound, 1);
    assert_int_equal(ma.frames_out, 2);
    assert_int_equal(mb.frames_in, 2);
    assert_true(mb.bytes_in > MK_TRANSPORT_DEFAULT_MAX_FRAME);
    /* Closing: both sides see on_close; sending after close is refused. */
    mk_transport_conn_close(r.conn, "test done");
    WAIT_UNTIL(&b, b.closes == 1, 3000);
    WAIT_UNTIL(&a, a.closes == 1, 3000);
    lock(&a);
    assert_int_equal(a.last_close_code, MK_ESTATE);
    unlock(&a);
    assert_int_equal(mk_transport_conn_send(r.conn, "x", 1), MK_ESTATE);
    mk_transport_conn_unref(r.conn);
    node_stop(&a);
    node_stop(&b);
}

static void wrong_peer_id(void **state) {
    (void)state;
    node a, b;
    node_start(&a, NULL);
    node_start(&b, NULL);
    /* Somebody else's id at b's address: b's certificate key differs. */
    mk_ed25519_key other;
    assert_int_equal(mk_ed25519_generate(&other), 0);
    mk_id wrong;
    memcpy(wrong.b, other.public_key, 32);
    dial_res r;
    dial_wait(&a, &b, &wrong, NULL, false, &r);
    assert_int_equal(r.status, MK_EMISMATCH);
    assert_null(r.conn);
    if (!strstr(r.msg, "peer id mismatch")) fail_msg("reason: %s", r.msg);
    /* b is done with the refused connection (its handshake failed, or -
     * were that a bug - it opened), and both I/O threads ran what that
     * queued, before the callbacks are counted. */
    WAIT_COND(metrics(&b).conns_pending == 0 &&
                  metrics(&b).handshakes_failed + metrics(&b).conns_inbound >= 1,
              3000);
    tu_loop_barrier(b.net);
    tu_loop_barrier(a.net);
    lock(&b);
    assert_int_equal(b.connects, 0);
    unlock(&b);
    lock(&a);
    assert_int_equal(a.connects, 0);
    unlock(&a);
    assert_int_equal(metrics(&a).refused_peer, 1);
    /* Dialing ourselves or an unknown protocol fails at once. */
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_transport_dial(a.net, &a.id, b.addr, "test", NULL, NULL, NULL, &err), MK_EINVAL,
                 &err);
    TU_ASSERT_RC(mk_transport_dial(a.net, &b.id, b.addr, "nope", NULL, NULL, NULL, &err),
                 MK_ENOTFOUND, &err);
    TU_ASSERT_RC(mk_transport_dial(a.net, &b.id, "localhost:1", "test", NULL, NULL, NULL, &err),
                 MK_EINVAL, &err);
    node_stop(&a);
    node_stop(&b);
}

static void network_mismatch(void **state) {
    (void)state;
    node a, b;
    node_opts oa = {.network = "net-one"}, ob = {.network = "net-two"};
    node_start(&a, &oa);
    node_start(&b, &ob);
    b.echo = true;
    dial_res r;
    dial_wait(&a, &b, NULL, NULL, false, &r);
    assert_int_equal(r.status, MK_EMISMATCH);
    if (!strstr(r.msg, "ALPN")) fail_msg("reason: %s", r.msg);
    WAIT_COND(metrics(&b).refused_network == 1, 2000);
    /* Both ends done with the connection, their I/O threads caught up. */
    WAIT_COND(metrics(&a).conns_pending == 0 && metrics(&b).conns_pending == 0, 2000);
    tu_loop_barrier(b.net);
    tu_loop_barrier(a.net);
    lock(&b);
    assert_int_equal(b.connects, 0);
    assert_int_equal(b.frames, 0);
    unlock(&b);
    assert_int_equal(metrics(&b).frames_in, 0);
    assert_int_equal(metrics(&a).frames_out, 0);
    assert_int_equal(metrics(&a).conns_open, 0);
    node_stop(&a);
    node_stop(&b);
}

static void unknown_protocol(void **state) {
    (void)state;
    node a, b;
    node_start(&a, NULL);
    node_start(&b, NULL);
    mk_transport_protocol p = proto_for(&a, "only-a", 0);
    assert_int_equal(mk_transport_protocol_register(a.net, &p, NULL), 0);
    /* Names are validated and unique. */
    mk_transport_protocol bad = proto_for(&a, "Bad Name", 0);
    assert_int_equal(mk_transport_protocol_register(a.net, &bad, NULL), MK_EINVAL);
    assert_int_equal(mk_transport_protocol_register(a.net, &p, NULL), MK_EBUSY);
    dial_res r;
    dial_wait(&a, &b, NULL, "only-a", false, &r);
    assert_int_equal(r.status, MK_EMISMATCH);
    WAIT_COND(metrics(&b).refused_protocol == 1, 2000);
    node_stop(&a);
    node_stop(&b);
}

static void oversized_frame(void **state) {
    (void)state;
    node a, b, c;
    node_opts ob = {.max_frame = 1024}, oa = {.max_frame = 65536};
    node_start(&a, &oa);
    node_start(&b, &ob);
    node_start(&c, NULL);
    dial_res ra, rc;
    dial_wait(&a, &b, NULL, NULL, false, &ra);
    dial_wait(&c, &b, NULL, NULL, false, &rc);
    assert_int_equal(ra.status, 0);
    assert_int_equal(rc.status, 0);
    WAIT_UNTIL(&b, b.connects == 2, 3000);
    /* a's limit allows 2000 bytes, b's does not: b closes a's connection. */
    static uint8_t big[2000];
    assert_int_equal(mk_transport_conn_send(ra.conn, big, sizeof big), 0);
    WAIT_UNTIL(&b, b.closes == 1, 3000);
    lock(&b);
    assert_int_equal(b.last_close_code, MK_ETOOBIG);
    if (!strstr(b.last_close_reason, "exceeds the maximum 1024"))
        fail_msg("reason: %s", b.last_close_reason);
    assert_int_equal(b.frames, 0);
    unlock(&b);
    WAIT_UNTIL(&a, a.closes == 1, 3000);
    assert_int_equal(metrics(&b).closed_oversize, 1);
    /* c's connection to b still works. */
    assert_int_equal(mk_transport_conn_send(rc.conn, "still here", 10), 0);
    WAIT_UNTIL(&b, b.frames == 1, 3000);
    lock(&b);
    assert_memory_equal(b.last_frame, "still here", 10);
    assert_int_equal(b.n_open, 1);
    unlock(&b);
    mk_transport_conn_unref(ra.conn);
    mk_transport_conn_unref(rc.conn);
    node_stop(&a);
    node_stop(&b);
    node_stop(&c);
}

typedef struct raw_job {
    mk_transport_conn *c;
    const uint8_t *data;
    size_t len;
    bool close_after;
} raw_job;

static void raw_run(mk_transport *net, void *ctx) {
    (void)net;
    raw_job *j = ctx;
    mk_transport_conn_send_raw(j->c, j->data, j->len);
    if (j->close_after) mk_transport_conn_close(j->c, "raw test");
}

static void malformed_prefix(void **state) {
    (void)state;
    node a, b;
    node_start(&a, NULL);
    node_start(&b, NULL);
    dial_res r;
    /* A length prefix of 0xffffffff. */
    dial_wait(&a, &b, NULL, NULL, false, &r);
    assert_int_equal(r.status, 0);
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 1, 2, 3};
    raw_job j = {r.conn, huge, sizeof huge, false};
    assert_int_equal(mk_transport_call(a.net, raw_run, &j), 0);
    WAIT_UNTIL(&b, b.closes == 1, 3000);
    lock(&b);
    assert_int_equal(b.last_close_code, MK_ETOOBIG);
    if (!strstr(b.last_close_reason, "4294967295")) fail_msg("reason: %s", b.last_close_reason);
    unlock(&b);
    WAIT_UNTIL(&a, a.closes == 1, 3000);
    mk_transport_conn_unref(r.conn);
    /* A truncated frame: 3 header bytes, then close_notify. */
    dial_wait(&a, &b, NULL, NULL, false, &r);
    assert_int_equal(r.status, 0);
    WAIT_UNTIL(&b, b.connects == 2, 3000);
    static const uint8_t part[] = {0, 0, 1};
    raw_job j2 = {r.conn, part, sizeof part, true};
    assert_int_equal(mk_transport_call(a.net, raw_run, &j2), 0);
    WAIT_UNTIL(&b, b.closes == 2, 3000);
    lock(&b);
    assert_int_equal(b.last_close_code, MK_EMALFORMED);
    if (!strstr(b.last_close_reason, "mid-frame")) fail_msg("reason: %s", b.last_close_reason);
    unlock(&b);
    assert_int_equal(metrics(&b).closed_malformed, 1);
    mk_transport_conn_unref(r.conn);
    node_stop(&a);
    node_stop(&b);
}

static void reuse(void **state) {
    (void)state;
    node a, b;
    node_start(&a, NULL);
    node_start(&b, NULL);
    /* Two dials in flight at once, then a third after: one connection. */
    dial_res r1, r2, r3;
    memset(&r1, 0, sizeof r1);
    memset(&r2, 0, sizeof r2);
    assert_int_equal(mk_transport_dial(a.net, &b.id, b.addr, "test", NULL, on_dial, &r1, NULL), 0);
    assert_int_equal(mk_transport_dial(a.net, &b.id, b.addr, "test", NULL, on_dial, &r2, NULL), 0);
    WAIT_COND(atomic_load(&r1.done) && atomic_load(&r2.done), 5000);
    dial_wait(&a, &b, NULL, NULL, false, &r3);
    assert_int_equal(r1.status, 0);
    assert_int_equal(r2.status, 0);
    assert_int_equal(r3.status, 0);
    assert_ptr_equal(r1.conn, r2.conn);
    assert_ptr_equal(r1.conn, r3.conn);
    /* b's on_connect, then anything else b's I/O thread had queued. */
    WAIT_UNTIL(&b, b.connects >= 1, 3000);
    tu_loop_barrier(b.net);
    lock(&b);
    assert_int_equal(b.connects, 1);
    unlock(&b);
    assert_int_equal(metrics(&a).conns_outbound, 1);
    /* b dialing a for the same protocol reuses b's inbound connection. */
    dial_res r4;
    dial_wait(&b, &a, NULL, NULL, false, &r4);
    assert_int_equal(r4.status, 0);
    assert_true(mk_transport_conn_inbound(r4.conn));
    assert_int_equal(metrics(&b).conns_outbound, 0);
    mk_transport_conn_unref(r1.conn);
    mk_transport_conn_unref(r2.conn);
    mk_transport_conn_unref(r3.conn);
    mk_transport_conn_unref(r4.conn);
    node_stop(&a);
    node_stop(&b);
}

static void export_of(node *n, mk_transport_conn *c, const char *label, uint8_t out[32]) {
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_transport_conn_export(c, label, "ctx", 3, out, 32, &err), 0, &err);
    (void)n;
}

static void simultaneous_dial(void **state) {
    (void)state;
    for (int round = 0; round < 3; round++) {
        node a, b;
        node_start(&a, NULL);
        node_start(&b, NULL);
        dial_res ra, rb;
        memset(&ra, 0, sizeof ra);
        memset(&rb, 0, sizeof rb);
        assert_int_equal(mk_transport_dial(a.net, &b.id, b.addr, "test", NULL, on_dial, &ra, NULL),
                         0);
        assert_int_equal(mk_transport_dial(b.net, &a.id, a.addr, "test", NULL, on_dial, &rb, NULL),
                         0);
        WAIT_COND(atomic_load(&ra.done) && atomic_load(&rb.done), 5000);
        assert_int_equal(ra.status, 0);
        assert_int_equal(rb.status, 0);
        /* Settle: one open connection each side, nothing pending. */
        WAIT_COND(metrics(&a).conns_open == 1 && metrics(&b).conns_open == 1 &&
                      metrics(&a).conns_pending == 0 && metrics(&b).conns_pending == 0,
                  5000);
        /* Settled on both ends: what their I/O threads had queued has run. */
        tu_loop_barrier(a.net);
        tu_loop_barrier(b.net);
        assert_int_equal(metrics(&a).conns_open, 1);
        assert_int_equal(metrics(&b).conns_open, 1);
        lock(&a);
        lock(&b);
        assert_int_equal(a.n_open, 1);
        assert_int_equal(b.n_open, 1);
        mk_transport_conn *ca = mk_transport_conn_ref(a.open[0]),
                          *cb = mk_transport_conn_ref(b.open[0]);
        unlock(&b);
        unlock(&a);
        /* The same TLS connection on both ends: equal exporter values. */
        uint8_t ea[32], eb[32];
        export_of(&a, ca, "simul", ea);
        export_of(&b, cb, "simul", eb);
        assert_memory_equal(ea, eb, 32);
        /* It is the one dialed by the lower peer id. */
        bool a_lower = mk_id_cmp(&a.id, &b.id) < 0;
        assert_int_equal(mk_transport_conn_inbound(ca), !a_lower);
        assert_int_equal(mk_transport_conn_inbound(cb), a_lower);
        /* And it carries frames. */
        assert_int_equal(mk_transport_conn_send(ca, "ping", 4), 0);
        WAIT_UNTIL(&b, b.frames == 1, 3000);
        mk_transport_conn_unref(ca);
        mk_transport_conn_unref(cb);
        if (ra.conn) mk_transport_conn_unref(ra.conn);
        if (rb.conn) mk_transport_conn_unref(rb.conn);
        node_stop(&a);
        node_stop(&b);
    }
}

static void idle_timeout(void **state) {
    (void)state;
    node a, b;
    node_opts o = {.idle_ms = 150};
    node_start(&a, &o);
    node_start(&b, NULL); /* default 30 s: a times out first */
    dial_res r;
    uint64_t t0 = ms_now();
    dial_wait(&a, &b, NULL, NULL, false, &r);
    assert_int_equal(r.status, 0);
    /* Traffic every 60 ms keeps it open until, on the test's clock, more
     * than idle_ms (150) plus 90 ms have passed since the dial began... */
    while (ms_now() - t0 < 150 + 90) {
        sleep_ms(60);
        assert_int_equal(mk_transport_conn_send(r.conn, "k", 1), 0);
    }
    lock(&a);
    assert_int_equal(a.closes, 0);
    unlock(&a);
    /* ...then silence closes it. */
    WAIT_UNTIL(&a, a.closes == 1, 3000);
    WAIT_UNTIL(&b, b.closes == 1, 3000);
    assert_true(ms_now() - t0 >= 150 + 240);
    lock(&a);
    assert_int_equal(a.last_close_code, MK_ETIMEDOUT);
    unlock(&a);
    lock(&b);
    assert_int_equal(b.last_close_code, MK_ENETWORK);
    unlock(&b);
    assert_int_equal(metrics(&a).closed_idle, 1);
    mk_transport_conn_unref(r.conn);
    node_stop(&a);
    node_stop(&b);
}

static void exporter(void **state) {
    (void)state;
    node a, b, c;
    node_start(&a, NULL);
    node_start(&b, NULL);
    node_start(&c, NULL);
    dial_res r1, r2;
    dial_wait(&a, &b, NULL, NULL, false, &r1);
    dial_wait(&c, &b, NULL, NULL, false, &r2);
    assert_int_equal(r1.status, 0);
    assert_int_equal(r2.status, 0);
    WAIT_UNTIL(&b, b.connects == 2, 3000);
    mk_transport_conn *b_for_a = NULL, *b_for_c = NULL;
    lock(&b);
    for (int i = 0; i < b.n_open; i++) {
        mk_id p;
        mk_transport_conn_peer(b.open[i], &p);
        if (mk_id_eq(&p, &a.id)) b_for_a = mk_transport_conn_ref(b.open[i]);
        if (mk_id_eq(&p, &c.id)) b_for_c = mk_transport_conn_ref(b.open[i]);
    }
    unlock(&b);
    assert_non_null(b_for_a);
    assert_non_null(b_for_c);
    uint8_t x1[32], y1[32], x2[32], y2[32], z[32];
    export_of(&a, r1.conn, "binding", x1);
    export_of(&b, b_for_a, "binding", y1);
    export_of(&c, r2.conn, "binding", x2);
    export_of(&b, b_for_c, "binding", y2);
    assert_memory_equal(x1, y1, 32);
    assert_memory_equal(x2, y2, 32);
    assert_memory_not_equal(x1, x2, 32);
    export_of(&a, r1.conn, "other", z); /* labels separate */
    assert_memory_not_equal(x1, z, 32);
    mk_error err;
    mk_error_clear(&err);
    assert_int_equal(mk_transport_conn_export(r1.conn, "x", NULL, 0, z, 0, &err), MK_EINVAL);
    mk_transport_conn_unref(b_for_a);
    mk_transport_conn_unref(b_for_c);
    mk_transport_conn_unref(r1.conn);
    mk_transport_conn_unref(r2.conn);
    node_stop(&a);
    node_stop(&b);
    node_stop(&c);
}

static void reconnect(void **state) {
    (void)state;
    node a, b;
    mk_ed25519_key kb;
    assert_int_equal(mk_ed25519_generate(&kb), 0);
    node_opts ob = {.key = &kb};
    node_start(&a, NULL);
    node_start(&b, &ob);
    char baddr[64];
    snprintf(baddr, sizeof baddr, "%s", b.addr);
    dial_res r;
    dial_wait(&a, &b, NULL, NULL, true, &r);
    assert_int_equal(r.status, 0);
    mk_transport_conn_unref(r.conn);
    /* The peer goes away... */
    node_stop(&b);
    WAIT_UNTIL(&a, a.closes == 1, 3000);
    /* ...a keeps trying (refused) while b is down... */
    WAIT_COND(metrics(&a).reconnects >= 2, 3000);
    /* ...and b comes back on the same address with the same key. */
    node_opts ob2 = {.key = &kb, .listen = baddr};
    node_start(&b, &ob2);
    WAIT_UNTIL(&a, a.connects == 2, 5000);
    WAIT_UNTIL(&b, b.connects == 1, 3000);
    lock(&a);
    assert_true(mk_id_eq(&a.last_peer, &b.id));
    unlock(&a);
    /* A local close ends keeping: no further reconnects. */
    lock(&a);
    mk_transport_conn *c = mk_transport_conn_ref(a.open[0]);
    unlock(&a);
    mk_transport_conn_close(c, "done");
    mk_transport_conn_unref(c);
    WAIT_UNTIL(&b, b.closes == 1, 3000);
    uint64_t rc = metrics(&a).reconnects;
    /* Longer than the longest backoff (reconnect_max_ms 200), and a's
     * timers due by then have run. */
    tu_wait_loop_after(a.net, 300);
    assert_int_equal(metrics(&a).reconnects, rc);
    lock(&a);
    assert_int_equal(a.connects, 2);
    unlock(&a);
    node_stop(&a);
    node_stop(&b);
}

static void many_connections(void **state) {
    (void)state;
    enum { NCLIENTS = 10, NPROTO = 5 };
    static const char *names[NPROTO] = {"p0", "p1", "p2", "p3", "p4"};
    node srv;
    static node cl[NCLIENTS];
    /* Generous handshake deadline: 50 handshakes on 2 cores under valgrind. */
    node_opts o = {.handshake_ms = 60000};
    node_start(&srv, &o);
    srv.echo = true;
    for (int p = 0; p < NPROTO; p++) {
        mk_transport_protocol pr = proto_for(&srv, names[p], 0);
        assert_int_equal(mk_transport_protocol_register(srv.net, &pr, NULL), 0);
    }
    static dial_res res[NCLIENTS][NPROTO];
    for (int i = 0; i < NCLIENTS; i++) {
        node_start(&cl[i], &o);
        for (int p = 0; p < NPROTO; p++) {
            mk_transport_protocol pr = proto_for(&cl[i], names[p], 0);
            assert_int_equal(mk_transport_protocol_register(cl[i].net, &pr, NULL), 0);
            memset(&res[i][p], 0, sizeof res[i][p]);
            assert_int_equal(mk_transport_dial(cl[i].net, &srv.id, srv.addr, names[p], NULL,
                                               on_dial, &res[i][p], NULL),
                             0);
        }
    }
    for (int i = 0; i < NCLIENTS; i++)
        for (int p = 0; p < NPROTO; p++) {
            WAIT_COND(atomic_load(&res[i][p].done), 60000);
            if (res[i][p].status) fail_msg("dial %d/%d: %s", i, p, res[i][p].msg);
            assert_int_equal(mk_transport_conn_send(res[i][p].conn, "m", 1), 0);
        }
    WAIT_UNTIL(&srv, srv.connects == NCLIENTS * NPROTO && srv.frames == NCLIENTS * NPROTO, 30000);
    for (int i = 0; i < NCLIENTS; i++)
        WAIT_UNTIL(&cl[i], cl[i].frames == NPROTO, 30000);
    assert_int_equal(metrics(&srv).conns_open, NCLIENTS * NPROTO);
    for (int i = 0; i < NCLIENTS; i++)
        for (int p = 0; p < NPROTO; p++)
            mk_transport_conn_unref(res[i][p].conn);
    /* Stop the server first: every client sees its connections close. */
    node_stop(&srv);
    for (int i = 0; i < NCLIENTS; i++) {
        WAIT_UNTIL(&cl[i], cl[i].closes == NPROTO, 30000);
        node_stop(&cl[i]);
    }
}

static void pending_limit(void **state) {
    (void)state;
    node b;
    /* Short enough for the idle slots to time out soon, long enough for a
     * real TLS handshake under ASan on a loaded machine (300 ms was not). */
    node_opts o = {.max_pending = 2, .handshake_ms = 2000};
    node_start(&b, &o);
    /* Plain TCP connections that never speak TLS occupy handshake slots. */
    int fds[5];
    struct sockaddr_storage ss;
    assert_int_equal(mk_transport_addr_parse(b.addr, &ss, false, NULL), 0);
    for (int i = 0; i < 5; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fds[i] >= 0);
        assert_int_equal(connect(fds[i], (struct sockaddr *)&ss, sizeof(struct sockaddr_in)), 0);
        /* b has taken it into a slot or refused it before the next one. */
        WAIT_COND(metrics(&b).conns_pending + metrics(&b).refused_limit == (uint64_t)i + 1, 5000);
    }
    WAIT_COND(metrics(&b).refused_limit == 3, 10000);
    /* The two slots time out and free up. */
    WAIT_COND(metrics(&b).handshakes_failed == 2 && metrics(&b).conns_pending == 0, 15000);
    for (int i = 0; i < 5; i++)
        close(fds[i]);
    /* A real peer gets in afterwards. */
    node a;
    node_start(&a, NULL);
    dial_res r;
    dial_wait(&a, &b, NULL, NULL, false, &r);
    assert_int_equal(r.status, 0);
    mk_transport_conn_unref(r.conn);
    node_stop(&a);
    node_stop(&b);
}

/* M1: more idle raw TCP sockets than max_pending (default 64) must not lock
 * real peers out: the oldest pending handshake is dropped for a newcomer. */
static void pending_flood(void **state) {
    (void)state;
    enum { NIDLE = 70 };
    node b;
    node_opts o = {.handshake_ms = 20000}; /* the idle sockets would not time out */
    node_start(&b, &o);
    int fds[NIDLE];
    struct sockaddr_storage ss;
    assert_int_equal(mk_transport_addr_parse(b.addr, &ss, false, NULL), 0);
    for (int i = 0; i < NIDLE; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fds[i] >= 0);
        assert_int_equal(connect(fds[i], (struct sockaddr *)&ss, sizeof(struct sockaddr_in)), 0);
    }
    WAIT_COND(metrics(&b).conns_pending == 64, 3000);
    node a;
    node_start(&a, NULL);
    dial_res r;
    dial_wait(&a, &b, NULL, NULL, false, &r);
    printf("# after %d idle sockets: dial status %d %s\n", NIDLE, r.status, r.msg);
    assert_int_equal(r.status, 0);
    assert_true(metrics(&b).refused_limit >= NIDLE - 64 + 1);
    mk_transport_conn_unref(r.conn);
    for (int i = 0; i < NIDLE; i++)
        close(fds[i]);
    node_stop(&a);
    node_stop(&b);
}

static void backpressure(void **state) {
    (void)state;
    node a, b;
    node_opts oa = {.max_send_queue = 64 * 1024};
    node_start(&a, &oa);
    node_start(&b, NULL);
    dial_res r;
    dial_wait(&a, &b, NULL, NULL, false, &r);
    assert_int_equal(r.status, 0);
    static uint8_t chunk[60000];
    int sent = 0, busy = 0;
    for (int i = 0; i < 2000 && !busy; i++) {
        int rc = mk_transport_conn_send(r.conn, chunk, sizeof chunk);
        if (rc == MK_EBUSY)
            busy = 1;
        else if (rc == 0)
            sent++;
        else
            fail_msg("send: %s", mk_strerror(rc));
    }
    assert_true(busy);
    assert_true(metrics(&a).send_busy >= 1);
    /* The queue drains, on_drain fires, and everything accepted arrives. */
    WAIT_UNTIL(&a, a.drains == 1, 5000);
    WAIT_UNTIL(&b, b.frames == sent, 5000);
    WAIT_COND(mk_transport_conn_queued(r.conn) == 0, 3000);
    assert_int_equal(mk_transport_conn_send(r.conn, chunk, sizeof chunk), 0);
    WAIT_UNTIL(&b, b.frames == sent + 1, 5000);
    mk_transport_conn_unref(r.conn);
    node_stop(&a);
    node_stop(&b);
}

typedef struct post_ctx {
    mk_transport *net;
    atomic_int ran, status, fired;
    mk_transport_timer *t;
} post_ctx;

static void posted(mk_transport *net, void *ctx, int status) {
    post_ctx *p = ctx;
    if (status == 0) assert_true(mk_transport_on_loop(net));
    atomic_store(&p->status, status);
    atomic_fetch_add(&p->ran, 1);
}

static void ticked(mk_transport_timer *t, void *ctx) {
    post_ctx *p = ctx;
    assert_true(mk_transport_on_loop(p->net));
    if (atomic_fetch_add(&p->fired, 1) + 1 == 3) mk_transport_timer_stop(t);
}

static void post_and_timers(void **state) {
    (void)state;
    node a;
    node_start(&a, NULL);
    post_ctx p = {.net = a.net};
    assert_false(mk_transport_on_loop(a.net));
    assert_int_equal(mk_transport_post(a.net, posted, &p), 0);
    WAIT_COND(atomic_load(&p.ran) == 1, 2000);
    assert_int_equal(atomic_load(&p.status), 0);
    assert_int_equal(mk_transport_timer_new(a.net, ticked, &p, &p.t), 0);
    assert_int_equal(mk_transport_timer_start(p.t, 10, 10), 0);
    WAIT_COND(atomic_load(&p.fired) == 3, 2000);
    /* Stopped: six more periods pass and a's due timers run, none fires. */
    tu_wait_loop_after(a.net, 60);
    assert_int_equal(atomic_load(&p.fired), 3);
    /* A timer left running is closed at stop; free after stop is fine. */
    assert_int_equal(mk_transport_timer_start(p.t, 100000, 0), 0);
    mk_transport_stop(a.net);
    assert_int_equal(mk_transport_post(a.net, posted, &p), MK_ESTATE);
    mk_transport_timer_free(p.t);
    node_stop(&a);
    /* A network that never started frees cleanly, cancelling posts. */
    mk_transport *n;
    assert_int_equal(mk_transport_new(NULL, &n, NULL), 0);
    post_ctx q = {.net = n};
    assert_int_equal(mk_transport_post(n, posted, &q), 0);
    mk_transport_timer *t;
    assert_int_equal(mk_transport_timer_new(n, ticked, &q, &t), 0);
    mk_transport_free(n);
    (void)t; /* freed with the network */
    assert_int_equal(atomic_load(&q.ran), 1);
    assert_int_equal(atomic_load(&q.status), MK_ESTATE);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exchange),
        cmocka_unit_test(wrong_peer_id),
        cmocka_unit_test(network_mismatch),
        cmocka_unit_test(unknown_protocol),
        cmocka_unit_test(oversized_frame),
        cmocka_unit_test(malformed_prefix),
        cmocka_unit_test(reuse),
        cmocka_unit_test(simultaneous_dial),
        cmocka_unit_test(idle_timeout),
        cmocka_unit_test(exporter),
        cmocka_unit_test(reconnect),
        cmocka_unit_test(many_connections),
        cmocka_unit_test(pending_limit),
        cmocka_unit_test(pending_flood),
        cmocka_unit_test(post_and_timers),
        cmocka_unit_test(backpressure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
