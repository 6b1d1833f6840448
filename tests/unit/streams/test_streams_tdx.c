/*
 * Streams gated by TDX attestation tickets from the simulator: MRTD and
 * RTMR criteria, variants, TDX and JWT validators together, and a TDX
 * ticket expiring mid-session. The simulator root is trusted explicitly.
 */
#include <pthread.h>

#include "streams_util.h"

#if MOSAIK_HAVE_TDX

static mk_tdx_sim *g_sim;
static mk_tdx_collateral *g_coll;

static int setup(void **state) {
    (void)state;
    mk_error err;
    mk_error_clear(&err);
    if (mk_tdx_sim_new(NULL, &g_sim, &err) < 0) return -1;
    if (mk_tdx_sim_collateral(g_sim, mk_now(), &g_coll, &err) < 0) return -1;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    mk_tdx_collateral_free(g_coll);
    mk_tdx_sim_free(g_sim);
    return 0;
}

static void give_tdx(mk_network *nw, const mk_tdx_sim_td *td, int64_t exp) {
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_provider *prov = NULL;
    assert_int_equal(mk_tdx_provider_sim_new(g_sim, td, &prov, NULL), 0);
    assert_non_null(prov);
    mk_tdx_attester *att = NULL;
    TU_ASSERT_RC(mk_tdx_attester_new(
                     &(mk_tdx_attester_config){.provider = prov, .collateral = g_coll}, &att, &err),
                 0, &err);
    mk_id peer, net;
    mk_network_peer_id(nw, &peer);
    mk_network_id(nw, &net);
    mk_ticket t;
    TU_ASSERT_RC(mk_tdx_attester_ticket_with_expiration(att, &peer, &net, mk_now(), exp, &t, &err),
                 0, &err);
    TU_ASSERT_RC(mk_network_replace_ticket(nw, &t, &err), 0, &err);
    mk_ticket_free(&t);
    mk_tdx_attester_free(att);
    mk_tdx_provider_free(prov);
}

static mk_tdx_validator_opts *base_opts(void) {
    mk_tdx_validator_opts *o = mk_tdx_validator_opts_new();
    assert_non_null(o);
    const uint8_t *root;
    size_t len;
    mk_tdx_sim_root_der(g_sim, &root, &len);
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tdx_validator_opts_trust_simulator(o, root, len, &err), 0, &err);
    mk_tdx_validator_opts_max_lifetime(o, 24 * 3600);
    return o;
}

static mk_validator *make_validator(mk_tdx_validator_opts *o) {
    mk_error err;
    mk_error_clear(&err);
    mk_validator *v = mk_tdx_validator_new(o, &err);
    if (!v) fail_msg("tdx validator: %s", err.msg);
    mk_tdx_validator_opts_free(o);
    return v;
}

typedef struct node {
    mk_network *nw;
    mk_stream_consumer *c;
    st_log log;
} node;

static void node_net(node *n, const char *net, mk_network *boot) {
    st_log_init(&n->log);
    n->nw = st_net(net, boot);
    n->c = NULL;
}

static void node_consume(node *n, const char *stream) {
    mk_stream_consumer_config o;
    mk_stream_consumer_config_init(&o);
    o.on_event = st_on_event;
    o.event_ctx = &n->log;
    o.retry_min_ms = 100;
    o.retry_max_ms = 300;
    mk_error err;
    mk_error_clear(&err);
    o.name = stream;
    TU_ASSERT_RC(mk_stream_consumer_new(n->nw, &o, &n->c, &err), 0, &err);
}

static void node_free(node *n) {
    mk_stream_consumer_free(n->c);
    mk_network_free(n->nw);
}

static bool admitted(node *n) {
    mk_stream_when w = mk_when_subscribed();
    return mk_stream_consumer_wait(n->c, &w, 0) == 0;
}

