/*
 * Integration tests of discovery's bounded resources under the attacks of
 * issue 11, each with the default limits unless said:
 *
 *   - 6,000 validly signed entries from fresh keys on one connection: the
 *     connection brings at most max_new_per_conn new identities, so a real
 *     newcomer still joins (before: the 4,096-entry catalog filled and the
 *     newcomer was refused for as long as the flood was renewed);
 *   - a full catalog and a newcomer whose ticket the node's ticket
 *     validators accept: an unvouched entry is evicted for it, while a
 *     ticketless newcomer is still refused;
 *   - 1,100 TLS connections with throwaway keys: from another address a new
 *     node still joins; from the same address a node already in the
 *     catalog still connects (it displaces a throwaway);
 *   - 1,000 connections each holding a discovery frame minus one byte: the
 *     partial-frame budget closes the oldest, and a real node still joins;
 *   - the sync rate limit keyed by the full peer id: two ids alike in their
 *     first bytes keep separate limits (issue 11, item 7).
 */
#include <signal.h>

#include "discovery_util.h"

#include "unit/net/limits_util.h"
#include "unit/net/tls_flood_util.h"

static uint64_t refused_all(mk_network *nw) {
    mk_network_metrics m;
    mk_network_metrics_get(nw, &m);
    uint64_t n = 0;
    for (int r = 0; r < MK_REFUSE_COUNT; r++)
        n += m.refused[r];
    return n;
}

/* Send n entries of fresh keys on r (validly signed, no ticket). */
static void flood_entries(raw *r, const mk_id *nid, int n) {
    uint64_t now = wall_now_ms();
    for (int i = 0; i < n; i++) {
        mk_ed25519_key k;
        assert_int_equal(mk_ed25519_generate(&k), 0);
        mk_buf f;
        entry_frame(&k, nid, now, false, &f);
        TU_WAIT_UNTIL(mk_transport_conn_send(r->conn, f.data, f.len) == 0, 10000, "room to send");
        mk_buf_free(&f);
    }
}

/* No gossip rounds, and the default purge window (the flood must not go
 * stale, nor its connection's window of new identities end, under ASan). */
static void slow_purge(mk_network_config *c) {
    no_sync(c);
    c->purge_after_ms = MK_NETWORK_DEFAULT_PURGE_MS;
}

/* Quick rounds, the default purge window: a newcomer meeting a quiet
 * victim (slow_purge re-signs once a minute) must not find its entry stale
 * when an attack took a few seconds (ASan, a loaded machine). */
static void quick_slow_purge(mk_network_config *c) {
    c->purge_after_ms = MK_NETWORK_DEFAULT_PURGE_MS;
}

static void test_catalog_flood(void **state) {
    (void)state;
    enum { N = 6000 };
    mk_network *a = tn_new("bounds-flood", NULL, slow_purge);
    mk_id nid;
    mk_network_id(a, &nid);
    raw r;
    raw_open(&r, a);
    uint64_t t0 = mk_mono_ms();
    flood_entries(&r, &nid, N);
    TU_WAIT_UNTIL(mk_network_peer_count(a) + refused_all(a) >= N, 60000, "the flood judged");
    printf("# %d fresh ids on one connection in %llu ms: %zu held\n", N,
           (unsigned long long)(mk_mono_ms() - t0), mk_network_peer_count(a));
    /* A real newcomer still joins. */
    mk_network *b = tn_new("bounds-flood", a, quick_slow_purge);
    TU_WAIT_UNTIL(has_peer(a, b) && has_peer(b, a), 20000, "the newcomer and the victim");
    assert_int_equal(mk_network_peer_count(a), 1024 + 1); /* the default max_new_per_conn */
    assert_int_equal(lu_refused_new_ids(a), N - 1024);
    assert_true(lu_prometheus_has(a, "reason=\"new_ids\"} 4976"));
    mk_network_free(b);
    raw_free(&r);
    mk_network_free(a);
}

/* ----- a full catalog and a vouched newcomer ----------------------- */

static mk_jwt_key *jwt_key(void) {
    uint8_t secret[32];
    memset(secret, 0x5a, sizeof secret);
    mk_jwt_key *k = NULL;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_jwt_key_hs(MK_JWT_HS256, secret, sizeof secret, &k, &err), 0, &err);
    return k;
}

static void jwt_for(const mk_jwt_key *key, const mk_ed25519_key *who, mk_ticket *t) {
    mk_id peer;
    memcpy(peer.b, who->public_key, 32);
    mk_jwt_builder *b = mk_jwt_builder_new();
    assert_int_equal(mk_jwt_builder_set_subject_peer(b, &peer), 0);
    assert_int_equal(mk_jwt_builder_set_expires_in(b, 3600), 0);
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_jwt_builder_ticket(b, key, mk_now(), t, &err), 0, &err);
    mk_jwt_builder_free(b);
}

