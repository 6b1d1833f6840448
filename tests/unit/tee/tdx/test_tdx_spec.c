/*
 * test_tdx_spec.c — the TDX validator spec (mk_tdx_spec, MK_TDX): a spec
 * gives the same validator (signature and verdicts) as the options it
 * stands for, applies its fields over a base opts without changing the
 * base, copies everything (the spec and base may go right after), and
 * refuses malformed registers naming them.
 */
#include "test_util.h"

#include "mosaik/encoding.h"
#include "mosaik/tdx_provider.h"
#include "mosaik/tdx_ticket.h"

#define NOW 1750000000

static mk_tdx_sim *g_sim;
static const uint8_t *g_root;
static size_t g_root_len;
static mk_tdx_collateral *g_coll;
static mk_fake_clock g_fc;

static int setup(void **state) {
    (void)state;
    mk_error err;
    mk_error_clear(&err);
    if (mk_tdx_sim_new(&(mk_tdx_sim_config){.now = NOW - 86400}, &g_sim, &err) < 0) return -1;
    mk_tdx_sim_root_der(g_sim, &g_root, &g_root_len);
    if (mk_tdx_sim_collateral(g_sim, NOW - 60, &g_coll, &err) < 0) return -1;
    mk_fake_clock_init(&g_fc, NOW);
    mk_clock_set(&g_fc.clock);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    mk_clock_set(NULL);
    mk_tdx_collateral_free(g_coll);
    mk_tdx_sim_free(g_sim);
    return 0;
}

static void sig(const mk_validator *v, mk_id *out) {
    assert_non_null(v);
    mk_validator_signature(v, out);
}

