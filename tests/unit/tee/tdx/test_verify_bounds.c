/*
 * tests/unit/tee/tdx/test_verify_bounds.c — checks of mk_tdx_verify that only
 * a document or quote made for the purpose exercises, each refusal asserted
 * by its reason (the mutants of tests/mutants/tdx_verify.mut that the other
 * tests let survive):
 *   - the QE report data's upper 32 bytes must be zero (the QE report
 *     signed again by the PCK key, so only that differs);
 *   - the PCK certificate must be issued by a PCK CA (a PCK certificate
 *     the root issued directly), and a PCK chain has at most two
 *     certificates below the root;
 *   - the TCB info signer must be issued by the root itself, the PCK CRL's
 *     issuer too; the root CA CRL must be the root's (another CA's, and a
 *     CRL in the root's name under another key); Intel's TCB info beside
 *     the simulator's CRLs is refused (the root CA CRL does not cover it);
 *   - collateral for another FMSPC is refused at the collateral step;
 *   - the policy's tcbEvaluationDataNumber minimum at its bound.
 * Every case first shows that the unchanged documents verify; each has its
 * own simulator (it changes the simulator's chain or QE report).
 */
#include "test_util.h"

#include <openssl/pem.h>

#include "sim_docs_util.h"
#include "tee/tdx/collateral_internal.h"

#define NOW 1752919234LL /* the phala-v4 collateral is valid at exactly this second */

typedef struct fixture {
    mk_tdx_sim *sim;
    mk_tdx_verifier *v;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    mk_error err;
    mk_error_clear(&err);
    if (!f || mk_tdx_sim_new(&(mk_tdx_sim_config){.now = NOW}, &f->sim, &err) < 0) return -1;
    const uint8_t *der;
    size_t len;
    mk_tdx_sim_root_der(f->sim, &der, &len);
    mk_tdx_verifier_config cfg;
    mk_tdx_verifier_config_init(&cfg);
    cfg.simulator_root_der = der;
    cfg.simulator_root_len = len;
    if (mk_tdx_verifier_new(&cfg, &f->v, &err) < 0) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    mk_tdx_verifier_free(f->v);
    mk_tdx_sim_free(f->sim);
    free(f);
    return 0;
}

static void quote(fixture *f, mk_buf *q) {
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    uint8_t rd[64] = {7};
    mk_error err;
    mk_buf_init(q, 0);
    TU_ASSERT_RC(mk_tdx_sim_quote(f->sim, &td, rd, q, &err), 0, &err);
}

/* mk_tdx_verify of a fresh simulator quote with the bundle (NULL: the
 * simulator's own); returns the code. */
static int verify(fixture *f, const mk_buf *bundle, mk_tdx_result *r, mk_error *err) {
    mk_buf q, own = MK_BUF_INIT;
    quote(f, &q);
    if (!bundle) {
        sd_bundle(f->sim, NOW, NULL, &own);
        bundle = &own;
    }
    mk_tdx_collateral *c = sd_collateral(bundle);
    int rc = mk_tdx_verify(f->v, q.data, q.len, c, NOW, r, err);
    mk_tdx_collateral_free(c);
    mk_buf_free(&q);
    mk_buf_free(&own);
    return rc;
}

static void assert_reason_is(const mk_error *err, const char *want) {
    if (strcmp(err->msg, want) != 0) fail_msg("reason \"%s\", want \"%s\"", err->msg, want);
}

/* ------------------------------------------------------------------ */
/* The QE report and the PCK chain                                      */
/* ------------------------------------------------------------------ */

static void qe_report_data_upper_half(void **state) {
    fixture *f = *state;
    mk_tdx_result r;
    mk_error err;
    TU_ASSERT_RC(verify(f, NULL, &r, &err), 0, &err);
    /* SGX report: report data at offset 320; its second half must be 0. */
    mk_tdx_sim *s = f->sim;
    s->qe_report[320 + 63] = 1;
    TU_ASSERT_RC(
        mk_tdx_sim_sign(s->pck_key, s->qe_report, sizeof s->qe_report, s->qe_report_sig, &err), 0,
        &err);
    TU_ASSERT_RC(verify(f, NULL, &r, &err), MK_EMISMATCH, &err);
    assert_reason_is(&err, "QE report: report data is not SHA-256(attestation key || QE auth "
                           "data) || zeros; the attestation key is not the QE's");
    s->qe_report[320 + 63] = 0;
    TU_ASSERT_RC(
        mk_tdx_sim_sign(s->pck_key, s->qe_report, sizeof s->qe_report, s->qe_report_sig, &err), 0,
        &err);
    TU_ASSERT_RC(verify(f, NULL, &r, &err), 0, &err);
}

