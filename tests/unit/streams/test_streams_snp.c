/*
 * Streams gated by SEV-SNP attestation tickets from the SNP simulator,
 * through the SNP validator (made by its declaration factory,
 * MK_SNP spec): the expected measurement admitted, another
 * measurement and no ticket refused; a validator that does not trust the
 * simulator refuses even the right measurement, saying why; SNP and TDX
 * validators together on one stream (both tickets needed), and a mixed
 * fleet: MK_ANY_OF(MK_TDX, MK_SNP) admits a node with either ticket and
 * refuses one with neither, naming both members' reasons. The simulator
 * roots are trusted explicitly. test_snp_attest: mk_network_attest on SNP.
 */
#include <pthread.h>

#include "streams_util.h"

#if MOSAIK_HAVE_SNP

static mk_snp_sim *g_sim;

static int setup(void **state) {
    (void)state;
    mk_error err;
    mk_error_clear(&err);
    return mk_snp_sim_new(NULL, &g_sim, &err) < 0 ? -1 : 0;
}

static int teardown(void **state) {
    (void)state;
    mk_snp_sim_free(g_sim);
    return 0;
}

static void give_snp(mk_network *nw, const mk_snp_sim_guest *g) {
    mk_error err;
    mk_error_clear(&err);
    mk_tee_provider *prov = NULL;
    TU_ASSERT_RC(mk_snp_provider_sim_new(g_sim, g, &prov, &err), 0, &err);
    mk_snp_attester_config ac;
    mk_snp_attester_config_init(&ac);
    ac.provider = prov;
    mk_snp_attester *att = NULL;
    TU_ASSERT_RC(mk_snp_attester_new(&ac, &att, &err), 0, &err);
    mk_id peer, net;
    mk_network_peer_id(nw, &peer);
    mk_network_id(nw, &net);
    mk_ticket t;
    TU_ASSERT_RC(mk_tee_attester_ticket(att, &peer, &net, mk_now(), &t, &err), 0, &err);
    TU_ASSERT_RC(mk_network_add_ticket(nw, &t, &err), 0, &err);
    mk_ticket_free(&t);
    mk_tee_attester_free(att);
    mk_tee_provider_free(prov);
}

/* An SNP validator requiring measurement m, from the declaration factory. */
static mk_validator *snp_validator(const uint8_t m[48], bool trust_sim) {
    mk_snp_validator_config cfg;
    mk_snp_validator_config_init(&cfg);
    if (trust_sim) mk_snp_sim_root_der(g_sim, &cfg.simulator_root_der, &cfg.simulator_root_len);
    mk_snp_criteria_require_measurement(&cfg.baseline, m);
    mk_error err;
    mk_error_clear(&err);
    const mk_validator_spec spec = MK_SNP(.config = &cfg, .max_lifetime = 24 * 3600);
    mk_validator *v = spec.make(spec.arg, &err);
    if (!v) fail_msg("snp validator: %s", err.msg);
    return v;
}

/* The expected measurement admitted, another refused, none refused. */
static void test_snp_measurement(void **state) {
    (void)state;
    mk_network *a = st_net("snp-meas", NULL);
    mk_snp_sim_guest good, other;
    mk_snp_sim_guest_default(&good);
    mk_snp_sim_guest_default(&other);
    mk_sha384("other image", 11, other.measurement);
    mk_stream_producer *p =
        st_producer_requiring(a, "attested", snp_validator(good.measurement, true));
    st_node n[3];
    for (int i = 0; i < 3; i++)
        st_node_net(&n[i], "snp-meas", a);
    give_snp(n[0].nw, &good);
    give_snp(n[1].nw, &other);
    for (int i = 0; i < 3; i++)
        st_node_consume(&n[i], "attested");
    ST_WAIT_UNTIL(st_node_admitted(&n[0]), 10000, "the good node");
    st_node_expect_rejected(&n[1], "measurement mismatch");
    st_node_expect_rejected(&n[2], "no ticket");
    for (int i = 0; i < 3; i++)
        st_node_free(&n[i]);
    mk_stream_producer_free(p);
    mk_network_free(a);
}

/* The one-call attestation (mosaik/attest.h) on SEV-SNP: the provider and
 * the SNP endorse hook (the certificate table into the ticket) are all a
 * node needs; the producer's SNP validator admits it. */