static const mk_jwt_key *g_keys[1];
static mk_jwt_validator_config g_jwt; /* the defaults and g_keys, set by the test */
static const mk_validator_spec g_vouch[] = {{mk_validator_factory_jwt, &g_jwt}};

static void vouched_catalog(mk_network_config *c) {
    slow_purge(c); /* the flood must not be purged while the test runs */
    c->max_peers = 64;
    lu_disc_vouch(c, g_vouch, 1);
}

static void test_vouched_evicts(void **state) {
    (void)state;
    mk_jwt_key *key = jwt_key();
    g_keys[0] = key;
    mk_jwt_validator_config_init(&g_jwt);
    g_jwt.keys = g_keys;
    g_jwt.n_keys = 1;
    mk_network *a = tn_new("bounds-vouch", NULL, vouched_catalog);
    mk_id nid;
    mk_network_id(a, &nid);
    raw r;
    raw_open(&r, a);
    flood_entries(&r, &nid, 100);
    TU_WAIT_UNTIL(refused(a, MK_REFUSE_CATALOG_FULL) == 36, 20000, "the flood refused");
    assert_int_equal(mk_network_peer_count(a), 64);
    /* A newcomer with a valid ticket gets in: an unvouched entry goes. */
    mk_ed25519_key kb;
    assert_int_equal(mk_ed25519_generate(&kb), 0);
    mk_ticket t;
    jwt_for(key, &kb, &t);
    mk_buf f;
    entry_frame_t(&kb, &nid, wall_now_ms(), false, &t, &f);
    raw rb;
    raw_open_key(&rb, a, &kb);
    raw_send(&rb, &f);
    mk_buf_free(&f);
    mk_id bid;
    memcpy(bid.b, kb.public_key, 32);
    TU_WAIT_UNTIL(({
                      mk_peer_entry e;
                      bool ok = mk_network_get(a, &bid, &e) == 0;
                      mk_peer_entry_free(&e);
                      ok;
                  }),
                  10000, "the vouched newcomer");
    assert_int_equal(mk_network_peer_count(a), 64);
    assert_int_equal(lu_evicted(a), 1);
    /* The evicted peer left with a PURGED event. */
    bool purged = false;
    mk_network_event ev;
    while (mk_network_next_event(a, 0, &ev) == 0) {
        if (ev.type == MK_EVENT_PURGED) purged = true;
        mk_network_event_free(&ev);
    }
    assert_true(purged);
    /* A ticketless newcomer is still refused: the catalog stays full. */
    mk_ed25519_key kc;
    assert_int_equal(mk_ed25519_generate(&kc), 0);
    entry_frame(&kc, &nid, wall_now_ms(), false, &f);
    expect_refusal(a, &rb, &f, MK_REFUSE_CATALOG_FULL);
    mk_buf_free(&f);
    /* Nor does a forged ticket (another key's JWT for the same peer). */
    mk_jwt_key *other = NULL;
    uint8_t s2[32];
    memset(s2, 0x11, sizeof s2);
    assert_int_equal(mk_jwt_key_hs(MK_JWT_HS256, s2, sizeof s2, &other, NULL), 0);
    mk_ticket bad;
    jwt_for(other, &kc, &bad);
    entry_frame_t(&kc, &nid, wall_now_ms(), false, &bad, &f);
    expect_refusal(a, &rb, &f, MK_REFUSE_CATALOG_FULL);
    mk_buf_free(&f);
    assert_int_equal(lu_evicted(a), 1);
    mk_ticket_free(&bad);
    mk_jwt_key_free(other);
    mk_ticket_free(&t);
    raw_free(&rb);
    raw_free(&r);
    mk_network_free(a);
    mk_jwt_key_free(key);
}

/* ----- 1,100 TLS connections with throwaway keys --------------------- */

#define CONN_FLOOD 1100

static int conn_flood(SSL_CTX *ctx, tf_conn *c, const char *src, mk_network *to) {
    mk_id nid;
    mk_network_id(to, &nid);
    char addr[MK_TRANSPORT_ADDR_MAX + 1];
    mk_network_listen_addr(to, addr, sizeof addr);
    int accepted = 0;
    for (int i = 0; i < CONN_FLOOD; i++)
        if (tf_open(ctx, &c[i], src, addr, MK_NETWORK_PROTOCOL, &nid, NULL, 10000) == 0 &&
            tf_wait_accept(&c[i]))
            accepted++;
    return accepted;
}

typedef struct dial_wait {
    pthread_mutex_t mu;
    bool done;
    int status;
} dial_wait;