static void expect_rejected(node *n, const char *substr) {
    ST_WAIT_UNTIL(st_count(&n->log, MK_STREAM_EV_REJECTED) > 0, 10000, "a refusal");
    assert_int_equal(st_reason(&n->log, MK_STREAM_EV_REJECTED), MK_STREAM_R_TICKET);
    pthread_mutex_lock(&n->log.mu);
    if (!strstr(n->log.last_text[MK_STREAM_EV_REJECTED], substr))
        fail_msg("refusal \"%s\" lacks \"%s\"", n->log.last_text[MK_STREAM_EV_REJECTED], substr);
    printf("# refused: %s\n", n->log.last_text[MK_STREAM_EV_REJECTED]);
    pthread_mutex_unlock(&n->log.mu);
    assert_false(admitted(n));
}

static mk_stream_producer *producer(mk_network *nw, const char *stream, mk_validator *v) {
    mk_stream_producer *p = NULL;
    mk_error err;
    mk_error_clear(&err);
    mk_stream_producer_config o;
    mk_stream_producer_config_init(&o);
    o.name = stream;
    TU_ASSERT_RC(mk_stream_producer_new(nw, &o, &p, &err), 0, &err);
    if (v) TU_ASSERT_RC(mk_stream_producer_require(p, v, &err), 0, &err);
    return p;
}

/* MRTD: the expected one is admitted, another refused, none refused. */
static void test_tdx_mrtd(void **state) {
    (void)state;
    mk_network *a = st_net("tdx-mrtd", NULL);
    mk_tdx_sim_td good, other;
    mk_tdx_sim_td_default(&good);
    mk_tdx_sim_td_default(&other);
    mk_sha384("other firmware", 14, other.mr_td);
    mk_tdx_validator_opts *o = base_opts();
    mk_tdx_criteria_require_mrtd(mk_tdx_validator_opts_baseline(o), good.mr_td);
    mk_stream_producer *p = producer(a, "attested", make_validator(o));
    node n[3];
    for (int i = 0; i < 3; i++)
        node_net(&n[i], "tdx-mrtd", a);
    give_tdx(n[0].nw, &good, mk_now() + 600);
    give_tdx(n[1].nw, &other, mk_now() + 600);
    for (int i = 0; i < 3; i++)
        node_consume(&n[i], "attested");
    ST_WAIT_UNTIL(admitted(&n[0]), 10000, "the good node");
    expect_rejected(&n[1], "MRTD mismatch");
    expect_rejected(&n[2], "no ticket");
    /* The producer sends ACCEPT before it counts the channel active (its
     * own loop thread): the consumer may see the admission first. */
    mk_stream_stats ps;
    ST_WAIT_UNTIL((mk_stream_producer_stats(p, &ps), ps.active == 1), 5000, "one active channel");
    for (int i = 0; i < 3; i++)
        node_free(&n[i]);
    mk_stream_producer_free(p);
    mk_network_free(a);
}

/* RTMR baseline plus variants: at least one variant must match. */
static void test_tdx_rtmr_variants(void **state) {
    (void)state;
    mk_network *a = st_net("tdx-rtmr", NULL);
    mk_tdx_sim_td td[3];
    for (int i = 0; i < 3; i++) {
        mk_tdx_sim_td_default(&td[i]);
        mk_sha384("app v1 config", 13, td[i].rtmr[2]);
    }
    mk_sha384("variant A", 9, td[0].rtmr[3]);
    mk_sha384("variant B", 9, td[1].rtmr[3]);
    mk_sha384("variant C", 9, td[2].rtmr[3]);
    mk_tdx_validator_opts *o = base_opts();
    mk_tdx_criteria_require_mrtd(mk_tdx_validator_opts_baseline(o), td[0].mr_td);
    mk_tdx_criteria_require_rtmr(mk_tdx_validator_opts_baseline(o), 2, td[0].rtmr[2]);
    for (int i = 0; i < 2; i++) {
        mk_tdx_criteria v;
        mk_tdx_criteria_init(&v);
        mk_tdx_criteria_require_rtmr(&v, 3, td[i].rtmr[3]);
        assert_int_equal(mk_tdx_validator_opts_add_variant(o, &v), 0);
    }
    mk_stream_producer *p = producer(a, "attested", make_validator(o));
    node n[4];
    for (int i = 0; i < 4; i++)
        node_net(&n[i], "tdx-rtmr", a);
    for (int i = 0; i < 3; i++)
        give_tdx(n[i].nw, &td[i], mk_now() + 600);
    /* n[3]: the right variant but another RTMR2 (baseline fails). */
    mk_tdx_sim_td bad = td[0];
    mk_sha384("app v2 config", 13, bad.rtmr[2]);
    give_tdx(n[3].nw, &bad, mk_now() + 600);
    for (int i = 0; i < 4; i++)
        node_consume(&n[i], "attested");
    ST_WAIT_UNTIL(admitted(&n[0]) && admitted(&n[1]), 10000, "variants A and B");
    expect_rejected(&n[2], "variant");
    expect_rejected(&n[3], "RTMR2");
    for (int i = 0; i < 4; i++)
        node_free(&n[i]);
    mk_stream_producer_free(p);
    mk_network_free(a);
}