/* Replace the PCK chain the simulator puts in its quotes. */
static void set_chain(mk_tdx_sim *s, char *pem) {
    free(s->pck_chain);
    s->pck_chain = pem;
    s->pck_chain_len = strlen(pem);
}

static void pck_chain_shape(void **state) {
    fixture *f = *state;
    mk_tdx_sim *s = f->sim;
    mk_tdx_result r;
    mk_error err;
    char *orig = strdup(s->pck_chain);
    assert_non_null(orig);
    /* The same PCK key in a certificate the root issued itself. */
    X509 *direct = mk_tdx_sim_make_cert(MK_TDX_SIM_CERT_PCK, MK_TDX_SIM_CN_PCK, s->pck_key, s->root,
                                        s->root_key, NOW);
    assert_non_null(direct);
    set_chain(s, mk_tee_sim_pem_chain(direct, s->root, NULL, NULL));
    TU_ASSERT_RC(verify(f, NULL, &r, &err), MK_EUNTRUSTED, &err);
    assert_reason_is(&err, "PCK chain: the PCK certificate is not issued by a PCK CA");
    /* Three certificates below the root: PCK <- CA <- PCK CA (<- root, not
     * carried: with it the chain is over the count cap first). */
    EVP_PKEY *k = mk_tdx_sim_keygen();
    X509 *mid = mk_tdx_sim_make_cert(MK_TDX_SIM_CERT_CA, "mosaik simulated extra CA", k, s->pck_ca,
                                     s->pck_ca_key, NOW);
    X509 *deep =
        mk_tdx_sim_make_cert(MK_TDX_SIM_CERT_PCK, MK_TDX_SIM_CN_PCK, s->pck_key, mid, k, NOW);
    assert_non_null(mid);
    assert_non_null(deep);
    set_chain(s, mk_tee_sim_pem_chain(deep, mid, s->pck_ca, NULL));
    TU_ASSERT_RC(verify(f, NULL, &r, &err), MK_EMALFORMED, &err);
    assert_reason_is(&err, "PCK chain: chain has 3 certificates below the root (max 2)");
    set_chain(s, orig);
    TU_ASSERT_RC(verify(f, NULL, &r, &err), 0, &err);
    X509_free(direct);
    X509_free(mid);
    X509_free(deep);
    EVP_PKEY_free(k);
}

/* ------------------------------------------------------------------ */
/* Collateral chains and CRLs                                          */
/* ------------------------------------------------------------------ */

/* The simulator's bundle (with p's parts) and then the members kv sets:
 * key/value string pairs, NULL-ended, carried as they are. */
static void bundle_with(fixture *f, const sd_parts *p, const char *const *kv, mk_buf *out) {
    mk_buf b = MK_BUF_INIT;
    sd_bundle(f->sim, NOW, p, &b);
    json_error_t je;
    json_t *o = json_loadb((const char *)b.data, b.len, 0, &je);
    assert_non_null(o);
    for (size_t i = 0; kv && kv[i]; i += 2)
        sd_set_str(o, kv[i], kv[i + 1], strlen(kv[i + 1]));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_non_null(s);
    mk_buf_reset(out);
    assert_int_equal(mk_buf_append_str(out, s), 0);
    free(s);
    json_decref(o);
    mk_buf_free(&b);
}

static void tcb_signer_issued_by_the_root(void **state) {
    fixture *f = *state;
    mk_tdx_sim *s = f->sim;
    mk_tdx_result r;
    mk_error err;
    /* A "TCB Signing" certificate below another CA of the same root. */
    EVP_PKEY *ck, *lk = mk_tdx_sim_keygen();
    X509 *ca = sd_other_ca(s, "mosaik simulated Intermediate CA", NOW, &ck);
    X509 *signer = mk_tdx_sim_make_cert(MK_TDX_SIM_CERT_TCB, MK_TDX_SIM_CN_TCB, lk, ca, ck, NOW);
    assert_non_null(signer);
    char *text = sd_member(s, NOW, "tcb_info");
    uint8_t sig[64];
    TU_ASSERT_RC(mk_tdx_sim_sign(lk, text, strlen(text), sig, &err), 0, &err);
    char sighex[129];
    mk_hex_encode(sig, 64, sighex);
    char *chain = mk_tee_sim_pem_chain(signer, ca, s->root, NULL);
    mk_buf j = MK_BUF_INIT;
    bundle_with(
        f, NULL,
        (const char *const[]){"tcb_info_issuer_chain", chain, "tcb_info_signature", sighex, NULL},
        &j);
    TU_ASSERT_RC(verify(f, &j, &r, &err), MK_EUNTRUSTED, &err);
    assert_reason_is(&err, "collateral: TCB info: signer '" MK_TDX_SIM_CN_TCB
                           "' is not a TCB signing certificate issued by the root");
    free(chain);
    free(text);
    mk_buf_free(&j);
    X509_free(signer);
    X509_free(ca);
    EVP_PKEY_free(ck);
    EVP_PKEY_free(lk);
}

