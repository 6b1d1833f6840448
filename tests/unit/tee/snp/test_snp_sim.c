/*
 * tests/unit/tee/snp/test_snp_sim.c — the SEV-SNP simulator (sim.c,
 * sim_report.c) and the verifier's simulator trust (verify.c, chain.c):
 * simulated reports are refused, with a reason saying so, until the
 * simulator's root is trusted explicitly; then they verify through every
 * step and are marked simulated; AMD's chains are unaffected; persistence.
 */
#include "test_util.h"

#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "tee/snp/snp_internal.h"
#include "tee/tee_internal.h"

#define T_2026_06 1780272000LL

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

static mk_snp_verifier *verifier(bool trust) {
    mk_snp_verifier_config cfg;
    mk_snp_verifier_config_init(&cfg);
    if (trust) mk_snp_sim_root_der(g_sim, &cfg.simulator_root_der, &cfg.simulator_root_len);
    mk_snp_verifier *v = NULL;
    mk_error err;
    TU_ASSERT_RC(mk_snp_verifier_new(&cfg, &v, &err), 0, &err);
    return v;
}

static int verify(mk_snp_verifier *v, const mk_buf *rep, int64_t now, mk_snp_result *res,
                  mk_error *err) {
    const char *pem;
    size_t n;
    mk_snp_sim_chain_pem(g_sim, &pem, &n);
    mk_snp_certs c = {(const uint8_t *)pem, n, NULL, 0, NULL, 0};
    return mk_snp_verify(v, rep->data, rep->len, &c, now, res, err);
}

static void report(const mk_snp_sim_guest *g, mk_buf *out) {
    uint8_t rd[64];
    memset(rd, 0x5a, sizeof rd);
    mk_buf_init(out, 0);
    mk_error err;
    TU_ASSERT_RC(mk_snp_sim_report(g_sim, g, rd, out, &err), 0, &err);
    assert_int_equal(out->len, MK_SNP_REPORT_LEN);
}

static void test_refused_unless_trusted(void **state) {
    (void)state;
    mk_buf rep;
    report(NULL, &rep);
    mk_snp_verifier *v = verifier(false);
    mk_snp_result res;
    mk_error err;
    assert_int_equal(verify(v, &rep, mk_now(), &res, &err), MK_EUNTRUSTED);
    TU_ASSERT_REASON(&err, "chain: simulator root not trusted");
    TU_ASSERT_REASON(&err, "NOT real SEV-SNP");
    assert_false(res.simulated);
    assert_int_equal(res.valid_until, 0);
    mk_snp_verifier_free(v);

    v = verifier(true);
    TU_ASSERT_RC(verify(v, &rep, mk_now(), &res, &err), 0, &err);
    assert_true(res.simulated);
    assert_true(res.chain_verified);
    assert_int_equal(res.product, MK_SNP_MILAN);
    assert_int_equal(res.report.version, 3);
    assert_int_equal(res.signing_key, MK_SNP_KEY_VCEK);
    assert_int_equal(res.reported_tcb.snp, MK_SNP_SIM_TCB_SNP);
    assert_int_equal(res.reported_tcb.microcode, MK_SNP_SIM_TCB_MICROCODE);
    assert_memory_equal(res.report.chip_id, mk_snp_sim_chip_id(g_sim), 64);
    assert_string_equal(res.cert.product_name, "Milan-B0");
    mk_snp_sim_guest g;
    mk_snp_sim_guest_default(&g);
    assert_memory_equal(res.report.measurement, g.measurement, 48);
    assert_true(res.valid_until > mk_now());

    /* A second, different simulator root is refused; the same one is fine. */
    mk_snp_sim *other = NULL;
    TU_ASSERT_RC(mk_snp_sim_new(NULL, &other, &err), 0, &err);
    const uint8_t *der;
    size_t n;
    mk_snp_sim_root_der(other, &der, &n);
    assert_int_equal(mk_snp_verifier_trust_simulator(v, der, n, &err), MK_ESTATE);
    TU_ASSERT_REASON(&err, "a different simulator root is already trusted");
    mk_snp_sim_root_der(g_sim, &der, &n);
    TU_ASSERT_RC(mk_snp_verifier_trust_simulator(v, der, n, &err), 0, &err);
    /* Another simulator's report does not verify under this root. */
    mk_buf rep2;
    mk_buf_init(&rep2, 0);
    uint8_t rd[64] = {0};
    TU_ASSERT_RC(mk_snp_sim_report(other, NULL, rd, &rep2, &err), 0, &err);
    const char *pem;
    size_t pn;
    mk_snp_sim_chain_pem(other, &pem, &pn);
    mk_snp_certs c = {(const uint8_t *)pem, pn, NULL, 0, NULL, 0};
    assert_int_equal(mk_snp_verify(v, rep2.data, rep2.len, &c, mk_now(), &res, &err),
                     MK_EUNTRUSTED);
    TU_ASSERT_REASON(&err, "chain: ");
    mk_buf_free(&rep2);
    mk_snp_sim_free(other);
    mk_snp_verifier_free(v);
    mk_buf_free(&rep);
}

