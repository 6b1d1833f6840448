/*
 * tests/unit/tee/tdx/test_validator_bounds.c — the TDX validator's checks at
 * their bounds, each refusal by its reason (mutants of
 * tests/mutants/tickets_validators.mut the end-to-end tests let survive):
 *   - report-data binding: a quote made for other extra data (another
 *     expiration), and one whose report data differs from the binding in
 *     its second half only;
 *   - an MRTD criterion that differs in the last byte only;
 *   - max_lifetime at its bound (equal: admitted, one second less: refused).
 * Tickets are made by hand (mk_tdx_ticket_init) from simulator quotes, so
 * the extra data and the quoted report data can differ.
 */
#include "test_util.h"

#include "mosaik/tdx_provider.h"
#include "mosaik/tdx_ticket.h"

#define NOW 1750000000

static mk_tdx_sim *sim;
static mk_tdx_collateral *coll;
static const uint8_t *root;
static size_t root_len;
static mk_id peer, network;

static int setup(void **state) {
    (void)state;
    mk_error err;
    mk_error_clear(&err);
    if (mk_tdx_sim_new(&(mk_tdx_sim_config){.now = NOW - 86400}, &sim, &err) < 0) return -1;
    mk_tdx_sim_root_der(sim, &root, &root_len);
    if (mk_tdx_sim_collateral(sim, NOW - 60, &coll, &err) < 0) return -1;
    mk_id_from_name(&peer, "peer A");
    mk_id_from_name(&network, "net");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    mk_tdx_collateral_free(coll);
    mk_tdx_sim_free(sim);
    return 0;
}

/* A ticket with extra data x whose quote carries report data rd. */
static void ticket(const mk_tdx_extra_data *x, const uint8_t rd[64], mk_ticket *out) {
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    mk_buf q = MK_BUF_INIT, cb = MK_BUF_INIT;
    mk_error err;
    TU_ASSERT_RC(mk_tdx_sim_quote(sim, &td, rd, &q, &err), 0, &err);
    assert_int_equal(mk_tdx_collateral_to_bundle(coll, &cb), 0);
    mk_tdx_ticket t;
    TU_ASSERT_RC(mk_tdx_ticket_init(&t, x, q.data, q.len, (const char *)cb.data, cb.len, &err), 0,
                 &err);
    TU_ASSERT_RC(mk_tdx_ticket_to_generic(&t, out, &err), 0, &err);
    mk_tdx_ticket_free(&t);
    mk_buf_free(&q);
    mk_buf_free(&cb);
}

static int run(mk_tdx_validator_opts *o, const mk_ticket *t, mk_error *err) {
    mk_validator *v = mk_tdx_validator_new(o, err);
    if (!v) fail_msg("validator: %s", err->msg);
    mk_peer_view pv = {peer, network, t, 1};
    mk_expiration e = 0;
    mk_error_clear(err);
    int rc = mk_validator_check(v, &pv, NOW, &e, err);
    mk_validator_free(v);
    return rc;
}

static mk_tdx_validator_opts *opts(void) {
    mk_tdx_validator_opts *o = mk_tdx_validator_opts_new();
    assert_non_null(o);
    assert_int_equal(mk_tdx_validator_opts_trust_simulator(o, root, root_len, NULL), 0);
    return o;
}

static void binding(void **state) {
    (void)state;
    mk_tdx_extra_data x = {peer, network, NOW - 20, NOW - 10, NOW + 3600};
    uint8_t rd[64];
    mk_tdx_report_data(&x, rd);
    mk_tdx_validator_opts *o = opts();
    mk_error err;
    mk_ticket t;
    ticket(&x, rd, &t);
    TU_ASSERT_RC(run(o, &t, &err), 0, &err);
    mk_ticket_free(&t);
    static const char want[] =
        "tdx: report data does not bind the ticket's extra data (peer, network, "
        "times): the quote was made for another ticket";
    /* The quote of x in a ticket that says it expires later. */
    mk_tdx_extra_data later = x;
    later.expiration += 3600;
    ticket(&later, rd, &t);
    TU_ASSERT_RC(run(o, &t, &err), MK_EMISMATCH, &err);
    assert_string_equal(err.msg, want);
    mk_ticket_free(&t);
    /* Report data equal to the binding in its first 32 bytes only. */
    uint8_t half[64];
    memcpy(half, rd, 64);
    half[63] ^= 1;
    ticket(&x, half, &t);
    TU_ASSERT_RC(run(o, &t, &err), MK_EMISMATCH, &err);
    assert_string_equal(err.msg, want);
    mk_ticket_free(&t);
    mk_tdx_validator_opts_free(o);
}

static void mrtd_last_byte(void **state) {
    (void)state;
    mk_tdx_extra_data x = {peer, network, NOW - 20, NOW - 10, NOW + 3600};
    uint8_t rd[64];
    mk_tdx_report_data(&x, rd);
    mk_ticket t;
    ticket(&x, rd, &t);
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    mk_error err;
    mk_tdx_validator_opts *o = opts();
    mk_tdx_criteria_require_mrtd(mk_tdx_validator_opts_baseline(o), td.mr_td);
    TU_ASSERT_RC(run(o, &t, &err), 0, &err);
    mk_tdx_validator_opts_free(o);
    uint8_t other[48];
    memcpy(other, td.mr_td, 48);
    other[47] ^= 1;
    o = opts();
    mk_tdx_criteria_require_mrtd(mk_tdx_validator_opts_baseline(o), other);
    TU_ASSERT_RC(run(o, &t, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "MRTD mismatch: want ");
    mk_tdx_validator_opts_free(o);
    mk_ticket_free(&t);
}

static void max_lifetime_bound(void **state) {
    (void)state;
    mk_tdx_extra_data x = {peer, network, NOW - 20, NOW - 10, NOW - 10 + 3600};
    uint8_t rd[64];
    mk_tdx_report_data(&x, rd);
    mk_ticket t;
    ticket(&x, rd, &t);
    mk_error err;
    mk_tdx_validator_opts *o = opts();
    mk_tdx_validator_opts_max_lifetime(o, 3600);
    TU_ASSERT_RC(run(o, &t, &err), 0, &err);
    mk_tdx_validator_opts_max_lifetime(o, 3599);
    TU_ASSERT_RC(run(o, &t, &err), MK_EPOLICY, &err);
    assert_string_equal(err.msg, "tdx: ticket lifetime 3600 s exceeds max_lifetime 3599 s");
    mk_tdx_validator_opts_free(o);
    mk_ticket_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(binding),
        cmocka_unit_test(mrtd_last_byte),
        cmocka_unit_test(max_lifetime_bound),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