static void test_snp_attest(void **state) {
    (void)state;
    mk_network *a = st_net("snp-attest", NULL);
    mk_snp_sim_guest good;
    mk_snp_sim_guest_default(&good);
    mk_stream_producer *p =
        st_producer_requiring(a, "attested", snp_validator(good.measurement, true));
    st_node n;
    st_node_net(&n, "snp-attest", a);
    mk_error err;
    mk_error_clear(&err);
    mk_tee_provider *prov = NULL;
    TU_ASSERT_RC(mk_snp_provider_sim_new(g_sim, &good, &prov, &err), 0, &err);
    mk_attestation_opts ao;
    mk_attestation_opts_init(&ao);
    ao.endorse = mk_snp_endorse_certs;
    mk_attestation *at = NULL;
    TU_ASSERT_RC(mk_network_attest(n.nw, prov, &ao, &at, &err), 0, &err);
    st_node_consume(&n, "attested");
    ST_WAIT_UNTIL(st_node_admitted(&n), 10000, "the attested node");
    mk_attestation_status st;
    mk_attestation_status_get(at, &st);
    assert_true(st.running);
    assert_int_equal(st.failures, 0);
    mk_attestation_free(at);
    st_node_free(&n);
    mk_tee_provider_free(prov);
    mk_stream_producer_free(p);
    mk_network_free(a);
}

/* Without the simulator's root, a simulated ticket is refused as such. */
static void test_snp_untrusted_simulator(void **state) {
    (void)state;
    mk_network *a = st_net("snp-untrusted", NULL);
    mk_snp_sim_guest good;
    mk_snp_sim_guest_default(&good);
    mk_stream_producer *p =
        st_producer_requiring(a, "attested", snp_validator(good.measurement, false));
    st_node n;
    st_node_net(&n, "snp-untrusted", a);
    give_snp(n.nw, &good);
    st_node_consume(&n, "attested");
    st_node_expect_rejected(&n, "simulator root not trusted");
    st_node_free(&n);
    mk_stream_producer_free(p);
    mk_network_free(a);
}

#if MOSAIK_HAVE_TDX
/* SNP and TDX validators on one stream: a node needs both tickets. */
static void test_snp_and_tdx(void **state) {
    (void)state;
    mk_tdx_sim *tsim = NULL;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tdx_sim_new(NULL, &tsim, &err), 0, &err);
    mk_network *a = st_net("snp-tdx", NULL);
    mk_snp_sim_guest good;
    mk_snp_sim_guest_default(&good);
    mk_stream_producer *p =
        st_producer_requiring(a, "attested", snp_validator(good.measurement, true));
    mk_tdx_validator_opts *o = mk_tdx_validator_opts_new();
    const uint8_t *root;
    size_t len;
    mk_tdx_sim_root_der(tsim, &root, &len);
    TU_ASSERT_RC(mk_tdx_validator_opts_trust_simulator(o, root, len, &err), 0, &err);
    mk_tdx_policy pol;
    mk_tdx_policy_default(&pol);
    pol.chain_only = true;
    mk_tdx_validator_opts_policy(o, &pol);
    mk_validator *tv = mk_tdx_validator_new(o, &err);
    mk_tdx_validator_opts_free(o);
    if (!tv) fail_msg("tdx validator: %s", err.msg);
    TU_ASSERT_RC(mk_stream_producer_require(p, tv, &err), 0, &err);
    st_node n;
    st_node_net(&n, "snp-tdx", a);
    give_snp(n.nw, &good);
    st_node_consume(&n, "attested");
    st_node_expect_rejected(&n, "no ticket");
    /* Now the TDX ticket too. */
    mk_tdx_provider *prov = NULL;
    TU_ASSERT_RC(mk_tdx_provider_sim_new(tsim, NULL, &prov, &err), 0, &err);
    mk_tdx_attester *att = NULL;
    TU_ASSERT_RC(mk_tdx_attester_new(&(mk_tdx_attester_config){.provider = prov}, &att, &err), 0,
                 &err);
    mk_id peer, net;
    mk_network_peer_id(n.nw, &peer);
    mk_network_id(n.nw, &net);
    mk_ticket t;
    TU_ASSERT_RC(mk_tdx_attester_ticket(att, &peer, &net, mk_now(), &t, &err), 0, &err);
    TU_ASSERT_RC(mk_network_add_ticket(n.nw, &t, &err), 0, &err);
    mk_ticket_free(&t);
    ST_WAIT_UNTIL(st_node_admitted(&n), 10000, "admission with both tickets");
    st_node_free(&n);
    mk_stream_producer_free(p);
    mk_network_free(a);
    mk_tdx_attester_free(att);
    mk_tdx_provider_free(prov);
    mk_tdx_sim_free(tsim);
}

