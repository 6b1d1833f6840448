/*
 * tests/unit/tee/snp/test_snp_validator.c — the SNP validator (validator.c):
 * simulated tickets refused unless the simulator is trusted, then admitted
 * through every step; each refusal with its reason (binding, baseline,
 * variants, peer, freshness, policy: debug, VMPL, minimum TCB); real
 * reports in tickets through AMD's chain; certificate precedence; the
 * signature (order-independent variants, certificate sources left out);
 * the factory.
 */
#include "test_util.h"

#include <openssl/pem.h>

#include "tee/snp/snp_internal.h"
#include "tee/tee_internal.h"

#define T_2026_06 1780272000LL
#define T_2025_06 1748736000LL

static mk_snp_sim *g_sim;

static int setup(void **state) {
    (void)state;
    mk_error err;
    return mk_snp_sim_new(NULL, &g_sim, &err);
}

static int teardown(void **state) {
    (void)state;
    mk_snp_sim_free(g_sim);
    return 0;
}

static mk_tee_extra_data extra_at(int64_t now) {
    mk_tee_extra_data x;
    memset(&x, 0, sizeof x);
    mk_id_from_name(&x.peer_id, "peer A");
    mk_id_from_name(&x.network_id, "net");
    x.started_at = now - 10;
    x.quoted_at = now;
    x.expiration = now + 3600;
    return x;
}

static mk_peer_view peer_of(const mk_tee_extra_data *x) {
    mk_peer_view p;
    memset(&p, 0, sizeof p);
    p.peer_id = x->peer_id;
    p.network_id = x->network_id;
    return p;
}

/* A ticket for x with a simulated report of g (NULL: the default guest),
 * the report data made for rd_for (NULL: x), carrying the sim's chain. */
static void sim_ticket(const mk_snp_sim_guest *g, const mk_tee_extra_data *x,
                       const mk_tee_extra_data *rd_for, mk_buf *out) {
    uint8_t rd[64];
    mk_snp_report_data(rd_for ? rd_for : x, rd);
    mk_buf rep;
    mk_buf_init(&rep, 0);
    mk_error err;
    TU_ASSERT_RC(mk_snp_sim_report(g_sim, g, rd, &rep, &err), 0, &err);
    const char *pem;
    size_t n;
    mk_snp_sim_chain_pem(g_sim, &pem, &n);
    mk_snp_ticket t;
    TU_ASSERT_RC(mk_snp_ticket_init(&t, x, rep.data, rep.len, pem, n, &err), 0, &err);
    mk_buf_init(out, 0);
    TU_ASSERT_RC(mk_snp_ticket_encode(&t, out, &err), 0, &err);
    mk_snp_ticket_free(&t);
    mk_buf_free(&rep);
}

static void cfg_sim(mk_snp_validator_config *cfg) {
    mk_snp_validator_config_init(cfg);
    mk_snp_sim_root_der(g_sim, &cfg->simulator_root_der, &cfg->simulator_root_len);
}

static mk_validator *make(const mk_snp_validator_config *cfg) {
    mk_validator *v = NULL;
    mk_error err;
    TU_ASSERT_RC(mk_snp_validator_new(cfg, &v, &err), 0, &err);
    return v;
}

static int run(const mk_validator *v, const mk_buf *t, const mk_tee_extra_data *x, int64_t now,
               mk_expiration *exp, mk_error *err) {
    mk_peer_view p = peer_of(x);
    return v->ops->validate(v, t->data, t->len, &p, now, exp, err);
}