static void pck_crl_issuer_issued_by_the_root(void **state) {
    fixture *f = *state;
    mk_tdx_sim *s = f->sim;
    mk_tdx_result r;
    mk_error err;
    /* A CRL issuer with the PCK CA's name, below another CA. */
    EVP_PKEY *ck, *lk = mk_tdx_sim_keygen();
    X509 *ca = sd_other_ca(s, "mosaik simulated Intermediate CA", NOW, &ck);
    X509 *issuer = mk_tdx_sim_make_cert(MK_TDX_SIM_CERT_TCB, MK_TDX_SIM_CN_PCK_CA, lk, ca, ck, NOW);
    assert_non_null(issuer);
    mk_buf crl = MK_BUF_INIT, j = MK_BUF_INIT;
    sd_crl(issuer, lk, NOW, NULL, 0, &crl);
    char *chain = mk_tee_sim_pem_chain(issuer, ca, s->root, NULL);
    sd_bundle(s, NOW, &(sd_parts){.pck_crl = &crl, .pck_crl_chain = chain}, &j);
    TU_ASSERT_RC(verify(f, &j, &r, &err), MK_EUNTRUSTED, &err);
    assert_reason_is(&err, "collateral: PCK CRL issuer '" MK_TDX_SIM_CN_PCK_CA
                           "' is not issued by the root");
    free(chain);
    mk_buf_free(&crl);
    mk_buf_free(&j);
    X509_free(issuer);
    X509_free(ca);
    EVP_PKEY_free(ck);
    EVP_PKEY_free(lk);
}

static void root_crl_is_the_roots(void **state) {
    fixture *f = *state;
    mk_tdx_sim *s = f->sim;
    mk_tdx_result r;
    mk_error err;
    mk_buf crl = MK_BUF_INIT, j = MK_BUF_INIT;
    TU_ASSERT_RC(verify(f, NULL, &r, &err), 0, &err);
    /* Another CA's CRL as the root CA CRL. */
    EVP_PKEY *ck;
    X509 *ca = sd_other_ca(s, "mosaik simulated Intermediate CA", NOW, &ck);
    sd_crl(ca, ck, NOW, NULL, 0, &crl);
    sd_bundle(s, NOW, &(sd_parts){.root_crl = &crl}, &j);
    TU_ASSERT_RC(verify(f, &j, &r, &err), MK_EMISMATCH, &err);
    assert_reason_is(&err, "collateral: root CA CRL is not issued by the trusted root");
    /* A CRL in the root's name, signed by another key. */
    EVP_PKEY *fk = mk_tdx_sim_keygen();
    X509 *fake = mk_tdx_sim_make_cert(MK_TDX_SIM_CERT_ROOT, MK_TDX_SIM_CN_ROOT, fk, NULL, fk, NOW);
    assert_non_null(fake);
    sd_crl(fake, fk, NOW, NULL, 0, &crl);
    sd_bundle(s, NOW, &(sd_parts){.root_crl = &crl}, &j);
    TU_ASSERT_RC(verify(f, &j, &r, &err), MK_EBADSIG, &err);
    TU_ASSERT_REASON(&err, "collateral: root CA CRL: signature of the CRL of '");
    mk_buf_free(&crl);
    mk_buf_free(&j);
    X509_free(ca);
    X509_free(fake);
    EVP_PKEY_free(ck);
    EVP_PKEY_free(fk);
}