/* A TDX simulator ticket for nw (the simulator's root must be trusted). */
static void give_tdx(mk_network *nw, mk_tdx_sim *tsim) {
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_provider *prov = NULL;
    TU_ASSERT_RC(mk_tdx_provider_sim_new(tsim, NULL, &prov, &err), 0, &err);
    mk_tdx_attester *att = NULL;
    TU_ASSERT_RC(mk_tdx_attester_new(&(mk_tdx_attester_config){.provider = prov}, &att, &err), 0,
                 &err);
    mk_id peer, net;
    mk_network_peer_id(nw, &peer);
    mk_network_id(nw, &net);
    mk_ticket t;
    TU_ASSERT_RC(mk_tdx_attester_ticket(att, &peer, &net, mk_now(), &t, &err), 0, &err);
    TU_ASSERT_RC(mk_network_add_ticket(nw, &t, &err), 0, &err);
    mk_ticket_free(&t);
    mk_tdx_attester_free(att);
    mk_tdx_provider_free(prov);
}

/* A mixed fleet: either platform's ticket admits, neither is refused with
 * each member's reason. */
static void test_snp_or_tdx(void **state) {
    (void)state;
    mk_tdx_sim *tsim = NULL;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tdx_sim_new(NULL, &tsim, &err), 0, &err);
    const uint8_t *troot, *sroot;
    size_t tlen, slen;
    mk_tdx_sim_root_der(tsim, &troot, &tlen);
    mk_snp_sim_root_der(g_sim, &sroot, &slen);
    mk_tdx_validator_opts *o = mk_tdx_validator_opts_new();
    mk_tdx_policy pol;
    mk_tdx_policy_default(&pol);
    pol.chain_only = true;
    mk_tdx_validator_opts_policy(o, &pol);
    mk_snp_sim_guest good;
    mk_snp_sim_guest_default(&good);
    char meas[97];
    mk_hex_encode(good.measurement, 48, meas);
    const mk_validator_spec fleet =
        MK_ANY_OF(MK_TDX(.opts = o, .sim_root = troot, .sim_root_len = tlen),
                  MK_SNP(.measurement = meas, .sim_root = sroot, .sim_root_len = slen,
                         .max_lifetime = 24 * 3600));
    mk_validator *v = fleet.make(fleet.arg, &err);
    if (!v) fail_msg("any-of: %s", err.msg);
    mk_tdx_validator_opts_free(o);
    mk_network *a = st_net("snp-or-tdx", NULL);
    mk_stream_producer *p = st_producer_requiring(a, "fleet", v);
    st_node n[3];
    for (int i = 0; i < 3; i++)
        st_node_net(&n[i], "snp-or-tdx", a);
    give_snp(n[0].nw, &good);
    give_tdx(n[1].nw, tsim);
    for (int i = 0; i < 3; i++)
        st_node_consume(&n[i], "fleet");
    ST_WAIT_UNTIL(st_node_admitted(&n[0]), 10000, "the SNP node");
    ST_WAIT_UNTIL(st_node_admitted(&n[1]), 10000, "the TDX node");
    st_node_expect_rejected(&n[2], "no validator accepts (tdx: ");
    st_node_expect_rejected(&n[2], "; snp: ");
    for (int i = 0; i < 3; i++)
        st_node_free(&n[i]);
    mk_stream_producer_free(p);
    mk_network_free(a);
    mk_tdx_sim_free(tsim);
}
#endif

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snp_measurement),
        cmocka_unit_test(test_snp_untrusted_simulator),
        cmocka_unit_test(test_snp_attest),
#if MOSAIK_HAVE_TDX
        cmocka_unit_test(test_snp_and_tdx),
        cmocka_unit_test(test_snp_or_tdx),
#endif
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

#else
int main(void) {
    printf("streams SNP tests: built without SNP support, skipped\n");
    return 77; /* CTest: skipped (tests/test_util.h, "Skips") */
}
#endif
