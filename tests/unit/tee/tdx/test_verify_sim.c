/*
 * test_verify_sim.c — the verifier on the simulator: its quotes verified under its trusted root,
 * status names, the warm path, concurrent verifications.
 *
 * Helpers and fixtures are in verify_util.h.
 */
#include "verify_util.h"

static void test_simulator(void **state) {
    (void)state;
    mk_error err;
    mk_tdx_sim *sim = NULL;
    TU_ASSERT_RC(mk_tdx_sim_new(&(mk_tdx_sim_config){.now = sim_now()}, &sim, &err), 0, &err);
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    mk_buf q;
    sim_quote(sim, &td, &q);
    mk_tdx_verifier *v = chain_only_verifier();
    mk_tdx_result r;

    /* Not trusted by default, with a reason that says what to do. */
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, NULL, sim_now(), &r, &err), MK_EUNTRUSTED, &err);
    TU_ASSERT_REASON(&err, "PCK chain: ");
    TU_ASSERT_REASON(&err, "simulator root is not trusted; pass --trust-sim-root / "
                           "mk_tdx_verifier_trust_simulator");
    const uint8_t *rder;
    size_t rlen;
    mk_tdx_sim_root_der(sim, &rder, &rlen);
    TU_ASSERT_RC(mk_tdx_verifier_trust_simulator(v, rder, rlen, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, NULL, sim_now(), &r, &err), 0, &err);
    assert_true(r.simulated);
    assert_int_equal(r.pck_ca, MK_TDX_CA_PLATFORM);

    /* With the simulator's collateral: full verification. */
    mk_tdx_collateral *c = NULL;
    TU_ASSERT_RC(mk_tdx_sim_collateral(sim, sim_now(), &c, &err), 0, &err);
    mk_tdx_policy p;
    mk_tdx_policy_default(&p);
    mk_tdx_verifier_set_policy(v, &p);
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, c, sim_now(), &r, &err), 0, &err);
    assert_true(r.collateral_checked);
    assert_int_equal(r.tcb_status, MK_TDX_TCB_UP_TO_DATE);
    assert_true(r.valid_until <= sim_now() + 30 * 86400);
    assert_true(r.valid_until > sim_now());
    /* Intel collateral does not vouch for a simulated platform. */
    mk_buf cj;
    load("tdx/phala-v4/collateral.json", &cj);
    mk_tdx_collateral *ic = NULL;
    TU_ASSERT_RC(mk_tdx_collateral_from_bundle((const char *)cj.data, cj.len, &ic, &err), 0, &err);
    assert_true(mk_tdx_verify(v, q.data, q.len, ic, sim_now(), &r, &err) < 0);
    TU_ASSERT_REASON(&err, "collateral: ");
    mk_tdx_collateral_free(ic);
    mk_buf_free(&cj);

    /* Debug TD: refused unless allowed. */
    mk_tdx_sim_td dbg = td;
    dbg.td_attributes |= MK_TDX_ATTR_DEBUG;
    mk_buf qd;
    sim_quote(sim, &dbg, &qd);
    TU_ASSERT_RC(mk_tdx_verify(v, qd.data, qd.len, c, sim_now(), &r, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "policy: debug TD refused");
    assert_true(r.debug);
    p.allow_debug = true;
    mk_tdx_verifier_set_policy(v, &p);
    TU_ASSERT_RC(mk_tdx_verify(v, qd.data, qd.len, c, sim_now(), &r, &err), 0, &err);
    assert_true(r.debug);
    mk_buf_free(&qd);
    mk_tdx_policy_default(&p);

    /* Reserved attribute bits. */
    mk_tdx_sim_td res = td;
    res.td_attributes |= 1ull << 40;
    sim_quote(sim, &res, &qd);
    mk_tdx_verifier_set_policy(v, &p);
    TU_ASSERT_RC(mk_tdx_verify(v, qd.data, qd.len, c, sim_now(), &r, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "policy: reserved TD attribute bits 0x0000010000000000");
    p.allow_reserved_attributes = true;
    mk_tdx_verifier_set_policy(v, &p);
    TU_ASSERT_RC(mk_tdx_verify(v, qd.data, qd.len, c, sim_now(), &r, &err), 0, &err);
    mk_buf_free(&qd);
    mk_tdx_policy_default(&p);

    /* SEPT_VE_DISABLE required. */
    mk_tdx_sim_td nosept = td;
    nosept.td_attributes &= ~MK_TDX_ATTR_SEPT_VE_DISABLE;
    sim_quote(sim, &nosept, &qd);
    p.require_sept_ve_disable = true;
    mk_tdx_verifier_set_policy(v, &p);
    TU_ASSERT_RC(mk_tdx_verify(v, qd.data, qd.len, c, sim_now(), &r, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "SEPT_VE_DISABLE");
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, c, sim_now(), &r, &err), 0, &err);
    mk_buf_free(&qd);

    /* XFAM and MR values. */
    p.check_xfam = true;
    p.xfam = td.xfam;
    p.check_mr_owner = true;
    memset(p.mr_owner, 0, 48);
    mk_tdx_verifier_set_policy(v, &p);
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, c, sim_now(), &r, &err), 0, &err);
    p.xfam ^= 1;
    mk_tdx_verifier_set_policy(v, &p);
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, c, sim_now(), &r, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "policy: XFAM");
    p.xfam ^= 1;
    p.check_mr_config_id = true;
    p.mr_config_id[0] = 1;
    mk_tdx_verifier_set_policy(v, &p);
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, c, sim_now(), &r, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "policy: MRCONFIGID");
    p.check_mr_config_id = false;
    p.check_mr_owner_config = true;
    p.mr_owner_config[47] = 1;
    mk_tdx_verifier_set_policy(v, &p);
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, c, sim_now(), &r, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "policy: MROWNERCONFIG");
    mk_tdx_policy_default(&p);

    /* v5 with a TD 1.5 body and an MRSERVICETD requirement. */
    mk_tdx_sim_td td15 = td;
    td15.quote_version = 5;
    td15.body_type = MK_TDX_BODY_TD15;
    td15.mr_service_td[0] = 0xaa;
    sim_quote(sim, &td15, &qd);
    p.check_mr_service_td = true;
    p.mr_service_td[0] = 0xaa;
    mk_tdx_verifier_set_policy(v, &p);
    TU_ASSERT_RC(mk_tdx_verify(v, qd.data, qd.len, c, sim_now(), &r, &err), 0, &err);
    assert_int_equal(r.quote_version, 5);
    assert_int_equal(r.body_type, MK_TDX_BODY_TD15);
    p.mr_service_td[0] = 0xab;
    mk_tdx_verifier_set_policy(v, &p);
    TU_ASSERT_RC(mk_tdx_verify(v, qd.data, qd.len, c, sim_now(), &r, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "policy: MRSERVICETD");
    mk_buf_free(&qd);
    mk_tdx_policy_default(&p);
    mk_tdx_verifier_set_policy(v, &p);

    /* An OutOfDate module is refused by the default policy, accepted when
     * the policy allows it. */
    mk_tdx_sim_td old = td;
    old.tee_tcb_svn[0] = 2; /* module isvsvn 2: OutOfDate */
    sim_quote(sim, &old, &qd);
    int rc = mk_tdx_verify(v, qd.data, qd.len, c, sim_now(), &r, &err);
    if (rc == MK_EPOLICY) {
        TU_ASSERT_REASON(&err, "policy: TCB status OutOfDate is not accepted");
        p.accepted_statuses |= MK_TDX_TCB_BIT(MK_TDX_TCB_OUT_OF_DATE);
        mk_tdx_verifier_set_policy(v, &p);
        TU_ASSERT_RC(mk_tdx_verify(v, qd.data, qd.len, c, sim_now(), &r, &err), 0, &err);
        assert_int_equal(r.tcb_status, MK_TDX_TCB_OUT_OF_DATE);
    } else {
        fail_msg("OutOfDate module: got %s: %s", mk_strerror(rc), err.msg);
    }
    mk_buf_free(&qd);

    /* Expired collateral. */
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, c, sim_now() + 31 * 86400, &r, &err), MK_EEXPIRED,
                 &err);
    TU_ASSERT_REASON(&err, "collateral: ");

    mk_tdx_collateral_free(c);
    mk_buf_free(&q);
    mk_tdx_verifier_free(v);
    mk_tdx_sim_free(sim);
}