static void test_simulated_needs_trust(void **state) {
    (void)state;
    int64_t now = mk_now();
    mk_tee_extra_data x = extra_at(now);
    mk_buf t;
    sim_ticket(NULL, &x, NULL, &t);
    mk_snp_validator_config cfg;
    mk_snp_validator_config_init(&cfg);
    mk_validator *v = make(&cfg);
    mk_expiration exp = 0;
    mk_error err;
    assert_int_equal(run(v, &t, &x, now, &exp, &err), MK_EUNTRUSTED);
    TU_ASSERT_REASON(&err, "SNP report: chain: simulator root not trusted");
    mk_validator_free(v);

    cfg_sim(&cfg);
    v = make(&cfg);
    TU_ASSERT_RC(run(v, &t, &x, now, &exp, &err), 0, &err);
    assert_int_equal(exp, x.expiration);
    mk_snp_result res;
    mk_peer_view p = peer_of(&x);
    TU_ASSERT_RC(mk_snp_validator_validate_ex(v, t.data, t.len, &p, now, &exp, &res, &err), 0,
                 &err);
    assert_true(res.simulated);
    assert_int_equal(res.product, MK_SNP_MILAN);
    /* Through the generic interface, with a peer carrying the ticket. */
    mk_ticket g;
    mk_snp_ticket st;
    TU_ASSERT_RC(mk_snp_ticket_decode(t.data, t.len, &st, &err), 0, &err);
    TU_ASSERT_RC(mk_snp_ticket_to_generic(&st, &g, &err), 0, &err);
    p.tickets = &g;
    p.n_tickets = 1;
    TU_ASSERT_RC(mk_validator_check(v, &p, now, &exp, &err), 0, &err);
    mk_id cls, want;
    mk_validator_class(v, &cls);
    mk_snp_ticket_class(&want);
    assert_true(mk_id_eq(&cls, &want));
    assert_int_equal(mk_snp_validator_validate_ex(NULL, t.data, t.len, &p, now, &exp, NULL, &err),
                     MK_EINVAL);
    mk_ticket_free(&g);
    mk_snp_ticket_free(&st);
    mk_validator_free(v);
    mk_buf_free(&t);
}

static void test_binding_peer_freshness(void **state) {
    (void)state;
    int64_t now = mk_now();
    mk_tee_extra_data x = extra_at(now), other = x;
    other.expiration += 1;
    mk_snp_validator_config cfg;
    cfg_sim(&cfg);
    cfg.max_age = 60;
    mk_validator *v = make(&cfg);
    mk_error err;
    mk_expiration exp;
    mk_buf t;
    /* The report was made for other extra data. */
    sim_ticket(NULL, &x, &other, &t);
    assert_int_equal(run(v, &t, &x, now, &exp, &err), MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "report data does not bind the ticket's extra data");
    mk_buf_free(&t);
    /* Another peer presents it. */
    sim_ticket(NULL, &x, NULL, &t);
    mk_tee_extra_data y = x;
    mk_id_from_name(&y.peer_id, "peer B");
    assert_int_equal(run(v, &t, &y, now, &exp, &err), MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "peer");
    /* Too old for max_age. */
    assert_int_equal(run(v, &t, &x, now + 61, &exp, &err), MK_EEXPIRED);
    /* Expired. */
    mk_validator_free(v);
    cfg.max_age = 0;
    v = make(&cfg);
    assert_int_equal(run(v, &t, &x, x.expiration + 1, &exp, &err), MK_EEXPIRED);
    TU_ASSERT_RC(run(v, &t, &x, now + 100, &exp, &err), 0, &err);
    mk_validator_free(v);
    mk_buf_free(&t);
}