/* TDX and JWT together: both tickets are needed. */
static void test_tdx_and_jwt(void **state) {
    (void)state;
    mk_network *a = st_net("tdx-jwt", NULL);
    mk_tdx_sim_td good;
    mk_tdx_sim_td_default(&good);
    mk_tdx_validator_opts *o = base_opts();
    mk_tdx_criteria_require_mrtd(mk_tdx_validator_opts_baseline(o), good.mr_td);
    mk_stream_producer *p = producer(a, "attested", make_validator(o));
    mk_jwt_key *k = st_hs_key(0x33);
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_stream_producer_require(p, st_jwt_validator(k), &err), 0, &err);
    node n;
    node_net(&n, "tdx-jwt", a);
    give_tdx(n.nw, &good, mk_now() + 600);
    node_consume(&n, "attested");
    expect_rejected(&n, "jwt");
    mk_ticket t;
    st_jwt_ticket(n.nw, k, mk_now() + 600, &t);
    TU_ASSERT_RC(mk_network_add_ticket(n.nw, &t, &err), 0, &err);
    mk_ticket_free(&t);
    ST_WAIT_UNTIL(admitted(&n), 10000, "admission with both tickets");
    node_free(&n);
    mk_stream_producer_free(p);
    mk_jwt_key_free(k);
    mk_network_free(a);
}

/* A TDX ticket expiring mid-session cuts the subscription within a second. */
static void test_tdx_expiry(void **state) {
    (void)state;
    mk_network *a = st_net("tdx-exp", NULL);
    mk_tdx_sim_td good;
    mk_tdx_sim_td_default(&good);
    mk_tdx_validator_opts *o = base_opts();
    mk_tdx_criteria_require_mrtd(mk_tdx_validator_opts_baseline(o), good.mr_td);
    mk_stream_producer *p = producer(a, "attested", make_validator(o));
    node n;
    node_net(&n, "tdx-exp", a);
    /* Whole seconds: expires 3-4 s from now, leaving room for admission
     * under sanitizers on a loaded machine (it must precede the expiry). */
    int64_t exp = mk_now() + 4;
    give_tdx(n.nw, &good, exp);
    node_consume(&n, "attested");
    ST_WAIT_UNTIL(admitted(&n), 10000, "admission");
    ST_WAIT_UNTIL(st_count(&n.log, MK_STREAM_EV_DISCONNECTED) > 0, 10000, "the cut-off");
    assert_int_equal(st_reason(&n.log, MK_STREAM_EV_DISCONNECTED), MK_STREAM_R_EXPIRED);
    int64_t late = st_expired_late(&n.log, exp); /* the test's clock */
    printf("# TDX ticket: consumer notified %lld ms after expiry\n", (long long)late);
    assert_true(late >= 0 && late < 1000);
    node_free(&n);
    mk_stream_producer_free(p);
    mk_network_free(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tdx_mrtd),
        cmocka_unit_test(test_tdx_rtmr_variants),
        cmocka_unit_test(test_tdx_and_jwt),
        cmocka_unit_test(test_tdx_expiry),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

#else
int main(void) {
    printf("streams TDX tests: built without TDX support, skipped\n");
    return 77; /* CTest: skipped (tests/test_util.h, "Skips") */
}
#endif
