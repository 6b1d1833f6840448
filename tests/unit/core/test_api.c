/*
 * test_api.c — the public API's shape (docs/decisions.md, "Public API
 * shape"): the library's runtime version and features, and constructors
 * taking a config struct: defaults from _config_init, and the misuses a
 * config makes possible refused (a declaration's fields given twice).
 * The exported-symbol check is the CTest api_exports.
 */
#include <stdio.h>

#include "test_util.h"

static void test_version(void **state) {
    (void)state;
    assert_string_equal(mk_version(), MOSAIK_VERSION);
    unsigned major = 99, minor = 99, patch = 99;
    char end = 0;
    assert_int_equal(sscanf(mk_version(), "%u.%u.%u%c", &major, &minor, &patch, &end), 3);
    assert_int_equal(major, MOSAIK_VERSION_MAJOR);
    assert_int_equal(minor, MOSAIK_VERSION_MINOR);
}

static void test_features(void **state) {
    (void)state;
    unsigned f = mk_features();
    assert_int_equal(!!(f & MK_FEATURE_TEE), MOSAIK_HAVE_TEE);
    assert_int_equal(!!(f & MK_FEATURE_TDX), MOSAIK_HAVE_TDX);
    assert_int_equal(!!(f & MK_FEATURE_TDX_BUILDER), MOSAIK_HAVE_TDX_BUILDER);
    assert_int_equal(!!(f & MK_FEATURE_SNP), MOSAIK_HAVE_SNP);
    assert_int_equal(
        f & ~(MK_FEATURE_TEE | MK_FEATURE_TDX | MK_FEATURE_TDX_BUILDER | MK_FEATURE_SNP), 0);
    /* A feature needs the ones below it. */
    if (f & MK_FEATURE_TDX_BUILDER) assert_true(f & MK_FEATURE_TDX);
    if (f & MK_FEATURE_TDX) assert_true(f & MK_FEATURE_TEE);
    if (f & MK_FEATURE_SNP) assert_true(f & MK_FEATURE_TEE);
}

MK_STREAM_DEF(TICKS, "ticks", NULL, MK_REQUIRE_NOTHING, MK_REQUIRE_NOTHING);

/* Refused before the network is touched, so no network is needed. */
static void test_stream_configs(void **state) {
    (void)state;
    mk_error err;
    mk_stream_producer *p = (mk_stream_producer *)&err;
    mk_stream_consumer *c = (mk_stream_consumer *)&err;
    mk_error_clear(&err);
    assert_int_equal(mk_stream_producer_new(NULL, NULL, &p, &err), MK_EINVAL);
    assert_null(p);
    assert_int_equal(mk_stream_consumer_new(NULL, NULL, &c, &err), MK_EINVAL);
    assert_null(c);

    mk_stream_producer_config pc;
    mk_stream_producer_config_init(&pc);
    assert_null(pc.name);
    assert_int_equal(pc.max_consumers, MK_STREAM_DEFAULT_MAX_CONSUMERS);
    assert_int_equal(pc.max_lag, MK_STREAM_DEFAULT_MAX_LAG);
    assert_int_equal(pc.lag_policy, MK_STREAM_LAG_DISCONNECT);
    pc.name = "other";
    assert_int_equal(mk_stream_producer_new_from_def(NULL, &TICKS, &pc, &p, &err), MK_EINVAL);
    TU_ASSERT_REASON(&err, "come from the declaration");
    assert_null(p);
    static const char *const tags[] = {"t"};
    mk_stream_producer_config_init(&pc);
    pc.requirements.tags = tags;
    pc.requirements.n_tags = 1;
    assert_int_equal(mk_stream_producer_new_from_def(NULL, &TICKS, &pc, &p, &err), MK_EINVAL);

    mk_stream_consumer_config cc;
    mk_stream_consumer_config_init(&cc);
    assert_null(cc.name);
    assert_int_equal(cc.window, MK_STREAM_DEFAULT_WINDOW);
    assert_int_equal(cc.max_producers, MK_STREAM_DEFAULT_MAX_PRODUCERS);
    cc.name = "ticks";
    assert_int_equal(mk_stream_consumer_new_from_def(NULL, &TICKS, &cc, &c, &err), MK_EINVAL);
    assert_null(c);
}

MK_COLLECTION_DEF(SCORES, "scores", MK_COLL_PQ, 10, MK_NO_TICKET);

static void test_collection_config(void **state) {
    (void)state;
    mk_error err;
    mk_error_clear(&err);
    mk_collection *c = (mk_collection *)&err;
    mk_collection_config cfg;
    mk_collection_config_init(&cfg);
    assert_int_equal(cfg.role, MK_GROUP_WRITER);
    cfg.data_dir = "/nonexistent";
    cfg.kind = MK_COLL_MAP; /* the declaration says PQ */
    assert_int_equal(mk_collection_new_from_def(NULL, &SCORES, &cfg, &c, &err), MK_EINVAL);
    TU_ASSERT_REASON(&err, "come from the declaration");
    assert_null(c);
    assert_int_equal(mk_collection_new_from_def(NULL, &SCORES, NULL, &c, &err), MK_EINVAL);
}