static void test_criteria(void **state) {
    (void)state;
    int64_t now = mk_now();
    mk_tee_extra_data x = extra_at(now);
    mk_snp_sim_guest g;
    mk_snp_sim_guest_default(&g);
    memset(g.host_data, 0x11, 32);
    memset(g.id_key_digest, 0x22, 48);
    g.guest_svn = 7;
    mk_buf t;
    sim_ticket(&g, &x, NULL, &t);
    mk_snp_validator_config cfg;
    cfg_sim(&cfg);
    mk_snp_criteria_require_measurement(&cfg.baseline, g.measurement);
    mk_snp_criteria_require_host_data(&cfg.baseline, g.host_data);
    mk_snp_criteria_require_id_key_digest(&cfg.baseline, g.id_key_digest);
    mk_snp_criteria_require_min_guest_svn(&cfg.baseline, 7);
    mk_validator *v = make(&cfg);
    mk_error err;
    mk_expiration exp;
    TU_ASSERT_RC(run(v, &t, &x, now, &exp, &err), 0, &err);
    mk_validator_free(v);

    uint8_t wrong[48];
    memset(wrong, 0x33, sizeof wrong);
    mk_snp_validator_config c2 = cfg;
    mk_snp_criteria_require_host_data(&c2.baseline, wrong);
    v = make(&c2);
    assert_int_equal(run(v, &t, &x, now, &exp, &err), MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "host_data mismatch: want 3333");
    mk_validator_free(v);
    c2 = cfg;
    mk_snp_criteria_require_min_guest_svn(&c2.baseline, 8);
    v = make(&c2);
    assert_int_equal(run(v, &t, &x, now, &exp, &err), MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "guest_svn 7 is below the minimum 8");
    mk_validator_free(v);

    /* Variants: one must match; the order does not change the signature. */
    mk_snp_criteria vs[2];
    mk_snp_criteria_init(&vs[0]);
    mk_snp_criteria_init(&vs[1]);
    mk_snp_criteria_require_measurement(&vs[0], wrong);
    mk_snp_criteria_require_measurement(&vs[1], g.measurement);
    c2 = cfg;
    c2.variants = vs;
    c2.n_variants = 2;
    v = make(&c2);
    TU_ASSERT_RC(run(v, &t, &x, now, &exp, &err), 0, &err);
    mk_snp_criteria rev[2] = {vs[1], vs[0]};
    c2.variants = rev;
    mk_validator *v2 = make(&c2);
    mk_id s1, s2;
    mk_validator_signature(v, &s1);
    mk_validator_signature(v2, &s2);
    assert_true(mk_id_eq(&s1, &s2));
    mk_validator_free(v2);
    mk_validator_free(v);
    c2.n_variants = 1; /* only the wrong one */
    c2.variants = vs;
    v = make(&c2);
    assert_int_equal(run(v, &t, &x, now, &exp, &err), MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "no variant matches (1: measurement mismatch");
    mk_validator_free(v);
    /* A variant pinning nothing is refused at construction. */
    mk_snp_criteria_init(&vs[0]);
    assert_int_equal(mk_snp_validator_new(&c2, &v, &err), MK_EINVAL);
    TU_ASSERT_REASON(&err, "SNP validator: variant 1 pins nothing");
    assert_null(v);
    mk_buf_free(&t);
}

static void test_policy(void **state) {
    (void)state;
    int64_t now = mk_now();
    mk_tee_extra_data x = extra_at(now);
    mk_snp_sim_guest g;
    mk_snp_sim_guest_default(&g);
    g.policy |= MK_SNP_POLICY_DEBUG;
    g.vmpl = 1;
    mk_buf t;
    sim_ticket(&g, &x, NULL, &t);
    mk_snp_validator_config cfg;
    cfg_sim(&cfg);
    mk_validator *v = make(&cfg);
    mk_error err;
    mk_expiration exp;
    assert_int_equal(run(v, &t, &x, now, &exp, &err), MK_EPOLICY);
    TU_ASSERT_REASON(&err, "SNP report: policy: ");
    TU_ASSERT_REASON(&err, "debug");
    mk_id sig_default;
    mk_validator_signature(v, &sig_default);
    mk_validator_free(v);
    cfg.policy.allow_debug = true;
    cfg.policy.max_vmpl = 0;
    v = make(&cfg);
    assert_int_equal(run(v, &t, &x, now, &exp, &err), MK_EPOLICY);
    TU_ASSERT_REASON(&err, "VMPL 1");
    mk_validator_free(v);
    cfg.policy.max_vmpl = 1;
    cfg.policy.min_tcb.snp = MK_SNP_SIM_TCB_SNP + 1;
    v = make(&cfg);
    assert_int_equal(run(v, &t, &x, now, &exp, &err), MK_EPOLICY);
    TU_ASSERT_REASON(&err, "snp SVN 22 is below the minimum 23");
    mk_validator_free(v);
    cfg.policy.min_tcb.snp = MK_SNP_SIM_TCB_SNP;
    v = make(&cfg);
    TU_ASSERT_RC(run(v, &t, &x, now, &exp, &err), 0, &err);
    mk_id sig;
    mk_validator_signature(v, &sig);
    assert_false(mk_id_eq(&sig, &sig_default));
    mk_validator_free(v);
    mk_buf_free(&t);
}

/* A ticket around a real report and its leaf (the report data binds
 * nothing of ours: verification must pass and binding fail). */
