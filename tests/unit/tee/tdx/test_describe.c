/*
 * test_describe.c — mk_tdx_ticket_describe, the operator's view of a TDX
 * ticket, with the simulator: without a validator it shows what the quote
 * claims and checks nothing; with a validator trusting the simulator it
 * shows the verified measurements, TCB status and simulated flag, and the
 * verdict (admitted until when, or the validator's reason); with one that
 * does not trust the simulator the quote is not verified; and anything
 * that is not a TDX ticket is refused with a reason.
 */
#include "test_util.h"

#include "mosaik/jwt.h"
#include "mosaik/tdx_provider.h"
#include "mosaik/tdx_ticket.h"

#define NOW 1750000000

static mk_tdx_sim *g_sim;
static mk_tdx_collateral *g_coll;
static mk_fake_clock g_fc;
static mk_id g_peer, g_net;

static int setup(void **state) {
    (void)state;
    mk_error err;
    mk_error_clear(&err);
    if (mk_tdx_sim_new(&(mk_tdx_sim_config){.now = NOW - 86400}, &g_sim, &err) < 0 ||
        mk_tdx_sim_collateral(g_sim, NOW - 60, &g_coll, &err) < 0) {
        fprintf(stderr, "sim: %s\n", err.msg);
        return -1;
    }
    mk_fake_clock_init(&g_fc, NOW);
    mk_clock_set(&g_fc.clock);
    mk_id_from_name(&g_peer, "peer A");
    mk_id_from_name(&g_net, "net");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    mk_clock_set(NULL);
    mk_tdx_collateral_free(g_coll);
    mk_tdx_sim_free(g_sim);
    return 0;
}

static void make_ticket(const mk_tdx_sim_td *td, mk_ticket *out) {
    mk_tdx_provider *p = NULL;
    assert_int_equal(mk_tdx_provider_sim_new(g_sim, td, &p, NULL), 0);
    mk_tdx_attester *a = NULL;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tdx_attester_new(&(mk_tdx_attester_config){.provider = p, .collateral = g_coll},
                                     &a, &err),
                 0, &err);
    TU_ASSERT_RC(mk_tdx_attester_ticket(a, &g_peer, &g_net, NOW - 10, out, &err), 0, &err);
    mk_tdx_attester_free(a);
    mk_tdx_provider_free(p);
}

/* A validator requiring mrtd, trusting the simulator or not. */
static mk_validator *validator(const uint8_t mrtd[48], bool trust) {
    mk_tdx_validator_opts *o = mk_tdx_validator_opts_new();
    assert_non_null(o);
    const uint8_t *root;
    size_t rl;
    mk_tdx_sim_root_der(g_sim, &root, &rl);
    if (trust) assert_int_equal(mk_tdx_validator_opts_trust_simulator(o, root, rl, NULL), 0);
    mk_tdx_criteria_require_mrtd(mk_tdx_validator_opts_baseline(o), mrtd);
    mk_error err;
    mk_error_clear(&err);
    mk_validator *v = mk_tdx_validator_new(o, &err);
    mk_tdx_validator_opts_free(o);
    if (!v) fail_msg("validator: %s", err.msg);
    return v;
}

static void test_describe(void **state) {
    (void)state;
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    memset(td.mr_td, 0xaa, 48);
    mk_ticket t;
    make_ticket(&td, &t);
    mk_peer_view pv = {g_peer, g_net, &t, 1};
    mk_tdx_ticket_info in;
    mk_error err;
    mk_error_clear(&err);

    /* Nothing checked: what the quote claims. */
    TU_ASSERT_RC(mk_tdx_ticket_describe(&t, NULL, NULL, NOW, &in, &err), 0, &err);
    assert_false(in.checked);
    assert_false(in.quote_ok);
    assert_memory_equal(in.report.mr_td, td.mr_td, 48);
    assert_true(mk_id_eq(&in.extra.peer_id, &g_peer));
    assert_int_equal(in.extra.quoted_at, NOW);
    assert_int_equal(in.extra.expiration, NOW + MK_TDX_TICKET_DEFAULT_LIFETIME);
    assert_true(in.has_collateral);
    assert_int_equal(in.tcb_status, MK_TDX_TCB_UNKNOWN);

    /* A validator that trusts the simulator and wants this MRTD: admitted. */
    mk_validator *ok = validator(td.mr_td, true);
    TU_ASSERT_RC(mk_tdx_ticket_describe(&t, ok, &pv, NOW, &in, &err), 0, &err);
    assert_true(in.checked && in.quote_ok && in.simulated);
    assert_int_equal(in.tcb_status, MK_TDX_TCB_UP_TO_DATE);
    assert_int_equal(in.verdict, 0);
    assert_int_equal(in.valid_until, NOW + MK_TDX_TICKET_DEFAULT_LIFETIME);
    assert_string_equal(in.reason, "");

    /* Another MRTD: the quote still verifies, the verdict is the reason. */
    uint8_t other[48];
    memset(other, 0xbb, sizeof other);
    mk_validator *bad = validator(other, true);
    TU_ASSERT_RC(mk_tdx_ticket_describe(&t, bad, &pv, NOW, &in, &err), 0, &err);
    assert_true(in.checked && in.quote_ok && in.simulated);
    assert_int_equal(in.verdict, MK_EMISMATCH);
    assert_non_null(strstr(in.reason, "MRTD mismatch"));

    /* Not trusting the simulator: the quote does not verify. */
    mk_validator *strict = validator(td.mr_td, false);
    TU_ASSERT_RC(mk_tdx_ticket_describe(&t, strict, &pv, NOW, &in, &err), 0, &err);
    assert_true(in.checked);
    assert_false(in.quote_ok);
    assert_false(in.simulated);
    assert_true(in.verdict < 0 && in.reason[0]);

    /* After the ticket's expiry: refused, expired. */
    TU_ASSERT_RC(
        mk_tdx_ticket_describe(&t, ok, &pv, NOW + 2 * MK_TDX_TICKET_DEFAULT_LIFETIME, &in, &err), 0,
        &err);
    assert_true(in.verdict < 0);

    /* Not a TDX ticket; a TDX class with bytes that are no ticket. */
    mk_id jc;
    mk_jwt_class(&jc);
    mk_ticket j;
    assert_int_equal(mk_ticket_init(&j, &jc, "x", 1), 0);
    assert_int_equal(mk_tdx_ticket_describe(&j, ok, &pv, NOW, &in, &err), MK_EINVAL);
    mk_ticket_free(&j);
    mk_id tc;
    mk_tdx_ticket_class(&tc);
    assert_int_equal(mk_ticket_init(&j, &tc, "garbage", 7), 0);
    assert_true(mk_tdx_ticket_describe(&j, ok, &pv, NOW, &in, &err) < 0);
    assert_true(err.msg[0] != 0);
    mk_ticket_free(&j);

    mk_validator_free(strict);
    mk_validator_free(bad);
    mk_validator_free(ok);
    mk_ticket_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_describe)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
