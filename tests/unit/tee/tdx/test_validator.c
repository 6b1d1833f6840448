/*
 * test_validator.c — the TDX validator and the attester, end to end with
 * the simulator: a simulated TD makes tickets, validators configured in
 * different ways admit or refuse them with precise reasons.
 */
#include "test_util.h"

#include "mosaik/tdx_provider.h"
#include "mosaik/tdx_ticket.h"

#define NOW 1750000000

typedef struct fixture {
    mk_tdx_sim *sim;
    const uint8_t *root;
    size_t root_len;
    mk_tdx_collateral *coll;
    mk_fake_clock fc;
    mk_id peer, network;
} fixture;

static fixture F;

static int setup(void **state) {
    (void)state;
    mk_error err;
    mk_error_clear(&err);
    if (mk_tdx_sim_new(&(mk_tdx_sim_config){.now = NOW - 86400}, &F.sim, &err) < 0) {
        fprintf(stderr, "sim: %s\n", err.msg);
        return -1;
    }
    mk_tdx_sim_root_der(F.sim, &F.root, &F.root_len);
    if (mk_tdx_sim_collateral(F.sim, NOW - 60, &F.coll, &err) < 0) {
        fprintf(stderr, "sim collateral: %s\n", err.msg);
        return -1;
    }
    mk_fake_clock_init(&F.fc, NOW);
    mk_clock_set(&F.fc.clock);
    mk_id_from_name(&F.peer, "peer A");
    mk_id_from_name(&F.network, "net");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    mk_clock_set(NULL);
    mk_tdx_collateral_free(F.coll);
    mk_tdx_sim_free(F.sim);
    return 0;
}

/* A ticket from a simulated TD (with collateral embedded unless told not to). */
static void make_ticket(const mk_tdx_sim_td *td, bool embed, mk_expiration exp, mk_ticket *out) {
    mk_tdx_provider *p = NULL;
    assert_int_equal(mk_tdx_provider_sim_new(F.sim, td, &p, NULL), 0);
    assert_non_null(p);
    mk_tdx_attester *a;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tdx_attester_new(
                     &(mk_tdx_attester_config){.provider = p, .collateral = embed ? F.coll : NULL},
                     &a, &err),
                 0, &err);
    if (exp == 0)
        TU_ASSERT_RC(mk_tdx_attester_ticket(a, &F.peer, &F.network, NOW - 10, out, &err), 0, &err);
    else
        TU_ASSERT_RC(mk_tdx_attester_ticket_with_expiration(a, &F.peer, &F.network, NOW - 10, exp,
                                                            out, &err),
                     0, &err);
    mk_tdx_attester_free(a);
    mk_tdx_provider_free(p);
}

static mk_tdx_validator_opts *trusting_opts(void) {
    mk_tdx_validator_opts *o = mk_tdx_validator_opts_new();
    assert_non_null(o);
    assert_int_equal(mk_tdx_validator_opts_trust_simulator(o, F.root, F.root_len, NULL), 0);
    return o;
}

static int run(mk_tdx_validator_opts *o, const mk_ticket *t, int64_t now, mk_expiration *exp,
               mk_error *err) {
    mk_validator *v = mk_tdx_validator_new(o, err);
    if (!v) fail_msg("validator: %s", err->msg);
    mk_peer_view pv = {F.peer, F.network, t, 1};
    mk_expiration e = 0;
    mk_error_clear(err);
    int rc = mk_validator_check(v, &pv, now, &e, err);
    if (exp) *exp = e;
    mk_validator_free(v);
    return rc;
}

static void test_admitted_matching_mrtd(void **state) {
    (void)state;
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    mk_ticket t;
    make_ticket(&td, true, 0, &t);
    mk_tdx_validator_opts *o = trusting_opts();
    mk_tdx_criteria_require_mrtd(mk_tdx_validator_opts_baseline(o), td.mr_td);
    mk_error err;
    mk_expiration e;
    TU_ASSERT_RC(run(o, &t, NOW, &e, &err), 0, &err);
    /* Default lifetime: one hour after quoting (collateral lasts longer). */
    assert_int_equal(e, NOW + MK_TDX_TICKET_DEFAULT_LIFETIME);

    /* The verification result is available through validate_ex. */
    mk_validator *v = mk_tdx_validator_new(o, &err);
    mk_peer_view pv = {F.peer, F.network, &t, 1};
    mk_tdx_result res;
    TU_ASSERT_RC(mk_tdx_validator_validate_ex(v, t.data, t.len, &pv, NOW, &e, &res, &err), 0, &err);
    assert_true(res.simulated);
    assert_int_equal(res.tcb_status, MK_TDX_TCB_UP_TO_DATE);
    /* Warm: the same validator again (cached collateral). */
    TU_ASSERT_RC(mk_tdx_validator_validate_ex(v, t.data, t.len, &pv, NOW + 1, &e, &res, &err), 0,
                 &err);
    mk_validator_free(v);
    mk_tdx_validator_opts_free(o);
    mk_ticket_free(&t);
}