static void real_ticket(const char *dir, const char *leaf, const mk_tee_extra_data *x,
                        mk_buf *out) {
    char rel[128];
    mk_buf rep, pem;
    mk_buf_init(&rep, 0);
    mk_buf_init(&pem, 0);
    snprintf(rel, sizeof rel, "snp/%s/report.bin", dir);
    tu_read_testdata(rel, &rep);
    snprintf(rel, sizeof rel, "snp/%s/%s", dir, leaf);
    tu_read_testdata(rel, &pem);
    if (strstr(leaf, ".der")) { /* tickets carry PEM text */
        X509 *c = mk_tee_x509_from_der(pem.data, pem.len);
        assert_non_null(c);
        BIO *bio = BIO_new(BIO_s_mem());
        assert_int_equal(PEM_write_bio_X509(bio, c), 1);
        char *p = NULL;
        long n = BIO_get_mem_data(bio, &p);
        mk_buf_reset(&pem);
        mk_buf_append(&pem, p, (size_t)n);
        BIO_free(bio);
        X509_free(c);
    }
    mk_snp_ticket t;
    mk_error err;
    TU_ASSERT_RC(
        mk_snp_ticket_init(&t, x, rep.data, rep.len, (const char *)pem.data, pem.len, &err), 0,
        &err);
    mk_buf_init(out, 0);
    TU_ASSERT_RC(mk_snp_ticket_encode(&t, out, &err), 0, &err);
    mk_snp_ticket_free(&t);
    mk_buf_free(&rep);
    mk_buf_free(&pem);
}

static void test_real_reports(void **state) {
    (void)state;
    mk_snp_validator_config cfg;
    mk_snp_validator_config_init(&cfg);
    mk_validator *v = make(&cfg);
    mk_error err;
    mk_expiration exp;
    mk_buf t;
    mk_tee_extra_data x = extra_at(T_2026_06);
    mk_snp_result res;
    mk_peer_view p = peer_of(&x);
    /* Verified to AMD's Milan ARK, then refused at the binding step. */
    real_ticket("ms-genoa", "vcek.pem", &x, &t);
    assert_int_equal(
        mk_snp_validator_validate_ex(v, t.data, t.len, &p, T_2026_06, &exp, &res, &err),
        MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "report data does not bind");
    assert_true(res.chain_verified);
    assert_false(res.simulated);
    assert_int_equal(res.product, MK_SNP_GENOA);
    mk_buf_free(&t);
    /* The debug report: refused by the default policy. */
    real_ticket("gsg-milan-debug", "vcek.der", &x, &t);
    assert_int_equal(run(v, &t, &x, T_2026_06, &exp, &err), MK_EPOLICY);
    TU_ASSERT_REASON(&err, "SNP report: policy: ");
    mk_buf_free(&t);
    mk_validator_free(v);
    /* The VLEK report at VMPL 1, with VMPL 0 the maximum. */
    x = extra_at(T_2025_06);
    real_ticket("trustee-vlek", "vlek.der", &x, &t);
    cfg.policy.max_vmpl = 0;
    v = make(&cfg);
    assert_int_equal(run(v, &t, &x, T_2025_06, &exp, &err), MK_EPOLICY);
    TU_ASSERT_REASON(&err, "VMPL 1");
    mk_validator_free(v);
    /* VCEK-only. */
    cfg.policy.max_vmpl = 3;
    cfg.policy.accepted_keys = MK_SNP_KEY_BIT(MK_SNP_KEY_VCEK);
    v = make(&cfg);
    assert_int_equal(run(v, &t, &x, T_2025_06, &exp, &err), MK_EPOLICY);
    TU_ASSERT_REASON(&err, "reports signed by a VLEK are not accepted");
    mk_validator_free(v);
    /* With a KDS fetcher the ticket's VCEK is not used, but a VLEK is (the
     * KDS serves none): the report verifies, the binding then fails. */
    mk_snp_fetch_opts fo = {.base_url = "http://127.0.0.1:9",
                            .insecure_http_ok = true,
                            .max_attempts = 1,
                            .timeout_ms = 500};
    mk_snp_validator_config_init(&cfg);
    cfg.fetch = &fo;
    v = make(&cfg);
    assert_int_equal(run(v, &t, &x, T_2025_06, &exp, &err), MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "report data does not bind");
    mk_validator_free(v);
    /* Without the ticket's certificates there is nothing to verify with. */
    mk_snp_validator_config_init(&cfg);
    cfg.certs_from_ticket = false;
    v = make(&cfg);
    assert_int_equal(run(v, &t, &x, T_2025_06, &exp, &err), MK_ENOTFOUND);
    TU_ASSERT_REASON(&err, "SNP report: certificate: ");
    mk_validator_free(v);
    mk_buf_free(&t);
}