static void dial_wait_cb(mk_transport_conn *conn, int status, const mk_error *err, void *ctx) {
    (void)conn, (void)err;
    dial_wait *w = ctx;
    pthread_mutex_lock(&w->mu);
    w->status = status;
    w->done = true;
    pthread_mutex_unlock(&w->mu);
}

/* A fresh discovery connection from `from` to `to` (an old one forgotten
 * first): its dial status. */
static int redial(mk_network *from, mk_network *to) {
    mk_id tid;
    mk_network_peer_id(to, &tid);
    char addr[MK_TRANSPORT_ADDR_MAX + 1];
    mk_network_listen_addr(to, addr, sizeof addr);
    mk_transport_forget(mk_network_transport(from), &tid, MK_NETWORK_PROTOCOL);
    static dial_wait w;
    w = (dial_wait){.mu = PTHREAD_MUTEX_INITIALIZER};
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_transport_dial(mk_network_transport(from), &tid, addr, MK_NETWORK_PROTOCOL,
                                   NULL, dial_wait_cb, &w, &err),
                 0, &err);
    TU_WAIT_UNTIL(({
                      pthread_mutex_lock(&w.mu);
                      bool d = w.done;
                      pthread_mutex_unlock(&w.mu);
                      d;
                  }),
                  20000, "the redial");
    return w.status;
}

static void test_conn_flood(void **state) {
    (void)state;
    /* a and b quiet after they met (no rounds; nothing purged meanwhile). */
    mk_network *a = tn_new("bounds-conns", NULL, slow_purge);
    mk_network *b = tn_new("bounds-conns", a, slow_purge);
    TU_WAIT_UNTIL(has_peer(a, b) && has_peer(b, a), 10000, "a and b");
    SSL_CTX *ctx = tf_ctx_new();
    static tf_conn c[CONN_FLOOD];
    /* From another address: a new node still discovers the victim. */
    int acc = conn_flood(ctx, c, "127.0.0.2", a);
    printf("# %d throwaway connections from 127.0.0.2: %d admitted\n", CONN_FLOOD, acc);
    mk_network *n = tn_new("bounds-conns", a, quick_slow_purge);
    TU_WAIT_UNTIL(has_peer(a, n) && has_peer(n, a), 20000, "the new node and the victim");
    mk_network_free(n);
    for (int i = 0; i < CONN_FLOOD; i++)
        tf_close(&c[i]);
    /* From the address of a known node, with no connection between them:
     * that node still connects, displacing a throwaway. */
    mk_id aid;
    mk_network_peer_id(a, &aid);
    mk_transport_forget(mk_network_transport(b), &aid, MK_NETWORK_PROTOCOL);
    TU_WAIT_UNTIL(lu_disc_net(a).conns_open == 0, 10000, "a without connections");
    acc = conn_flood(ctx, c, "127.0.0.1", a);
    printf("# %d throwaway connections from 127.0.0.1: %d admitted\n", CONN_FLOOD, acc);
    assert_int_equal(redial(b, a), 0);
    assert_int_equal(acc, 256); /* MK_TRANSPORT_DEFAULT_MAX_CONNS_PER_ADDR */
    assert_int_equal(lu_disc_net(a).displaced, 1);
    assert_true(lu_disc_net(a).refused_addr >= 2 * (CONN_FLOOD - 256));
    assert_true(lu_prometheus_has(a, "mosaik_net_refused_addr_total{"));
    for (int i = 0; i < CONN_FLOOD; i++)
        tf_close(&c[i]);
    SSL_CTX_free(ctx);
    mk_network_free(b);
    mk_network_free(a);
}

/* ----- partial frames ----------------------------------------------- */