static void one_root_for_all_chains(void **state) {
    fixture *f = *state;
    mk_tdx_result r;
    mk_error err;
    /* Intel's TCB info (valid at NOW) beside the simulator's CRLs and QE
     * identity: every signature verifies, under two roots. */
    mk_buf cj = MK_BUF_INIT, j = MK_BUF_INIT;
    tu_read_testdata("tdx/phala-v4/collateral.json", &cj);
    json_error_t je;
    json_t *intel = json_loadb((const char *)cj.data, cj.len, 0, &je);
    assert_non_null(intel);
    const char *keys[] = {"tcb_info", "tcb_info_signature", "tcb_info_issuer_chain"};
    const char *kv[7];
    for (int i = 0; i < 3; i++) {
        kv[2 * i] = keys[i];
        kv[2 * i + 1] = json_string_value(json_object_get(intel, keys[i]));
        assert_non_null(kv[2 * i + 1]);
    }
    kv[6] = NULL;
    bundle_with(f, NULL, kv, &j);
    /* The root CA CRL (the simulator root's, as the PCK CRL chain ends
     * there) cannot cover Intel's signer: refused at that step, before the
     * final one-root check (which this order makes a second line). */
    TU_ASSERT_RC(verify(f, &j, &r, &err), MK_EMISMATCH, &err);
    assert_reason_is(&err, "collateral: TCB info signer 'Intel SGX TCB Signing': CRL issued by "
                           "'" MK_TDX_SIM_CN_ROOT "' does not cover certificate 'Intel SGX TCB "
                           "Signing' (issuer 'Intel SGX Root CA')");
    json_decref(intel);
    mk_buf_free(&cj);
    mk_buf_free(&j);
}

static void collateral_for_another_fmspc(void **state) {
    fixture *f = *state;
    mk_tdx_result r;
    mk_error err;
    char *tcb = sd_member(f->sim, NOW, "tcb_info");
    char *other =
        sd_replace(tcb, NULL, "\"fmspc\":\"" MK_TDX_SIM_FMSPC "\"", "\"fmspc\":\"00606A000000\"");
    mk_buf j = MK_BUF_INIT;
    sd_bundle(f->sim, NOW, &(sd_parts){.tcb_info = other}, &j);
    TU_ASSERT_RC(verify(f, &j, &r, &err), MK_EMISMATCH, &err);
    assert_reason_is(&err, "collateral: TCB info is for FMSPC 00606a000000, the platform's is "
                           "4d4b53494d00");
    free(tcb);
    free(other);
    mk_buf_free(&j);
}

/* ------------------------------------------------------------------ */
/* Policy bounds                                                        */
/* ------------------------------------------------------------------ */

static void min_eval_number_bound(void **state) {
    fixture *f = *state;
    mk_tdx_result r;
    mk_error err;
    mk_buf j = MK_BUF_INIT;
    sd_bundle(f->sim, NOW, NULL, &j);
    mk_tdx_collateral *c = sd_collateral(&j);
    uint32_t ti = mk_tdx_collateral_tcb_info(c)->eval_number;
    uint32_t qi = mk_tdx_collateral_qe_identity(c)->eval_number;
    mk_tdx_collateral_free(c);
    assert_int_equal(ti, qi); /* so each bound below is the TCB info's */
    mk_tdx_policy p;
    mk_tdx_policy_default(&p);
    p.min_tcb_evaluation_data_number = ti;
    mk_tdx_verifier_set_policy(f->v, &p);
    TU_ASSERT_RC(verify(f, &j, &r, &err), 0, &err);
    p.min_tcb_evaluation_data_number = ti + 1;
    mk_tdx_verifier_set_policy(f->v, &p);
    TU_ASSERT_RC(verify(f, &j, &r, &err), MK_EPOLICY, &err);
    char want[160];
    snprintf(want, sizeof want,
             "policy: collateral TCB info tcbEvaluationDataNumber %lu is below the required %lu",
             (unsigned long)ti, (unsigned long)ti + 1);
    assert_reason_is(&err, want);
    mk_tdx_policy_default(&p);
    mk_tdx_verifier_set_policy(f->v, &p);
    mk_buf_free(&j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(qe_report_data_upper_half, setup, teardown),
        cmocka_unit_test_setup_teardown(pck_chain_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(tcb_signer_issued_by_the_root, setup, teardown),
        cmocka_unit_test_setup_teardown(pck_crl_issuer_issued_by_the_root, setup, teardown),
        cmocka_unit_test_setup_teardown(root_crl_is_the_roots, setup, teardown),
        cmocka_unit_test_setup_teardown(one_root_for_all_chains, setup, teardown),
        cmocka_unit_test_setup_teardown(collateral_for_another_fmspc, setup, teardown),
        cmocka_unit_test_setup_teardown(min_eval_number_bound, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