static void test_refused_other_mrtd(void **state) {
    (void)state;
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    mk_ticket t;
    make_ticket(&td, true, 0, &t);
    mk_tdx_validator_opts *o = trusting_opts();
    mk_error err;
    const char *want = "ab12000000000000000000000000000000000000000000000000000000000000"
                       "00000000000000000000000000000000";
    TU_ASSERT_RC(mk_tdx_criteria_require_mrtd_hex(mk_tdx_validator_opts_baseline(o), want, &err), 0,
                 &err);
    TU_ASSERT_RC(run(o, &t, NOW, NULL, &err), MK_EMISMATCH, &err);
    char got[17];
    mk_hex_encode(td.mr_td, 8, got);
    TU_ASSERT_REASON(&err, "MRTD mismatch: want ab12000000000000");
    TU_ASSERT_REASON(&err, got);
    /* Bad hex is a usage error with a reason. */
    TU_ASSERT_RC(mk_tdx_criteria_require_mrtd_hex(mk_tdx_validator_opts_baseline(o), "abc", &err),
                 err.code, &err);
    assert_true(err.code < 0);
    mk_tdx_validator_opts_free(o);
    mk_ticket_free(&t);
}

static void test_rtmr_criteria(void **state) {
    (void)state;
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    memset(td.rtmr[1], 0x11, 48);
    memset(td.rtmr[2], 0x22, 48);
    mk_ticket t;
    make_ticket(&td, true, 0, &t);
    mk_error err;

    mk_tdx_validator_opts *o = trusting_opts();
    mk_tdx_criteria *b = mk_tdx_validator_opts_baseline(o);
    mk_tdx_criteria_require_rtmr(b, 1, td.rtmr[1]);
    mk_tdx_criteria_require_rtmr(b, 2, td.rtmr[2]);
    mk_tdx_criteria_require_rtmr(b, 0, td.rtmr[0]);
    TU_ASSERT_RC(run(o, &t, NOW, NULL, &err), 0, &err);
    uint8_t other[48];
    memset(other, 0x33, 48);
    mk_tdx_criteria_require_rtmr(b, 3, other);
    TU_ASSERT_RC(run(o, &t, NOW, NULL, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "RTMR3 mismatch: want 3333333333333333");
    mk_tdx_validator_opts_free(o);

    /* Hex form, and from_local (the provider's own measurements). */
    o = trusting_opts();
    char hex[97];
    mk_hex_encode(td.rtmr[2], 48, hex);
    TU_ASSERT_RC(mk_tdx_criteria_require_rtmr_hex(mk_tdx_validator_opts_baseline(o), 2, hex, &err),
                 0, &err);
    TU_ASSERT_RC(run(o, &t, NOW, NULL, &err), 0, &err);
    mk_tdx_validator_opts_free(o);

    mk_tdx_provider *p = NULL;

    assert_int_equal(mk_tdx_provider_sim_new(F.sim, &td, &p, NULL), 0);
    o = trusting_opts();
    TU_ASSERT_RC(mk_tdx_validator_opts_from_local(o, p, &err), 0, &err);
    assert_int_equal(mk_tdx_validator_opts_baseline(o)->mask, MK_TDX_REQ_ALL);
    TU_ASSERT_RC(run(o, &t, NOW, NULL, &err), 0, &err);
    mk_tdx_validator_opts_free(o);
    /* A TD with another RTMR1 is refused by a from_local validator. */
    mk_tdx_sim_td td2 = td;
    memset(td2.rtmr[1], 0x44, 48);
    mk_tdx_provider *p2 = NULL;
    assert_int_equal(mk_tdx_provider_sim_new(F.sim, &td2, &p2, NULL), 0);
    o = trusting_opts();
    TU_ASSERT_RC(mk_tdx_validator_opts_require_own_mrtd(o, p2, &err), 0, &err);
    TU_ASSERT_RC(run(o, &t, NOW, NULL, &err), 0, &err); /* same MRTD */
    TU_ASSERT_RC(mk_tdx_validator_opts_require_own_rtmr(o, p2, 1, &err), 0, &err);
    assert_int_equal(mk_tdx_validator_opts_baseline(o)->mask, MK_TDX_REQ_MRTD | MK_TDX_REQ_RTMR1);
    TU_ASSERT_RC(run(o, &t, NOW, NULL, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err,
                     "RTMR1 mismatch: want 4444444444444444\xe2\x80\xa6, got 1111111111111111");
    mk_tdx_validator_opts_free(o);
    mk_tdx_provider_free(p2);

    /* Attester accessors read the same registers. */
    mk_tdx_attester *a;
    TU_ASSERT_RC(mk_tdx_attester_new(&(mk_tdx_attester_config){.provider = p}, &a, &err), 0, &err);
    uint8_t mr[48];
    TU_ASSERT_RC(mk_tdx_attester_mrtd(a, mr, &err), 0, &err);
    assert_memory_equal(mr, td.mr_td, 48);
    TU_ASSERT_RC(mk_tdx_attester_rtmr1(a, mr, &err), 0, &err);
    assert_memory_equal(mr, td.rtmr[1], 48);
    TU_ASSERT_RC(mk_tdx_attester_rtmr2(a, mr, &err), 0, &err);
    assert_memory_equal(mr, td.rtmr[2], 48);
    TU_ASSERT_RC(mk_tdx_attester_rtmr0(a, mr, &err), 0, &err);
    assert_memory_equal(mr, td.rtmr[0], 48);
    TU_ASSERT_RC(mk_tdx_attester_rtmr3(a, mr, &err), 0, &err);
    assert_memory_equal(mr, td.rtmr[3], 48);
    assert_true(mk_tdx_attester_rtmr(a, 4, mr, &err) < 0);
    mk_tdx_attester_free(a);
    mk_tdx_provider_free(p);
    mk_ticket_free(&t);
}

static void test_variants(void **state) {
    (void)state;
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    memset(td.rtmr[1], 0x11, 48);
    mk_ticket t;
    make_ticket(&td, true, 0, &t);
    mk_error err;
    uint8_t a[48], b[48];
    memset(a, 0xaa, 48);
    memset(b, 0xbb, 48);
    mk_tdx_criteria va, vb, vok;
    mk_tdx_criteria_init(&va);
    mk_tdx_criteria_require_rtmr(&va, 1, a);
    mk_tdx_criteria_init(&vb);
    mk_tdx_criteria_require_rtmr(&vb, 1, b);
    mk_tdx_criteria_init(&vok);
    mk_tdx_criteria_require_rtmr(&vok, 1, td.rtmr[1]);

    mk_tdx_validator_opts *o = trusting_opts();
    mk_tdx_criteria_require_mrtd(mk_tdx_validator_opts_baseline(o), td.mr_td);
    assert_int_equal(mk_tdx_validator_opts_add_variant(o, &va), 0);
    assert_int_equal(mk_tdx_validator_opts_add_variant(o, &vb), 0);
    TU_ASSERT_RC(run(o, &t, NOW, NULL, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "no variant matches");
    TU_ASSERT_REASON(&err, "RTMR1 mismatch: want aaaaaaaaaaaaaaaa");
    TU_ASSERT_REASON(&err, "RTMR1 mismatch: want bbbbbbbbbbbbbbbb");
    assert_int_equal(mk_tdx_validator_opts_add_variant(o, &vok), 0);
    TU_ASSERT_RC(run(o, &t, NOW, NULL, &err), 0, &err);
    mk_tdx_validator_opts_free(o);

    /* Baseline still applies when a variant matches. */
    o = trusting_opts();
    mk_tdx_criteria_require_mrtd(mk_tdx_validator_opts_baseline(o), a);
    assert_int_equal(mk_tdx_validator_opts_add_variant(o, &vok), 0);
    TU_ASSERT_RC(run(o, &t, NOW, NULL, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "MRTD mismatch");
    mk_tdx_validator_opts_free(o);
    mk_ticket_free(&t);
}

static void test_freshness(void **state) {
    (void)state;
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    mk_ticket t;
    make_ticket(&td, true, 0, &t); /* quoted NOW, expires NOW + 3600 */
    mk_error err;

    mk_tdx_validator_opts *o = trusting_opts();
    mk_tdx_validator_opts_max_age(o, 50);
    TU_ASSERT_RC(run(o, &t, NOW + 50, NULL, &err), 0, &err);
    TU_ASSERT_RC(run(o, &t, NOW + 51, NULL, &err), MK_EEXPIRED, &err);
    TU_ASSERT_REASON(&err, "max_age is 50 s");
    mk_tdx_validator_opts_free(o);

    o = trusting_opts();
    mk_tdx_validator_opts_not_before(o, NOW + 1);
    TU_ASSERT_RC(run(o, &t, NOW + 5, NULL, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "before not_before");
    mk_tdx_validator_opts_not_before(o, NOW);
    TU_ASSERT_RC(run(o, &t, NOW + 5, NULL, &err), 0, &err);
    mk_tdx_validator_opts_free(o);

    o = trusting_opts();
    mk_tdx_validator_opts_max_lifetime(o, 1800);
    TU_ASSERT_RC(run(o, &t, NOW, NULL, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "lifetime 3600 s exceeds max_lifetime 1800 s");
    mk_tdx_validator_opts_max_lifetime(o, 3600);
    TU_ASSERT_RC(run(o, &t, NOW, NULL, &err), 0, &err);
    /* Never-expiring tickets are refused when max_lifetime is set ... */
    mk_ticket nev;
    make_ticket(&td, true, MK_EXPIRES_NEVER, &nev);
    TU_ASSERT_RC(run(o, &nev, NOW, NULL, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "never expires");
    mk_tdx_validator_opts_free(o);
    /* ... and admitted until the collateral's end otherwise. */
    o = trusting_opts();
    mk_expiration e;
    TU_ASSERT_RC(run(o, &nev, NOW, &e, &err), 0, &err);
    assert_true(e > NOW && e != MK_EXPIRES_NEVER);
    mk_tdx_validator_opts_free(o);
    mk_ticket_free(&nev);

    /* A ticket quoted in the future (beyond the allowed skew). */
    o = trusting_opts();
    TU_ASSERT_RC(run(o, &t, NOW - 301, NULL, &err), MK_ENOTYET, &err);
    TU_ASSERT_REASON(&err, "in the future");
    mk_tdx_validator_opts_free(o);
    mk_ticket_free(&t);
}

static void test_expired(void **state) {
    (void)state;
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    mk_ticket t;
    make_ticket(&td, true, NOW + 100, &t);
    mk_error err;
    mk_tdx_validator_opts *o = trusting_opts();
    mk_validator *v = mk_tdx_validator_new(o, &err);
    mk_peer_view pv = {F.peer, F.network, &t, 1};
    mk_expiration e;
    TU_ASSERT_RC(v->ops->validate(v, t.data, t.len, &pv, NOW + 99, &e, &err), 0, &err);
    assert_int_equal(e, NOW + 100);
    TU_ASSERT_RC(v->ops->validate(v, t.data, t.len, &pv, NOW + 100, &e, &err), MK_EEXPIRED, &err);
    char ts[MK_RFC3339_LEN];
    mk_time_format_rfc3339(NOW + 100, ts);
    TU_ASSERT_REASON(&err, "ticket expired at");
    TU_ASSERT_REASON(&err, ts);
    /* Through mk_validator_check: the expired ticket does not count. */
    TU_ASSERT_RC(mk_validator_check(v, &pv, NOW + 200, &e, &err), err.code, &err);
    assert_true(err.code < 0);
    mk_validator_free(v);
    mk_tdx_validator_opts_free(o);
    mk_ticket_free(&t);
}

static void sig_of(mk_tdx_validator_opts *o, mk_id *out) {
    mk_error err;
    mk_validator *v = mk_tdx_validator_new(o, &err);
    if (!v) fail_msg("validator: %s", err.msg);
    mk_validator_signature(v, out);
    mk_id cls, want;
    mk_validator_class(v, &cls);
    mk_id_from_name(&want, MK_TDX_TICKET_CLASS_NAME);
    assert_true(mk_id_eq(&cls, &want));
    mk_validator_free(v);
}

/* Build a configuration; `change` selects one option to differ. */
static mk_tdx_validator_opts *config(int change) {
    mk_tdx_validator_opts *o = mk_tdx_validator_opts_new();
    uint8_t m[48], r[48], x[48];
    memset(m, 1, 48), memset(r, 2, 48), memset(x, 3, 48);
    mk_tdx_criteria *b = mk_tdx_validator_opts_baseline(o);
    mk_tdx_criteria_require_mrtd(b, change == 1 ? x : m);
    if (change == 2) mk_tdx_criteria_require_rtmr(b, 0, r);
    mk_tdx_criteria v1, v2;
    mk_tdx_criteria_init(&v1);
    mk_tdx_criteria_require_rtmr(&v1, 1, r);
    mk_tdx_criteria_init(&v2);
    mk_tdx_criteria_require_rtmr(&v2, 2, change == 3 ? x : r);
    /* change 4: the same variants in another order (must NOT differ). */
    if (change == 4) {
        mk_tdx_validator_opts_add_variant(o, &v2);
        mk_tdx_validator_opts_add_variant(o, &v1);
        mk_tdx_validator_opts_add_variant(o, &v1); /* duplicate */
    } else {
        mk_tdx_validator_opts_add_variant(o, &v1);
        mk_tdx_validator_opts_add_variant(o, &v2);
    }
    if (change == 5) {
        mk_tdx_criteria v3;
        mk_tdx_criteria_init(&v3);
        mk_tdx_criteria_require_rtmr(&v3, 3, r);
        mk_tdx_validator_opts_add_variant(o, &v3);
    }
    mk_tdx_validator_opts_max_age(o, change == 6 ? 61 : 60);
    mk_tdx_validator_opts_not_before(o, change == 7 ? 2 : 1);
    mk_tdx_validator_opts_max_lifetime(o, change == 8 ? 7201 : 7200);
    mk_tdx_policy p;
    mk_tdx_policy_default(&p);
    if (change == 9) p.allow_debug = true;
    if (change == 10) p.accepted_statuses |= MK_TDX_TCB_BIT(MK_TDX_TCB_OUT_OF_DATE);
    if (change == 11) p.check_xfam = true, p.xfam = 0x602e7;
    if (change == 12) p.check_mr_config_id = true;
    if (change == 13) p.chain_only = true;
    if (change == 14) p.require_sept_ve_disable = true;
    mk_tdx_validator_opts_policy(o, &p);
    if (change == 15) mk_tdx_validator_opts_trust_simulator(o, F.root, F.root_len, NULL);
    /* changes 16..18: the collateral source is not part of the signature
     * (docs/tdx-tickets.md, "Signature"). */
    if (change == 16) mk_tdx_validator_opts_collateral_from_ticket(o, false);
    if (change == 17) assert_int_equal(mk_tdx_validator_opts_static_collateral(o, F.coll, NULL), 0);
    if (change == 18) {
        mk_tdx_fetch_opts f = {.base_url = "https://pccs.example"};
        assert_int_equal(mk_tdx_validator_opts_fetch(o, &f, NULL), 0);
    }
    /* changes 19, 20: collateral freshness is. */
    if (change == 19 || change == 20) {
        if (change == 19) p.min_tcb_evaluation_data_number = 17;
        if (change == 20) p.max_collateral_age = 86400;
        mk_tdx_validator_opts_policy(o, &p);
    }
    return o;
}

#define N_CHANGES 20
static bool change_keeps_signature(int c) {
    return c == 4 || c == 16 || c == 17 || c == 18;
}

static void test_signature(void **state) {
    (void)state;
    mk_id base, again, other;
    mk_tdx_validator_opts *o = config(0);
    sig_of(o, &base);
    mk_tdx_validator_opts_free(o);
    o = config(0);
    sig_of(o, &again);
    mk_tdx_validator_opts_free(o);
    assert_true(mk_id_eq(&base, &again));
    for (int c = 1; c <= N_CHANGES; c++) {
        o = config(c);
        sig_of(o, &other);
        mk_tdx_validator_opts_free(o);
        bool same = mk_id_eq(&base, &other);
        if (change_keeps_signature(c)) {
            if (!same) fail_msg("change %d must not change the signature", c);
        } else if (same) {
            fail_msg("change %d did not change the signature", c);
        }
    }
}

static void test_sim_root_not_trusted(void **state) {
    (void)state;
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    mk_ticket t;
    make_ticket(&td, true, 0, &t);
    mk_tdx_validator_opts *o = mk_tdx_validator_opts_new();
    mk_error err;
    TU_ASSERT_RC(run(o, &t, NOW, NULL, &err), MK_EUNTRUSTED, &err);
    TU_ASSERT_REASON(&err, "simulat");
    TU_ASSERT_REASON(&err, "not trusted");
    /* Another simulator's root is no better. */
    mk_tdx_sim *other;
    TU_ASSERT_RC(mk_tdx_sim_new(&(mk_tdx_sim_config){.now = NOW - 86400}, &other, &err), 0, &err);
    const uint8_t *r;
    size_t rl;
    mk_tdx_sim_root_der(other, &r, &rl);
    TU_ASSERT_RC(mk_tdx_validator_opts_trust_simulator(o, r, rl, &err), 0, &err);
    TU_ASSERT_RC(run(o, &t, NOW, NULL, &err), MK_EUNTRUSTED, &err);
    mk_tdx_sim_free(other);
    mk_tdx_validator_opts_free(o);
    mk_ticket_free(&t);
}

static void test_collateral_sources(void **state) {
    (void)state;
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    mk_ticket bare, full;
    make_ticket(&td, false, 0, &bare);
    make_ticket(&td, true, 0, &full);
    assert_true(bare.len < full.len);
    mk_error err;

    /* No collateral anywhere: refused unless chain_only. */
    mk_tdx_validator_opts *o = trusting_opts();
    TU_ASSERT_RC(run(o, &bare, NOW, NULL, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "collateral required");
    mk_tdx_policy p;
    mk_tdx_policy_default(&p);
    p.chain_only = true;
    mk_tdx_validator_opts_policy(o, &p);
    TU_ASSERT_RC(run(o, &bare, NOW, NULL, &err), 0, &err);
    mk_tdx_validator_opts_free(o);

    /* Static collateral serves tickets that carry none. */
    o = trusting_opts();
    TU_ASSERT_RC(mk_tdx_validator_opts_static_collateral(o, F.coll, &err), 0, &err);
    TU_ASSERT_RC(run(o, &bare, NOW, NULL, &err), 0, &err);
    mk_tdx_validator_opts_free(o);

    /* Ticket collateral refused by configuration: falls back to none. */
    o = trusting_opts();
    mk_tdx_validator_opts_collateral_from_ticket(o, false);
    TU_ASSERT_RC(run(o, &full, NOW, NULL, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "collateral required");
    mk_tdx_validator_opts_free(o);

    /* Collateral past its window (30 days from NOW - 60) refuses a ticket
     * that has not expired itself (it lives 60 days): only the collateral
     * window can be the reason. One day before, the same ticket passes. */
    mk_ticket longer;
    make_ticket(&td, true, NOW + 60 * 86400, &longer);
    o = trusting_opts();
    TU_ASSERT_RC(run(o, &longer, NOW + 29 * 86400, NULL, &err), 0, &err);
    TU_ASSERT_RC(run(o, &longer, NOW + 31 * 86400, NULL, &err), MK_EEXPIRED, &err);
    TU_ASSERT_REASON(&err, "TDX quote: collateral");
    mk_tdx_validator_opts_free(o);
    mk_ticket_free(&longer);
    mk_ticket_free(&bare);
    mk_ticket_free(&full);
}

/* A ticket over arbitrary extra data (times included), quoted by the
 * simulator: what a TD that forwards caller-chosen times would produce. */
static void make_raw_ticket(int64_t started, int64_t quoted, int64_t expires, bool embed,
                            mk_ticket *out) {
    mk_tdx_extra_data x = {F.peer, F.network, started, quoted, expires};
    uint8_t rd[64];
    mk_tdx_report_data(&x, rd);
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    mk_buf q = MK_BUF_INIT, cb = MK_BUF_INIT;
    mk_error err;
    TU_ASSERT_RC(mk_tdx_sim_quote(F.sim, &td, rd, &q, &err), 0, &err);
    if (embed) assert_int_equal(mk_tdx_collateral_to_bundle(F.coll, &cb), 0);
    mk_tdx_ticket t;
    TU_ASSERT_RC(mk_tdx_ticket_init(&t, &x, q.data, q.len, embed ? (const char *)cb.data : NULL,
                                    cb.len, &err),
                 0, &err);
    TU_ASSERT_RC(mk_tdx_ticket_to_generic(&t, out, &err), 0, &err);
    mk_tdx_ticket_free(&t);
    mk_buf_free(&q);
    mk_buf_free(&cb);
}

/* M1: extreme times must not wrap the freshness arithmetic. */
static void test_extreme_times(void **state) {
    (void)state;
    mk_error err;
    mk_tdx_validator_opts *o = trusting_opts();
    mk_tdx_validator_opts_max_age(o, 60);
    mk_tdx_validator_opts_max_lifetime(o, 3600);

    mk_ticket t;
    make_raw_ticket(NOW - 10, NOW, NOW + 600, true, &t);
    TU_ASSERT_RC(run(o, &t, NOW, NULL, &err), 0, &err); /* control */
    mk_ticket_free(&t);

    make_raw_ticket(NOW - 10, INT64_MIN + 1, INT64_MAX - 1, true, &t);
    TU_ASSERT_RC(run(o, &t, NOW, NULL, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "quoted_at");
    TU_ASSERT_REASON(&err, "out of range");
    mk_ticket_free(&t);

    make_raw_ticket(INT64_MIN, NOW, NOW + 600, true, &t);
    TU_ASSERT_RC(run(o, &t, NOW, NULL, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "started_at");
    mk_ticket_free(&t);

    make_raw_ticket(NOW - 10, NOW, INT64_MAX - 1, true, &t);
    TU_ASSERT_RC(run(o, &t, NOW, NULL, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "expiration");
    mk_ticket_free(&t);

    /* In range but very old: refused by max_age with the real age. */
    make_raw_ticket(0, 0, MK_TDX_TIME_MAX, true, &t);
    TU_ASSERT_RC(run(o, &t, NOW, NULL, &err), MK_EEXPIRED, &err);
    TU_ASSERT_REASON(&err, "1750000000 s old, max_age is 60 s");
    mk_tdx_validator_opts_max_age(o, 0);
    TU_ASSERT_RC(run(o, &t, NOW, NULL, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "exceeds max_lifetime 3600 s");
    mk_ticket_free(&t);
    mk_tdx_validator_opts_free(o);
}

/* M3: the operator's collateral wins over the ticket's. */
static void test_collateral_precedence(void **state) {
    (void)state;
    mk_error err;
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    mk_ticket full;
    make_ticket(&td, true, 0, &full); /* carries collateral valid at NOW */

    /* The operator's static collateral has expired (issued 40 days ago,
     * 30-day window): the ticket's own fresh bundle must not replace it. */
    mk_tdx_collateral *old = NULL;
    TU_ASSERT_RC(mk_tdx_sim_collateral(F.sim, NOW - 40 * 86400, &old, &err), 0, &err);
    mk_tdx_validator_opts *o = trusting_opts();
    TU_ASSERT_RC(mk_tdx_validator_opts_static_collateral(o, old, &err), 0, &err);
    TU_ASSERT_RC(run(o, &full, NOW, NULL, &err), MK_EEXPIRED, &err);
    TU_ASSERT_REASON(&err, "TDX quote: collateral");
    mk_tdx_validator_opts_free(o);
    mk_tdx_collateral_free(old);

    /* A configured fetcher (here unreachable) is used, not the ticket's. */
    o = trusting_opts();
    mk_tdx_fetch_opts f = {
        .base_url = "http://127.0.0.1:1", .insecure_http_ok = true, .timeout_ms = 2000};
    TU_ASSERT_RC(mk_tdx_validator_opts_fetch(o, &f, &err), 0, &err);
    assert_true(run(o, &full, NOW, NULL, &err) < 0);
    TU_ASSERT_REASON(&err, "collateral: fetch");
    mk_tdx_validator_opts_free(o);

    /* Nothing configured: the ticket's collateral is the fallback. */
    o = trusting_opts();
    TU_ASSERT_RC(run(o, &full, NOW, NULL, &err), 0, &err);
    mk_tdx_validator_opts_free(o);
    mk_ticket_free(&full);
}

/* M3: collateral freshness knobs (the simulator's collateral has
 * tcbEvaluationDataNumber 1; made at NOW - 60, its issueDate is an hour
 * earlier, NOW - 3660). */
static void test_collateral_freshness(void **state) {
    (void)state;
    mk_error err;
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    mk_ticket full;
    make_ticket(&td, true, 0, &full);
    mk_tdx_policy p;

    mk_tdx_validator_opts *o = trusting_opts();
    mk_tdx_policy_default(&p);
    p.min_tcb_evaluation_data_number = 2;
    mk_tdx_validator_opts_policy(o, &p);
    TU_ASSERT_RC(run(o, &full, NOW, NULL, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "tcbEvaluationDataNumber 1 is below the required 2");
    p.min_tcb_evaluation_data_number = 1;
    mk_tdx_validator_opts_policy(o, &p);
    TU_ASSERT_RC(run(o, &full, NOW, NULL, &err), 0, &err);

    p.max_collateral_age = 3659;
    mk_tdx_validator_opts_policy(o, &p);
    TU_ASSERT_RC(run(o, &full, NOW, NULL, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "older than max_collateral_age 3659 s");
    p.max_collateral_age = 3660;
    mk_tdx_validator_opts_policy(o, &p);
    TU_ASSERT_RC(run(o, &full, NOW, NULL, &err), 0, &err);
    mk_tdx_validator_opts_free(o);
    mk_ticket_free(&full);
}

/* L6: a variant that pins nothing is refused at configuration. */
static void test_empty_variant_refused(void **state) {
    (void)state;
    mk_tdx_validator_opts *o = trusting_opts();
    mk_tdx_criteria c;
    mk_tdx_criteria_init(&c);
    assert_int_equal(mk_tdx_validator_opts_add_variant(o, &c), MK_EINVAL);
    c.mask = 1u << 7; /* no register bit */
    assert_int_equal(mk_tdx_validator_opts_add_variant(o, &c), MK_EINVAL);
    uint8_t r[48] = {0};
    mk_tdx_criteria_require_rtmr(&c, 2, r);
    assert_int_equal(mk_tdx_validator_opts_add_variant(o, &c), 0);
    mk_tdx_validator_opts_free(o);
}

/* L5: a refused setting leaves the previous one in place. */
static void test_setters_keep_old_on_failure(void **state) {
    (void)state;
    mk_error err;
    mk_tdx_validator_opts *o = trusting_opts();
    mk_tdx_fetch_opts good = {.base_url = "https://pccs.example"};
    mk_tdx_fetch_opts bad = {.base_url = NULL};
    TU_ASSERT_RC(mk_tdx_validator_opts_fetch(o, &good, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_validator_opts_fetch(o, &bad, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "no base URL");
    mk_validator *v = mk_tdx_validator_new(o, &err);
    if (!v) fail_msg("the good fetcher was lost: %s", err.msg);
    mk_validator_free(v);
    mk_tdx_validator_opts_free(o);
}

static int sink_add(void *ctx, const mk_ticket *t, mk_error *err) {
    (void)err;
    return mk_ticket_copy((mk_ticket *)ctx, t);
}

static void test_install_own_ticket(void **state) {
    (void)state;
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    mk_tdx_provider *p = NULL;
    assert_int_equal(mk_tdx_provider_sim_new(F.sim, &td, &p, NULL), 0);
    mk_tdx_attester *a;
    mk_error err;
    TU_ASSERT_RC(mk_tdx_attester_new(&(mk_tdx_attester_config){.provider = p, .collateral = F.coll},
                                     &a, &err),
                 0, &err);
    mk_tdx_attester_set_lifetime(a, 600);
    mk_ticket got = {0};
    mk_ticket_sink sink = {sink_add, &got};
    mk_expiration e = 0;
    TU_ASSERT_RC(
        mk_tdx_attester_install_own_ticket(a, &F.peer, &F.network, NOW - 5, &sink, &e, &err), 0,
        &err);
    assert_int_equal(e, NOW + 600);
    assert_non_null(got.data);
    mk_tdx_ticket tt;
    TU_ASSERT_RC(mk_tdx_ticket_from_generic(&got, &tt, &err), 0, &err);
    assert_int_equal(tt.extra.started_at, NOW - 5);
    assert_int_equal(tt.extra.quoted_at, NOW);
    assert_int_equal(tt.extra.expiration, NOW + 600);
    TU_ASSERT_RC(mk_tdx_ticket_check_binding(&tt, &err), 0, &err);
    assert_non_null(tt.collateral);
    mk_tdx_ticket_free(&tt);
    mk_tdx_validator_opts *o = trusting_opts();
    TU_ASSERT_RC(run(o, &got, NOW, &e, &err), 0, &err);
    assert_int_equal(e, NOW + 600);
    mk_tdx_validator_opts_free(o);
    mk_ticket_free(&got);
    /* A sink that fails: the error comes back. */
    mk_tdx_attester_free(a);
    mk_tdx_provider_free(p);
}

static void test_v5_td15(void **state) {
    (void)state;
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    td.quote_version = 5;
    td.body_type = MK_TDX_BODY_TD15;
    mk_ticket t;
    make_ticket(&td, true, 0, &t);
    mk_tdx_validator_opts *o = trusting_opts();
    mk_tdx_criteria_require_mrtd(mk_tdx_validator_opts_baseline(o), td.mr_td);
    mk_error err;
    TU_ASSERT_RC(run(o, &t, NOW, NULL, &err), 0, &err);
    mk_tdx_validator_opts_free(o);
    mk_ticket_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admitted_matching_mrtd),
        cmocka_unit_test(test_refused_other_mrtd),
        cmocka_unit_test(test_rtmr_criteria),
        cmocka_unit_test(test_variants),
        cmocka_unit_test(test_freshness),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_signature),
        cmocka_unit_test(test_sim_root_not_trusted),
        cmocka_unit_test(test_collateral_sources),
        cmocka_unit_test(test_install_own_ticket),
        cmocka_unit_test(test_v5_td15),
        cmocka_unit_test(test_extreme_times),
        cmocka_unit_test(test_collateral_precedence),
        cmocka_unit_test(test_collateral_freshness),
        cmocka_unit_test(test_empty_variant_refused),
        cmocka_unit_test(test_setters_keep_old_on_failure),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