static void test_partial_frames(void **state) {
    (void)state;
    enum { PER_ADDR = 250, N = 4 * PER_ADDR }; /* issue 11: 1,000 connections */
    const size_t frame = MK_DISC_MAX_FRAME;
    const int fit = (int)(((size_t)64 << 20) / frame); /* the default budget */
    mk_network *a = tn_new("bounds-partial", NULL, NULL);
    mk_id nid;
    mk_network_id(a, &nid);
    char addr[MK_TRANSPORT_ADDR_MAX + 1];
    mk_network_listen_addr(a, addr, sizeof addr);
    SSL_CTX *ctx = tf_ctx_new();
    static tf_conn c[N];
    static const char *src[4] = {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"};
    uint64_t t0 = mk_mono_ms();
    for (int i = 0; i < N; i++) {
        assert_int_equal(
            tf_open(ctx, &c[i], src[i / PER_ADDR], addr, MK_NETWORK_PROTOCOL, &nid, NULL, 10000),
            0);
        assert_true(tf_wait_accept(&c[i]));
        /* Closed by the budget meanwhile, a write may fail: fine. */
        tf_send_partial(&c[i], frame, frame - 1);
    }
    static bool closed[N];
    TU_WAIT_UNTIL(({
                      int k = 0;
                      for (int i = 0; i < N; i++)
                          k += closed[i] = closed[i] || tf_closed(&c[i], 0);
                      k == N - fit;
                  }),
                  60000, "the oldest partial frames dropped");
    printf("# %d partial discovery frames of %zu bytes in %llu ms: %d dropped\n", N, frame,
           (unsigned long long)(mk_mono_ms() - t0), N - fit);
    assert_true(lu_disc_net(a).partial_bytes <= ((uint64_t)64 << 20));
    assert_int_equal(lu_disc_net(a).closed_budget, N - fit);
    /* A real node still joins. */
    mk_network *b = tn_new("bounds-partial", a, NULL);
    TU_WAIT_UNTIL(has_peer(a, b) && has_peer(b, a), 20000, "a real node");
    for (int i = 0; i < N; i++)
        tf_close(&c[i]);
    SSL_CTX_free(ctx);
    mk_network_free(b);
    mk_network_free(a);
}

/* ----- the sync rate limit keyed by the full id --------------------- */

/* The keying before the fix: a hash of the first 4 bytes, 256 slots. */
static unsigned short_hash(const uint8_t *id) {
    unsigned h = 0;
    for (int i = 0; i < 4; i++)
        h = h * 131u + id[i];
    return h % 256;
}

static void test_sync_rate_full_id(void **state) {
    (void)state;
    mk_network *a = tn_new("bounds-rate", NULL, no_sync);
    mk_ed25519_key ka, kb;
    assert_int_equal(mk_ed25519_generate(&ka), 0);
    do
        assert_int_equal(mk_ed25519_generate(&kb), 0);
    while (short_hash(kb.public_key) != short_hash(ka.public_key));
    raw ra, rb;
    raw_open_key(&ra, a, &ka);
    raw_open_key(&rb, a, &kb);
    mk_buf d = MK_BUF_INIT;
    mk_disc_encode_digest(&d, true, NULL, 0);
    mk_network_metrics m0, m1;
    mk_network_metrics_get(a, &m0);
    raw_send(&ra, &d);
    TU_WAIT_UNTIL((mk_network_metrics_get(a, &m1), m1.syncs_answered == m0.syncs_answered + 1),
                  5000, "a's sync answered");
    raw_send(&rb, &d);
    TU_WAIT_UNTIL((mk_network_metrics_get(a, &m1), m1.syncs_answered == m0.syncs_answered + 2),
                  5000, "b's sync answered");
    /* b's request did not reset a's limit, nor the reverse. */
    expect_refusal(a, &ra, &d, MK_REFUSE_RATE_LIMITED);
    expect_refusal(a, &rb, &d, MK_REFUSE_RATE_LIMITED);
    mk_network_metrics_get(a, &m1);
    assert_int_equal(m1.syncs_answered, m0.syncs_answered + 2);
    mk_buf_free(&d);
    raw_free(&rb);
    raw_free(&ra);
    mk_network_free(a);
}

/* A bad tag or network string is refused at creation, not turned into
 * the all-zero id (issue 11: before, "0x" and 64 zeros made a zero tag, a
 * NULL tag crashed). */
static void test_bad_tag_strings(void **state) {
    (void)state;
    static const char zeros[] =
        "0x0000000000000000000000000000000000000000000000000000000000000000";
    const char *cases[][2] = {{"bounds-tags", zeros}, {"bounds-tags", "0x12"},
                              {"bounds-tags", ""},    {zeros, "ok"},
                              {"0xnot-hex", "ok"},    {"bounds-tags", NULL}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mk_network_config cfg;
        mk_network_config_init(&cfg);
        cfg.network = cases[i][0];
        const char *tags[1] = {cases[i][1]};
        cfg.tags = tags;
        cfg.n_tags = 1;
        mk_network *nw = NULL;
        mk_error err;
        mk_error_clear(&err);
        assert_int_equal(mk_network_new(&cfg, &nw, &err), MK_EINVAL);
        assert_null(nw);
        printf("# %s / %s: %s\n", cases[i][0], cases[i][1] ? cases[i][1] : "(null)", err.msg);
    }
}

/* argv[1], when given: run only the tests matching it (cmocka filter). */
int main(int argc, char **argv) {
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_rate_full_id), cmocka_unit_test(test_catalog_flood),
        cmocka_unit_test(test_vouched_evicts),    cmocka_unit_test(test_conn_flood),
        cmocka_unit_test(test_partial_frames),    cmocka_unit_test(test_bad_tag_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
