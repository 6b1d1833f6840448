/*
 * Unit tests of net/'s resource limits against a hostile client
 * (tls_flood_util.h: TLS connections with throwaway identities, from a chosen
 * loopback source address):
 *
 *   - 1,100 connections from one address take at most max_conns_per_addr
 *     slots, and a real peer from another address still gets in (before the
 *     limit they took all max_conns = 1024 and the peer was refused);
 *   - from the same address, a peer the rank callback knows displaces a
 *     throwaway connection, an unknown one is refused; an outbound dial over
 *     max_conns displaces one too;
 *   - the node-wide budget for partial frames: connections holding frames
 *     minus one byte are closed oldest first once the budget is full, and a
 *     real peer's frame still arrives.
 *
 * Waits have deadlines; ports are bound once (port 0, read back).
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "net_util.h"

#include "unit/net/limits_util.h"
#include "unit/net/tls_flood_util.h"

#define FLOOD 1100

typedef struct lnode {
    mk_transport *net;
    mk_id id;
    char addr[64];
    atomic_int frames;
    atomic_size_t last_len;
} lnode;

static void ln_on_frame(mk_transport_conn *c, const uint8_t *d, size_t len, void *ctx) {
    (void)c, (void)d;
    lnode *n = ctx;
    atomic_store(&n->last_len, len);
    atomic_fetch_add(&n->frames, 1);
}

static void ln_start(lnode *n, const mk_transport_config *cfg0, size_t max_frame) {
    memset(n, 0, sizeof *n);
    mk_transport_config cfg;
    if (cfg0)
        cfg = *cfg0;
    else
        mk_transport_config_init(&cfg);
    mk_id_from_name(&cfg.network_id, "limits-net");
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_transport_new(&cfg, &n->net, &err), 0, &err);
    mk_transport_protocol p = {
        .name = "test", .max_frame = max_frame, .on_frame = ln_on_frame, .ctx = n};
    TU_ASSERT_RC(mk_transport_protocol_register(n->net, &p, &err), 0, &err);
    TU_ASSERT_RC(mk_transport_start(n->net, &err), 0, &err);
    mk_transport_peer_id(n->net, &n->id);
    assert_int_equal(mk_transport_listen_addr(n->net, n->addr, sizeof n->addr), 0);
}

static void ln_stop(lnode *n) {
    mk_transport_free(n->net);
    n->net = NULL;
}

typedef struct dres {
    atomic_int done;
    int status;
    mk_transport_conn *conn;
} dres;

static void on_dial(mk_transport_conn *c, int status, const mk_error *err, void *ctx) {
    (void)err;
    dres *r = ctx;
    r->status = status;
    r->conn = c ? mk_transport_conn_ref(c) : NULL;
    atomic_store(&r->done, 1);
}

/* Dial `to` from `from` and wait for the outcome (status). */
static int dial(lnode *from, lnode *to, mk_transport_conn **out) {
    dres r;
    memset(&r, 0, sizeof r);
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_transport_dial(from->net, &to->id, to->addr, "test", NULL, on_dial, &r, &err),
                 0, &err);
    TU_WAIT_UNTIL(atomic_load(&r.done), 20000, "the dial");
    if (out)
        *out = r.conn;
    else if (r.conn)
        mk_transport_conn_unref(r.conn);
    return r.status;
}

/* Open n hostile connections from src to node; returns how many the node
 * admitted (acceptance frame received). */
static int flood(SSL_CTX *ctx, tf_conn *c, int n, const char *src, lnode *to) {
    mk_id nid;
    mk_id_from_name(&nid, "limits-net");
    int accepted = 0;
    for (int i = 0; i < n; i++) {
        /* A handshake may fail: the node may close a socket over its hard
         * limit at once. */
        if (tf_open(ctx, &c[i], src, to->addr, "test", &nid, NULL, 10000) == 0 &&
            tf_wait_accept(&c[i]))
            accepted++;
    }
    return accepted;
}

static void flood_close(tf_conn *c, int n) {
    for (int i = 0; i < n; i++)
        tf_close(&c[i]);
}

/* The attack of issue 11: 1,100 TLS connections with throwaway keys from
 * one address, against the default limits. */
static void test_flood_one_address(void **state) {
    (void)state;
    lnode v, real;
    ln_start(&v, NULL, 0);
    ln_start(&real, NULL, 0);
    SSL_CTX *ctx = tf_ctx_new();
    static tf_conn c[FLOOD];
    uint64_t t0 = mk_mono_ms();
    int accepted = flood(ctx, c, FLOOD, "127.0.0.2", &v);
    printf("# %d connections from 127.0.0.2 in %llu ms: %d admitted\n", FLOOD,
           (unsigned long long)(mk_mono_ms() - t0), accepted);
    /* A real peer (from 127.0.0.1) still gets a slot and is served. */
    mk_transport_conn *rc = NULL;
    assert_int_equal(dial(&real, &v, &rc), 0);
    assert_int_equal(mk_transport_conn_send(rc, "hello", 5), 0);
    TU_WAIT_UNTIL(atomic_load(&v.frames) == 1, 10000, "the real peer's frame");
    mk_transport_conn_unref(rc);
    assert_true(accepted < FLOOD);
    assert_int_equal(accepted, 256); /* MK_TRANSPORT_DEFAULT_MAX_CONNS_PER_ADDR */
    assert_int_equal(lu_refused_addr(v.net), FLOOD - 256);
    flood_close(c, FLOOD);
    SSL_CTX_free(ctx);
    ln_stop(&real);
    ln_stop(&v);
}

/* The rank callback of the victim: peers in `known` rank 2. */
typedef struct ranks {
    mk_id known[4];
    int n;
} ranks;