/* The spec's validator equals the one built from the options it means. */
static void test_same_as_opts(void **state) {
    (void)state;
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    char mrtd[97], rtmr2[97];
    mk_hex_encode(td.mr_td, 48, mrtd);
    memset(td.rtmr[2], 0x22, 48);
    mk_hex_encode(td.rtmr[2], 48, rtmr2);
    mk_error err;
    mk_error_clear(&err);

    mk_tdx_validator_opts *o = mk_tdx_validator_opts_new();
    mk_tdx_criteria_require_mrtd(mk_tdx_validator_opts_baseline(o), td.mr_td);
    mk_tdx_criteria_require_rtmr(mk_tdx_validator_opts_baseline(o), 2, td.rtmr[2]);
    TU_ASSERT_RC(mk_tdx_validator_opts_trust_simulator(o, g_root, g_root_len, &err), 0, &err);
    mk_tdx_validator_opts_max_age(o, 600);
    mk_tdx_validator_opts_max_lifetime(o, 86400);
    mk_validator *from_opts = mk_tdx_validator_new(o, &err);
    mk_tdx_validator_opts_free(o);

    const mk_validator_spec sp[] = {MK_TDX(.mrtd = mrtd, .rtmr[2] = rtmr2, .sim_root = g_root,
                                           .sim_root_len = g_root_len, .max_age = 600,
                                           .max_lifetime = 86400)};
    mk_validator *from_spec = sp[0].make(sp[0].arg, &err);
    if (!from_spec) fail_msg("spec: %s", err.msg);
    mk_id a, b;
    sig(from_opts, &a);
    sig(from_spec, &b);
    assert_true(mk_id_eq(&a, &b));

    /* Over a base: the base's settings stay, the spec's are added; the
     * base itself is unchanged. */
    mk_tdx_validator_opts *base = mk_tdx_validator_opts_new();
    TU_ASSERT_RC(mk_tdx_validator_opts_trust_simulator(base, g_root, g_root_len, &err), 0, &err);
    mk_tdx_validator_opts_max_age(base, 600);
    mk_tdx_validator_opts_max_lifetime(base, 86400);
    mk_tdx_spec s = {.opts = base, .mrtd = mrtd, .rtmr[2] = rtmr2};
    mk_validator *over = mk_tdx_spec_factory(&s, &err);
    mk_id c;
    sig(over, &c);
    assert_true(mk_id_eq(&a, &c));
    mk_validator *plain_base = mk_tdx_validator_new(base, &err);
    mk_tdx_validator_opts_free(base); /* the validators keep their copies */
    mk_id d;
    sig(plain_base, &d);
    assert_false(mk_id_eq(&a, &d));

    /* And judges the same: a ticket of this TD passes both. */
    mk_tdx_provider *p = NULL;
    assert_int_equal(mk_tdx_provider_sim_new(g_sim, &td, &p, NULL), 0);
    mk_tdx_attester *att = NULL;
    TU_ASSERT_RC(mk_tdx_attester_new(&(mk_tdx_attester_config){.provider = p, .collateral = g_coll},
                                     &att, &err),
                 0, &err);
    mk_id peer, net;
    mk_id_from_name(&peer, "peer");
    mk_id_from_name(&net, "net");
    mk_ticket t;
    TU_ASSERT_RC(mk_tdx_attester_ticket(att, &peer, &net, NOW, &t, &err), 0, &err);
    mk_peer_view pv = {.peer_id = peer, .network_id = net, .tickets = &t, .n_tickets = 1};
    mk_expiration e1 = 0, e2 = 0;
    TU_ASSERT_RC(mk_validator_check(from_opts, &pv, NOW + 1, &e1, &err), 0, &err);
    TU_ASSERT_RC(mk_validator_check(over, &pv, NOW + 1, &e2, &err), 0, &err);
    assert_int_equal(e1, e2);
    /* Another MRTD in the spec: refused. */
    char other[97];
    memset(other, 'a', 96);
    other[96] = 0;
    mk_validator *wrong = mk_tdx_spec_factory(
        &(mk_tdx_spec){.mrtd = other, .sim_root = g_root, .sim_root_len = g_root_len}, &err);
    assert_non_null(wrong);
    assert_int_equal(mk_validator_check(wrong, &pv, NOW + 1, &e1, &err), MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "tdx: MRTD mismatch");
    /* No simulator root: the simulated chain is refused. */
    mk_validator *untrusting = mk_tdx_spec_factory(&(mk_tdx_spec){.mrtd = mrtd}, &err);
    assert_non_null(untrusting);
    assert_true(mk_validator_check(untrusting, &pv, NOW + 1, &e1, &err) < 0);
    TU_ASSERT_REASON(&err, "simulator");

    mk_ticket_free(&t);
    mk_tdx_attester_free(att);
    mk_tdx_provider_free(p);
    mk_validator_free(untrusting);
    mk_validator_free(wrong);
    mk_validator_free(plain_base);
    mk_validator_free(over);
    mk_validator_free(from_spec);
    mk_validator_free(from_opts);
}

static void test_errors(void **state) {
    (void)state;
    mk_error err;
    mk_error_clear(&err);
    assert_null(mk_tdx_spec_factory(NULL, &err));
    TU_ASSERT_REASON(&err, "tdx spec: none");
    assert_null(mk_tdx_spec_factory(&(mk_tdx_spec){.mrtd = "12zz"}, &err));
    assert_int_equal(err.code, MK_EINVAL);
    TU_ASSERT_REASON(&err, "tdx spec: mrtd");
    assert_null(mk_tdx_spec_factory(&(mk_tdx_spec){.rtmr[3] = "00"}, &err));
    TU_ASSERT_REASON(&err, "tdx spec: rtmr3");
    /* A malformed simulator root is the validator's refusal. */
    static const uint8_t junk[4] = {1, 2, 3, 4};
    assert_null(mk_tdx_spec_factory(&(mk_tdx_spec){.sim_root = junk, .sim_root_len = 4}, &err));
    assert_true(err.code < 0);
    /* Through a set: all or none, the spec named. */
    mk_validator_set s;
    mk_validator_set_init(&s);
    const mk_validator_spec sp[] = {MK_TDX(.max_age = 60), MK_TDX(.mrtd = "0x12")};
    assert_int_equal(mk_validator_set_add_specs(&s, sp, 2, &err), MK_EINVAL);
    TU_ASSERT_REASON(&err, "validator 1: tdx spec: mrtd");
    assert_int_equal(s.n, 0);
    mk_validator_set_free(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_opts),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