static void test_amd_unaffected(void **state) {
    (void)state;
    mk_snp_verifier *v = verifier(true);
    mk_buf rep, vcek;
    mk_buf_init(&rep, 0);
    mk_buf_init(&vcek, 0);
    tu_read_testdata("snp/virtee-milan/report.bin", &rep);
    tu_read_testdata("snp/virtee-milan/vcek.der", &vcek);
    mk_snp_certs c = {vcek.data, vcek.len, NULL, 0, NULL, 0};
    mk_snp_result res;
    mk_error err;
    TU_ASSERT_RC(mk_snp_verify(v, rep.data, rep.len, &c, T_2026_06, &res, &err), 0, &err);
    assert_false(res.simulated);
    /* The simulator's ASK offered with an AMD VCEK changes nothing. */
    const char *pem;
    size_t pn;
    mk_snp_sim_chain_pem(g_sim, &pem, &pn);
    c.chain = (const uint8_t *)pem;
    c.chain_len = pn;
    assert_int_equal(mk_snp_verify(v, rep.data, rep.len, &c, T_2026_06, &res, &err), MK_EUNTRUSTED);
    TU_ASSERT_REASON(&err, "hold a root 'mosaik simulated ARK-Milan' that is not AMD's pinned");
    mk_buf_free(&rep);
    mk_buf_free(&vcek);
    mk_snp_verifier_free(v);
}

static void test_policy_and_tamper(void **state) {
    (void)state;
    mk_snp_verifier *v = verifier(true);
    mk_snp_sim_guest g;
    mk_snp_sim_guest_default(&g);
    g.policy |= MK_SNP_POLICY_DEBUG;
    g.vmpl = 2;
    mk_buf rep;
    report(&g, &rep);
    mk_snp_result res;
    mk_error err;
    assert_int_equal(verify(v, &rep, mk_now(), &res, &err), MK_EPOLICY);
    TU_ASSERT_REASON(&err, "policy: ");
    TU_ASSERT_REASON(&err, "debug");
    assert_true(res.debug);
    mk_snp_policy p;
    mk_snp_policy_default(&p);
    p.allow_debug = true;
    p.max_vmpl = 1;
    mk_snp_verifier_set_policy(v, &p);
    assert_int_equal(verify(v, &rep, mk_now(), &res, &err), MK_EPOLICY);
    TU_ASSERT_REASON(&err, "VMPL 2");
    p.max_vmpl = 2;
    mk_snp_verifier_set_policy(v, &p);
    TU_ASSERT_RC(verify(v, &rep, mk_now(), &res, &err), 0, &err);
    assert_int_equal(res.report.vmpl, 2);
    /* One flipped bit of the measurement breaks the signature. */
    rep.data[0x90] ^= 1;
    assert_int_equal(verify(v, &rep, mk_now(), &res, &err), MK_EBADSIG);
    TU_ASSERT_REASON(&err, "signature: ");
    mk_buf_free(&rep);
    mk_snp_verifier_free(v);
}

static void test_cert_table_and_persistence(void **state) {
    (void)state;
    mk_buf tab, pem, rep;
    mk_buf_init(&tab, 0);
    mk_buf_init(&pem, 0);
    mk_error err;
    TU_ASSERT_RC(mk_snp_sim_cert_table(g_sim, &tab, &err), 0, &err);
    mk_snp_cert_table t;
    TU_ASSERT_RC(mk_snp_cert_table_parse(tab.data, tab.len, &t, &err), 0, &err);
    assert_int_equal(t.n, 3);
    assert_non_null(mk_snp_cert_table_find(&t, MK_SNP_CERT_VCEK));
    const mk_snp_cert_entry *ark = mk_snp_cert_table_find(&t, MK_SNP_CERT_ARK);
    const uint8_t *der;
    size_t n;
    mk_snp_sim_root_der(g_sim, &der, &n);
    assert_int_equal(ark->len, n);
    assert_memory_equal(ark->data, der, n);
    TU_ASSERT_RC(mk_snp_cert_table_to_pem(tab.data, tab.len, MK_SNP_KEY_VCEK, &pem, &err), 0, &err);
    const char *chain;
    size_t cn;
    mk_snp_sim_chain_pem(g_sim, &chain, &cn);
    assert_int_equal(pem.len, cn);
    assert_memory_equal(pem.data, chain, cn);

    /* Save, load: the same PKI and chip; load_or_create loads it. */
    char path[] = "/tmp/mk_snp_sim_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    TU_ASSERT_RC(mk_snp_sim_save(g_sim, path, &err), 0, &err);
    mk_snp_sim *l = NULL, *l2 = NULL;
    TU_ASSERT_RC(mk_snp_sim_load(path, &l, &err), 0, &err);
    const uint8_t *der2;
    size_t n2;
    mk_snp_sim_root_der(l, &der2, &n2);
    assert_int_equal(n2, n);
    assert_memory_equal(der2, der, n);
    assert_memory_equal(mk_snp_sim_chip_id(l), mk_snp_sim_chip_id(g_sim), 64);
    TU_ASSERT_RC(mk_snp_sim_load_or_create(path, NULL, &l2, &err), 0, &err);
    assert_memory_equal(mk_snp_sim_chip_id(l2), mk_snp_sim_chip_id(g_sim), 64);
    /* The loaded simulator's reports verify under the original root. */
    mk_buf_init(&rep, 0);
    uint8_t rd[64] = {1};
    TU_ASSERT_RC(mk_snp_sim_report(l, NULL, rd, &rep, &err), 0, &err);
    mk_snp_verifier *v = verifier(true);
    mk_snp_result res;
    TU_ASSERT_RC(verify(v, &rep, mk_now(), &res, &err), 0, &err);
    assert_memory_equal(res.report.report_data, rd, 64);
    mk_snp_verifier_free(v);
    mk_snp_sim_free(l);
    mk_snp_sim_free(l2);
    /* A damaged file is refused with a reason. */
    const char junk[] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    TU_ASSERT_RC(mk_file_write(path, junk, sizeof junk - 1, 0600, &err), 0, &err);
    assert_int_equal(mk_snp_sim_load(path, &l, &err), MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "ARK key missing");
    assert_null(l);
    unlink(path);
    /* load_or_create on a fresh path creates it. */
    TU_ASSERT_RC(mk_snp_sim_load_or_create(path, NULL, &l, &err), 0, &err);
    assert_int_equal(access(path, F_OK), 0);
    mk_snp_sim_free(l);
    unlink(path);
    mk_buf_free(&rep);
    mk_buf_free(&tab);
    mk_buf_free(&pem);
}

