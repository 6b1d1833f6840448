/*
 * tests/unit/groups/test_groups_attest_tdx.c — members of a group gated by
 * a TDX validator, each attested with mk_network_attest (mosaik/attest.h),
 * keep their bonds and their membership across several renewals of their
 * tickets: no bond expires, the configuration stays at three members, and
 * commands still commit afterwards.
 *
 * Real time (bonds expire on the members' own clocks): tickets of 4 s
 * renewed at 50 % (no jitter); three renewals of every member take about
 * 6 s, by which time every member's first two tickets have expired — the
 * moments a missed renewal would have ended a bond. Then one member stops
 * renewing and loses its membership once its ticket lapsed (the control).
 * The simulator root is trusted explicitly.
 */
#include "groups_util.h"

#if MOSAIK_HAVE_TDX

#define LIFETIME 4
#define N 3

typedef struct anode {
    mk_network *nw;
    mk_group *g;
    tg_counter c;
    char *dir;
    mk_id id;
    mk_attestation *at;
} anode;

static void an_join(anode *n, const mk_validator_set *vs, bool boot) {
    mk_group_config cfg;
    mk_group_config_init(&cfg);
    mk_group_key_from_validators(vs, &cfg.key);
    mk_id_from_name(&cfg.sm_signature, "test.counter.v1");
    mk_group_sm sm = tg_counter_sm(&n->c);
    cfg.sm = &sm;
    cfg.validators = vs;
    cfg.data_dir = n->dir;
    cfg.bootstrap = boot;
    cfg.election_ms = 300;
    cfg.heartbeat_ms = 50;
    cfg.tick_ms = 50;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(tg_join(n->nw, &cfg, &n->g, &err), 0, &err);
}

static uint64_t renewals(anode *n) {
    mk_attestation_status st;
    mk_attestation_status_get(n->at, &st);
    assert_int_equal(st.failures, 0);
    return st.renewals;
}

static bool all_renewed(anode *n, uint64_t k) {
    for (int i = 0; i < N; i++)
        if (renewals(&n[i]) < k) return false;
    return true;
}

static void test_membership_across_renewals(void **state) {
    (void)state;
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_sim *sim;
    TU_ASSERT_RC(mk_tdx_sim_new(NULL, &sim, &err), 0, &err);
    mk_tee_provider *prov = NULL;
    TU_ASSERT_RC(mk_tdx_provider_sim_new(sim, NULL, &prov, &err), 0, &err);
    mk_buf coll = MK_BUF_INIT;
    TU_ASSERT_RC(mk_tdx_sim_collateral_json(sim, mk_now(), &coll, &err), 0, &err);

    const uint8_t *root;
    size_t root_len;
    mk_tdx_sim_root_der(sim, &root, &root_len);
    mk_tdx_validator_opts *o = mk_tdx_validator_opts_new();
    TU_ASSERT_RC(mk_tdx_validator_opts_trust_simulator(o, root, root_len, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_validator_opts_require_own_mrtd(o, prov, &err), 0, &err);
    mk_validator *v = mk_tdx_validator_new(o, &err);
    assert_non_null(v);
    mk_tdx_validator_opts_free(o);
    mk_validator_set vs;
    mk_validator_set_init(&vs);
    assert_int_equal(mk_validator_set_add(&vs, v), 0);

    mk_attestation_opts ao;
    mk_attestation_opts_init(&ao);
    ao.endorsements = coll.data;
    ao.endorsements_len = coll.len;
    ao.lifetime = LIFETIME;
    ao.renew_percent = 50;
    ao.jitter_percent = 0;
    ao.check_ms = 20;
    static anode n[N];
    memset(n, 0, sizeof n);
    for (int i = 0; i < N; i++) {
        n[i].nw = tg_net("groups-attest", i ? n[0].nw : NULL);
        mk_network_peer_id(n[i].nw, &n[i].id);
        n[i].dir = tg_tmpdir("at");
        TU_ASSERT_RC(mk_network_attest(n[i].nw, prov, &ao, &n[i].at, &err), 0, &err);
    }
    int64_t first_expiry = mk_now() + LIFETIME;
    for (int i = 0; i < N; i++)
        an_join(&n[i], &vs, i == 0);
    TG_WAIT(mk_group_wait(n[0].g, MK_GROUP_MEMBERS, N, 0) == 0, 15000, "three members");
    if (mk_group_wait(n[1].g, MK_GROUP_ONLINE, 0, 15000) != 0) fail_msg("member 1 not online");
    assert_int_equal(tg_add(n[1].g, 2, 5000), 2);

    /* Three renewals each: the first tickets have expired meanwhile. */
    TG_WAIT(all_renewed(n, 3), 30000, "three renewals of every member");
    /* Renewals at 50 %: the third lands a half lifetime after the first
     * tickets expired; whole seconds, so only "expired" is exact. */
    assert_true(mk_now() >= first_expiry);
    for (int i = 0; i < N; i++) {
        mk_group_status s;
        mk_group_status_get(n[i].g, &s);
        printf("# member %d: %llu renewals, %u members, %u bonds, %llu bonds expired\n", i,
               (unsigned long long)renewals(&n[i]), s.members, s.bonds,
               (unsigned long long)s.bonds_expired);
        assert_int_equal(s.bonds_expired, 0);
        assert_int_equal(s.bonds_refused, 0);
    }
    mk_group_status s0;
    mk_group_status_get(n[0].g, &s0);
    assert_int_equal(s0.members, N);
    for (int i = 1; i < N; i++)
        assert_true(mk_group_bonded(n[0].g, &n[i].id));
    if (mk_group_wait(n[2].g, MK_GROUP_ONLINE, 0, 15000) != 0) fail_msg("member 2 not online");
    assert_int_equal(tg_add(n[2].g, 3, 5000), 5);

    /* The control: member 2 stops renewing; once its ticket expired its
     * bonds close and the leader removes it. */
    assert_int_equal(mk_attestation_stop(n[2].at), 0);
    TG_WAIT(!mk_group_bonded(n[0].g, &n[2].id) &&
                mk_group_wait(n[0].g, MK_GROUP_MEMBERS, N, 0) != 0,
            15000, "member 2's lapsed ticket to end its membership");
    mk_attestation_status st;
    mk_attestation_status_get(n[2].at, &st);
    assert_true(mk_now() >= st.expires);
    mk_group_status_get(n[0].g, &s0);
    assert_true(s0.bonds_expired >= 1);

    for (int i = N - 1; i >= 0; i--) {
        tg_group_free(n[i].g);
        mk_attestation_free(n[i].at);
        tg_net_free(n[i].nw);
        tg_dir_free(n[i].dir);
    }
    mk_validator_set_free(&vs);
    mk_buf_free(&coll);
    mk_tee_provider_free(prov);
    mk_tdx_sim_free(sim);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_membership_across_renewals, tg_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#else
int main(void) {
    printf("groups attestation test: built without TDX support, skipped\n");
    return 77; /* CTest: skipped (tests/test_util.h, "Skips") */
}
#endif