#if MOSAIK_HAVE_TDX
#define T0 INT64_C(1750000000)

/* The verifier's config: the policy and a simulator root given at
 * creation act like the setters. */
static void test_tdx_verifier_config(void **state) {
    (void)state;
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_sim *sim = NULL;
    TU_ASSERT_RC(mk_tdx_sim_new(&(mk_tdx_sim_config){.now = T0}, &sim, &err), 0, &err);
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    uint8_t rd[MK_TDX_REPORT_DATA_LEN] = {1};
    mk_buf q = MK_BUF_INIT;
    TU_ASSERT_RC(mk_tdx_sim_quote(sim, &td, rd, &q, &err), 0, &err);

    mk_tdx_verifier_config vc;
    mk_tdx_verifier_config_init(&vc);
    mk_tdx_policy def;
    mk_tdx_policy_default(&def);
    assert_memory_equal(&vc.policy, &def, sizeof def);
    assert_null(vc.simulator_root_der);
    assert_null(vc.fetch);
    vc.policy.chain_only = true;

    mk_tdx_verifier *plain = NULL, *trusting = NULL;
    TU_ASSERT_RC(mk_tdx_verifier_new(&vc, &plain, &err), 0, &err);
    mk_tdx_sim_root_der(sim, &vc.simulator_root_der, &vc.simulator_root_len);
    TU_ASSERT_RC(mk_tdx_verifier_new(&vc, &trusting, &err), 0, &err);
    mk_tdx_policy got;
    mk_tdx_verifier_get_policy(trusting, &got);
    assert_true(got.chain_only);

    mk_tdx_result res;
    TU_ASSERT_RC(mk_tdx_verify(plain, q.data, q.len, NULL, T0 + 60, &res, &err), MK_EUNTRUSTED,
                 &err);
    TU_ASSERT_RC(mk_tdx_verify(trusting, q.data, q.len, NULL, T0 + 60, &res, &err), 0, &err);
    assert_true(res.simulated);

    /* A fetcher without a base URL is refused at creation. */
    mk_tdx_fetch_opts bad = {0};
    vc.fetch = &bad;
    mk_tdx_verifier *none = (mk_tdx_verifier *)&err;
    assert_int_equal(mk_tdx_verifier_new(&vc, &none, &err), MK_EINVAL);
    assert_null(none);

    mk_tdx_verifier_free(plain);
    mk_tdx_verifier_free(trusting);
    mk_buf_free(&q);
    mk_tdx_sim_free(sim);
}

/* The attester's config: the provider is required, the lifetime is the
 * tickets' (0: the default). */
static void test_tdx_attester_config(void **state) {
    (void)state;
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_attester_config ac;
    mk_tdx_attester_config_init(&ac);
    assert_int_equal(ac.lifetime, MK_TDX_TICKET_DEFAULT_LIFETIME);
    mk_tdx_attester *a = (mk_tdx_attester *)&err;
    assert_int_equal(mk_tdx_attester_new(&ac, &a, &err), MK_EINVAL);
    assert_null(a);

    mk_tdx_sim *sim = NULL;
    TU_ASSERT_RC(mk_tdx_sim_new(NULL, &sim, &err), 0, &err);
    mk_tdx_provider *prov = NULL;
    TU_ASSERT_RC(mk_tdx_provider_sim_new(sim, NULL, &prov, &err), 0, &err);
    assert_true(mk_tdx_provider_is_simulated(prov));
    mk_id peer, net;
    mk_id_from_name(&peer, "peer");
    mk_id_from_name(&net, "net");
    int64_t lifetimes[2] = {0, 60}, want[2] = {MK_TDX_TICKET_DEFAULT_LIFETIME, 60};
    for (int i = 0; i < 2; i++) {
        ac.provider = prov;
        ac.lifetime = lifetimes[i];
        TU_ASSERT_RC(mk_tdx_attester_new(&ac, &a, &err), 0, &err);
        mk_ticket t;
        TU_ASSERT_RC(mk_tdx_attester_ticket(a, &peer, &net, mk_now(), &t, &err), 0, &err);
        mk_tdx_ticket tt;
        TU_ASSERT_RC(mk_tdx_ticket_from_generic(&t, &tt, &err), 0, &err);
        assert_int_equal(tt.extra.expiration - tt.extra.quoted_at, want[i]);
        mk_tdx_ticket_free(&tt);
        mk_ticket_free(&t);
        mk_tdx_attester_free(a);
    }
    mk_tdx_provider_free(prov);
    mk_tdx_sim_free(sim);
}
#endif

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_features),
        cmocka_unit_test(test_stream_configs),
        cmocka_unit_test(test_collection_config),
#if MOSAIK_HAVE_TDX
        cmocka_unit_test(test_tdx_verifier_config),
        cmocka_unit_test(test_tdx_attester_config),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