static void test_status_names(void **state) {
    (void)state;
    for (int i = 0; i < MK_TDX_TCB_STATUS_COUNT; i++) {
        mk_tdx_tcb_status s;
        assert_int_equal(mk_tdx_tcb_status_parse(mk_tdx_tcb_status_name((mk_tdx_tcb_status)i), &s),
                         0);
        assert_int_equal(s, i);
    }
    assert_string_equal(mk_tdx_tcb_status_name(MK_TDX_TCB_UP_TO_DATE), "UpToDate");
    assert_string_equal(mk_tdx_tcb_status_name(MK_TDX_TCB_TD_RELAUNCH_ADVISED),
                        "TDRelaunchAdvised");
    assert_string_equal(mk_tdx_tcb_status_name(MK_TDX_TCB_UNKNOWN), "Unknown");
    mk_tdx_tcb_status s;
    assert_true(mk_tdx_tcb_status_parse("Bogus", &s) < 0);
}

/* Warm verification against the two unavoidable ECDSA verifications. Only
 * reported (timing is not asserted: CI machines are noisy), but the warm
 * path must at least be much cheaper than the cold one. */
static void test_warm_cost(void **state) {
    (void)state;
    mk_buf b;
    load("tdx/phala-v4/quote.bin", &b);
    mk_tdx_quote q;
    mk_error err;
    TU_ASSERT_RC(mk_tdx_quote_parse(b.data, b.len, &q, &err), 0, &err);
    mk_pubkey *att = NULL;
    TU_ASSERT_RC(mk_pubkey_from_ec(MK_P256, q.attestation_key, 64, &att, &err), 0, &err);
    mk_tee_trust *t = mk_tdx_trust_new();
    mk_tee_chain ch;
    TU_ASSERT_RC(mk_tee_chain_verify_pem(t, (const char *)q.pck_chain_pem, q.pck_chain_len, T_PHALA,
                                         &ch, &err),
                 0, &err);
    mk_pubkey *pck = NULL;
    TU_ASSERT_RC(mk_pubkey_from_evp(ch.leaf_key, &pck), 0, &err);
    const int n = 200;
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        assert_int_equal(
            mk_ecdsa_verify_raw(att, MK_SHA256, q.signed_data, q.signed_len, q.signature, 64, NULL),
            0);
        assert_int_equal(mk_ecdsa_verify_raw(pck, MK_SHA256, q.qe_report_raw, 384,
                                             q.qe_report_signature, 64, NULL),
                         0);
    }
    double base = (now_s() - t0) / n;

    mk_tdx_verifier *v = chain_only_verifier();
    t0 = now_s();
    TU_ASSERT_RC(mk_tdx_verify(v, b.data, b.len, NULL, T_PHALA, NULL, &err), 0, &err);
    double cold = now_s() - t0;
    t0 = now_s();
    for (int i = 0; i < n; i++)
        TU_ASSERT_RC(mk_tdx_verify(v, b.data, b.len, NULL, T_PHALA, NULL, &err), 0, &err);
    double warm = (now_s() - t0) / n;
    print_message("two ECDSA verifications %.1f us; cold verify %.1f us; warm verify %.1f us "
                  "(%.2fx)\n",
                  base * 1e6, cold * 1e6, warm * 1e6, warm / base);
    assert_true(warm < cold);
    mk_tdx_verifier_free(v);
    mk_pubkey_free(pck);
    mk_pubkey_free(att);
    mk_tee_chain_free(&ch);
    mk_tee_trust_free(t);
    mk_buf_free(&b);
}

static void test_threads(void **state) {
    (void)state;
    mk_tdx_verifier *v = chain_only_verifier();
    mk_buf q1, q2;
    load("tdx/phala-v4/quote.bin", &q1);
    load("tdx/google-spr-v4/quote.bin", &q2);
    thr_arg args[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (thr_arg){v, {&q1, &q2}, {T_PHALA, T_SPR}, 0};
        assert_int_equal(pthread_create(&th[i], NULL, thr_main, &args[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    mk_buf_free(&q1);
    mk_buf_free(&q2);
    mk_tdx_verifier_free(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simulator),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_warm_cost),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