static int rank_cb(const mk_id *peer, void *ctx) {
    ranks *r = ctx;
    for (int i = 0; i < r->n; i++)
        if (mk_id_eq(&r->known[i], peer)) return 2;
    return 0;
}

/* Same address: a known peer displaces a throwaway connection, an unknown
 * newcomer is refused. */
static void test_rank_displaces(void **state) {
    (void)state;
    enum { PER_ADDR = 8, N = 20 };
    lnode known, unknown, v;
    ln_start(&known, NULL, 0);
    ln_start(&unknown, NULL, 0);
    static ranks rk;
    rk.n = 1;
    rk.known[0] = known.id;
    mk_transport_config cfg;
    mk_transport_config_init(&cfg);
    lu_net_limits(&cfg, 0, PER_ADDR, 0);
    lu_net_rank(&cfg, rank_cb, &rk);
    ln_start(&v, &cfg, 0);
    SSL_CTX *ctx = tf_ctx_new();
    static tf_conn c[N];
    assert_int_equal(flood(ctx, c, N, "127.0.0.1", &v), PER_ADDR);
    assert_int_equal(lu_refused_addr(v.net), N - PER_ADDR);
    /* The known peer gets in from the same address: one throwaway goes. */
    assert_int_equal(dial(&known, &v, NULL), 0);
    assert_int_equal(lu_displaced(v.net), 1);
    TU_WAIT_UNTIL(({
                      int closed = 0;
                      for (int i = 0; i < PER_ADDR; i++)
                          closed += tf_closed(&c[i], 0);
                      closed == 1;
                  }),
                  10000, "one throwaway connection displaced");
    /* An unknown newcomer is refused: its address is over the limit. */
    assert_true(dial(&unknown, &v, NULL) < 0);
    assert_int_equal(lu_refused_addr(v.net), N - PER_ADDR + 1);
    flood_close(c, N);
    SSL_CTX_free(ctx);
    ln_stop(&v);
    ln_stop(&unknown);
    ln_stop(&known);
}

/* max_conns: an outbound dial displaces a throwaway inbound connection. */
static void test_outbound_displaces(void **state) {
    (void)state;
    enum { MAX = 8 };
    lnode target, v;
    ln_start(&target, NULL, 0);
    mk_transport_config cfg;
    mk_transport_config_init(&cfg);
    lu_net_limits(&cfg, MAX, 0, 0);
    ln_start(&v, &cfg, 0);
    SSL_CTX *ctx = tf_ctx_new();
    static tf_conn c[MAX + 2];
    assert_int_equal(flood(ctx, c, MAX + 2, "127.0.0.3", &v), MAX);
    assert_int_equal(lu_net_metrics(v.net).refused_limit, 2);
    assert_int_equal(dial(&v, &target, NULL), 0);
    assert_int_equal(lu_displaced(v.net), 1);
    flood_close(c, MAX + 2);
    SSL_CTX_free(ctx);
    ln_stop(&v);
    ln_stop(&target);
}

/* The partial-frame budget: 10 connections each hold a frame minus one
 * byte; the budget holds 4 of them, the 6 oldest are closed. */
static void test_partial_budget(void **state) {
    (void)state;
    enum { FRAME = 256 * 1024, N = 10, HOLD = 4 };
    lnode v, real;
    mk_transport_config cfg;
    mk_transport_config_init(&cfg);
    lu_net_limits(&cfg, 0, 0, (size_t)HOLD * FRAME);
    ln_start(&v, &cfg, FRAME);
    ln_start(&real, NULL, FRAME);
    SSL_CTX *ctx = tf_ctx_new();
    static tf_conn c[N];
    assert_int_equal(flood(ctx, c, N, "127.0.0.4", &v), N);
    for (int i = 0; i < N; i++)
        assert_int_equal(tf_send_partial(&c[i], FRAME, FRAME - 1), 0);
    /* The connections' bytes interleave at the node, so which ones began
     * their frames first is the node's view; how many stay is not: every
     * drop leaves at least HOLD whole frames, at most HOLD fit. */
    static bool closed[N];
    TU_WAIT_UNTIL(({
                      int n_closed = 0;
                      for (int i = 0; i < N; i++)
                          n_closed += closed[i] = closed[i] || tf_closed(&c[i], 0);
                      n_closed == N - HOLD;
                  }),
                  20000, "the oldest partial frames dropped");
    assert_int_equal(lu_closed_budget(v.net), N - HOLD);
    assert_true(lu_partial_bytes(v.net) <= (uint64_t)HOLD * FRAME);
    /* A real peer's frame of 200 KB still arrives (the oldest partial
     * frame makes room for it). */
    mk_transport_conn *rc = NULL;
    assert_int_equal(dial(&real, &v, &rc), 0);
    static uint8_t big[200 * 1024];
    assert_int_equal(mk_transport_conn_send(rc, big, sizeof big), 0);
    TU_WAIT_UNTIL(atomic_load(&v.frames) == 1, 10000, "the real peer's frame");
    assert_int_equal(atomic_load(&v.last_len), sizeof big);
    assert_true(mk_transport_conn_is_open(rc));
    mk_transport_conn_unref(rc);
    assert_true(lu_partial_bytes(v.net) <= (uint64_t)HOLD * FRAME);
    flood_close(c, N);
    SSL_CTX_free(ctx);
    ln_stop(&real);
    ln_stop(&v);
}

/* argv[1], when given: run only the tests matching it (cmocka filter). */
int main(int argc, char **argv) {
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    signal(SIGPIPE, SIG_IGN); /* the hostile client writes to closed sockets */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flood_one_address),
        cmocka_unit_test(test_rank_displaces),
        cmocka_unit_test(test_outbound_displaces),
        cmocka_unit_test(test_partial_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