/* A simulator chain dressed as AMD's: an intermediate with the subject of
 * AMD's SEV-Milan ASK, signed by the simulator's root, issuing a VCEK. The
 * leaf names AMD's intermediate as its issuer, so it goes AMD's way even
 * with the simulator trusted, and is refused there. */
static void test_sim_dressed_as_amd(void **state) {
    (void)state;
    X509 *amd_ask = mk_snp_amd_cert_x509(MK_SNP_MILAN, MK_SNP_CA_ASK);
    assert_non_null(amd_ask);
    mk_tee_sim_cert_spec ca = {.kind = MK_TEE_SIM_CA, .cn = "x", .org = "x", .now = mk_now()};
    X509 *fake = mk_tee_sim_cert(&ca, g_sim->ask_key, g_sim->ark, g_sim->ark_key);
    assert_non_null(fake);
    assert_int_equal(X509_set_subject_name(fake, X509_get_subject_name(amd_ask)), 1);
    assert_true(X509_sign(fake, g_sim->ark_key, EVP_sha384()) > 0);
    EVP_PKEY *k = mk_tee_sim_keygen("P-384");
    X509 *vcek = mk_snp_sim_make_vcek(k, g_sim->chip_id, fake, g_sim->ask_key, mk_now());
    assert_non_null(vcek);
    char *pem = mk_tee_sim_pem_chain(vcek, fake, g_sim->ark, NULL);
    char *pem2 = mk_tee_sim_pem_chain(vcek, fake, NULL, NULL);
    assert_non_null(pem);
    mk_buf rep = MK_BUF_INIT;
    uint8_t rd[64] = {0};
    mk_snp_sim_guest g;
    mk_snp_sim_guest_default(&g);
    mk_error err;
    /* A report signed by that VCEK's key: the simulator's report, re-signed. */
    TU_ASSERT_RC(mk_snp_sim_report(g_sim, &g, rd, &rep, &err), 0, &err);
    uint8_t sig[96];
    TU_ASSERT_RC(mk_tee_sim_sign(k, MK_SHA384, rep.data, MK_SNP_SIGNED_LEN, sig, 48, &err), 0,
                 &err);
    for (int i = 0; i < 48; i++) {
        rep.data[MK_SNP_SIGNED_LEN + i] = sig[47 - i];
        rep.data[MK_SNP_SIGNED_LEN + 72 + i] = sig[95 - i];
    }
    mk_snp_verifier *v = verifier(true);
    mk_snp_result res;
    mk_snp_certs c = {(const uint8_t *)pem, strlen(pem), NULL, 0, NULL, 0};
    assert_int_equal(mk_snp_verify(v, rep.data, rep.len, &c, mk_now(), &res, &err), MK_EUNTRUSTED);
    TU_ASSERT_REASON(&err, "hold a root 'mosaik simulated ARK-Milan' that is not AMD's pinned");
    c.leaf = (const uint8_t *)pem2;
    c.leaf_len = strlen(pem2);
    assert_int_equal(mk_snp_verify(v, rep.data, rep.len, &c, mk_now(), &res, &err), MK_EUNTRUSTED);
    TU_ASSERT_REASON(&err, "offered as the intermediate is not AMD's");
    assert_false(res.simulated);
    mk_snp_verifier_free(v);
    free(pem);
    free(pem2);
    mk_buf_free(&rep);
    X509_free(vcek);
    X509_free(fake);
    EVP_PKEY_free(k);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_unless_trusted),     cmocka_unit_test(test_amd_unaffected),
        cmocka_unit_test(test_sim_dressed_as_amd),         cmocka_unit_test(test_policy_and_tamper),
        cmocka_unit_test(test_cert_table_and_persistence),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
