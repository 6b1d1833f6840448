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
    mk_stream_producer *p = st_producer_requiring(a, "attested", make_validator(o));
    st_node n[3];
    for (int i = 0; i < 3; i++)
        st_node_net(&n[i], "tdx-mrtd", a);
    give_tdx(n[0].nw, &good, mk_now() + 600);
    give_tdx(n[1].nw, &other, mk_now() + 600);
    for (int i = 0; i < 3; i++)
        st_node_consume(&n[i], "attested");
    ST_WAIT_UNTIL(st_node_admitted(&n[0]), 10000, "the good node");
    st_node_expect_rejected(&n[1], "MRTD mismatch");
    st_node_expect_rejected(&n[2], "no ticket");
    /* The producer sends ACCEPT before it counts the channel active (its
     * own loop thread): the consumer may see the admission first. */
    mk_stream_stats ps;
    ST_WAIT_UNTIL((mk_stream_producer_stats(p, &ps), ps.active == 1), 5000, "one active channel");
    for (int i = 0; i < 3; i++)
        st_node_free(&n[i]);
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
    mk_stream_producer *p = st_producer_requiring(a, "attested", make_validator(o));
    st_node n[4];
    for (int i = 0; i < 4; i++)
        st_node_net(&n[i], "tdx-rtmr", a);
    for (int i = 0; i < 3; i++)
        give_tdx(n[i].nw, &td[i], mk_now() + 600);
    /* n[3]: the right variant but another RTMR2 (baseline fails). */
    mk_tdx_sim_td bad = td[0];
    mk_sha384("app v2 config", 13, bad.rtmr[2]);
    give_tdx(n[3].nw, &bad, mk_now() + 600);
    for (int i = 0; i < 4; i++)
        st_node_consume(&n[i], "attested");
    ST_WAIT_UNTIL(st_node_admitted(&n[0]) && st_node_admitted(&n[1]), 10000, "variants A and B");
    st_node_expect_rejected(&n[2], "variant");
    st_node_expect_rejected(&n[3], "RTMR2");
    for (int i = 0; i < 4; i++)
        st_node_free(&n[i]);
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
    mk_stream_producer *p = st_producer_requiring(a, "attested", make_validator(o));
    mk_jwt_key *k = st_hs_key(0x33);
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_stream_producer_require(p, st_jwt_validator(k), &err), 0, &err);
    st_node n;
    st_node_net(&n, "tdx-jwt", a);
    give_tdx(n.nw, &good, mk_now() + 600);
    st_node_consume(&n, "attested");
    st_node_expect_rejected(&n, "jwt");
    mk_ticket t;
    st_jwt_ticket(n.nw, k, mk_now() + 600, &t);
    TU_ASSERT_RC(mk_network_add_ticket(n.nw, &t, &err), 0, &err);
    mk_ticket_free(&t);
    ST_WAIT_UNTIL(st_node_admitted(&n), 10000, "admission with both tickets");
    st_node_free(&n);
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
    mk_stream_producer *p = st_producer_requiring(a, "attested", make_validator(o));
    st_node n;
    st_node_net(&n, "tdx-exp", a);
    /* Whole seconds: expires 3-4 s from now, leaving room for admission
     * under sanitizers on a loaded machine (it must precede the expiry). */
    int64_t exp = mk_now() + 4;
    give_tdx(n.nw, &good, exp);
    st_node_consume(&n, "attested");
    ST_WAIT_UNTIL(st_node_admitted(&n), 10000, "admission");
    ST_WAIT_UNTIL(st_count(&n.log, MK_STREAM_EV_DISCONNECTED) > 0, 10000, "the cut-off");
    assert_int_equal(st_reason(&n.log, MK_STREAM_EV_DISCONNECTED), MK_STREAM_R_EXPIRED);
    int64_t late = st_expired_late(&n.log, exp); /* the test's clock */
    printf("# TDX ticket: consumer notified %lld ms after expiry\n", (long long)late);
    assert_true(late >= 0 && late < 1000);
    st_node_free(&n);
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