static void test_operator_certs_win(void **state) {
    (void)state;
    int64_t now = mk_now();
    mk_tee_extra_data x = extra_at(now);
    mk_buf t;
    sim_ticket(NULL, &x, NULL, &t);
    /* The operator names a VCEK of another chip: the ticket's is not used. */
    mk_buf vcek;
    mk_buf_init(&vcek, 0);
    tu_read_testdata("snp/virtee-milan/vcek.der", &vcek);
    mk_snp_validator_config cfg;
    cfg_sim(&cfg);
    mk_id s_plain, s_certs;
    mk_validator *v = make(&cfg);
    mk_validator_signature(v, &s_plain);
    mk_validator_free(v);
    cfg.certs.leaf = vcek.data;
    cfg.certs.leaf_len = vcek.len;
    v = make(&cfg);
    mk_validator_signature(v, &s_certs);
    assert_true(mk_id_eq(&s_plain, &s_certs)); /* sources are not requirements */
    mk_error err;
    mk_expiration exp;
    assert_int_equal(run(v, &t, &x, now, &exp, &err), MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "SNP report: TCB: the certificate's blSPL 3 differs");
    mk_validator_free(v);
    mk_buf_free(&vcek);
    mk_buf_free(&t);
}

static void test_factory(void **state) {
    (void)state;
    mk_snp_validator_config cfg;
    cfg_sim(&cfg);
    cfg.max_lifetime = 7200;
    mk_error err;
    mk_validator *a = mk_snp_spec_factory(&(const mk_snp_spec){.config = &cfg}, &err);
    assert_non_null(a);
    mk_validator *b = make(&cfg);
    mk_id sa, sb;
    mk_validator_signature(a, &sa);
    mk_validator_signature(b, &sb);
    assert_true(mk_id_eq(&sa, &sb));
    assert_string_equal(a->ops->name, "snp");
    /* Trusting the simulator is part of the signature. */
    mk_validator_free(b);
    cfg.simulator_root_der = NULL;
    cfg.simulator_root_len = 0;
    b = make(&cfg);
    mk_validator_signature(b, &sb);
    assert_false(mk_id_eq(&sa, &sb));
    mk_validator_free(a);
    mk_validator_free(b);
    assert_null(mk_snp_spec_factory(NULL, &err));
    TU_ASSERT_REASON(&err, "snp spec: none");
    /* A declaration's spec: its fields over the base equal the same
     * settings made in the configuration. */
    mk_snp_validator_config base;
    cfg_sim(&base);
    const uint8_t *root;
    size_t root_len;
    root = base.simulator_root_der;
    root_len = base.simulator_root_len;
    base.simulator_root_der = NULL;
    base.simulator_root_len = 0;
    char hex[97];
    memset(hex, 'a', 96);
    hex[96] = 0;
    const mk_validator_spec spec = MK_SNP(.config = &base, .measurement = hex, .sim_root = root,
                                          .sim_root_len = root_len, .max_lifetime = 7200);
    a = spec.make(spec.arg, &err);
    assert_non_null(a);
    mk_snp_validator_config same = base;
    same.simulator_root_der = root;
    same.simulator_root_len = root_len;
    same.max_lifetime = 7200;
    TU_ASSERT_RC(mk_snp_criteria_require_hex(&same.baseline, MK_SNP_REQ_MEASUREMENT, hex, &err), 0,
                 &err);
    b = make(&same);
    mk_validator_signature(a, &sa);
    mk_validator_signature(b, &sb);
    assert_true(mk_id_eq(&sa, &sb));
    mk_validator_free(a);
    mk_validator_free(b);
    /* A malformed field is refused with its name. */
    const mk_validator_spec bad = MK_SNP(.measurement = "12zz");
    assert_null(bad.make(bad.arg, &err));
    TU_ASSERT_REASON(&err, "snp spec: measurement");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simulated_needs_trust),
        cmocka_unit_test(test_binding_peer_freshness),
        cmocka_unit_test(test_criteria),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_real_reports),
        cmocka_unit_test(test_operator_certs_win),
        cmocka_unit_test(test_factory),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
