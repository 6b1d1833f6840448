/*
 * tests/unit/tee/snp/test_snp_crl.c — AMD CRLs (chain.c, mk_snp_crl_check):
 * with a root and an intermediate made in the test (AMD's ARK key is not
 * ours to sign with): current and revoking CRLs, windows, foreign issuers
 * and signers, the RSA-PSS-only rule, encodings; and the verifier refusing
 * a CRL that is not AMD's.
 */
#include "snp_forge_util.h"
#include "tee/snp/snp_internal.h"

#define NOW 1780272000LL /* 2026-06-01 */
#define DAY 86400LL

static EVP_PKEY *root_k, *inter_k;
static X509 *root, *inter;

static int setup(void **state) {
    (void)state;
    root_k = forge_rsa_key();
    inter_k = forge_rsa_key();
    root = forge_cert("ARK-Test", "ARK-Test", root_k, root_k, true, NULL);
    inter = forge_cert("SEV-Test", "ARK-Test", root_k, inter_k, true, NULL);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    X509_free(root);
    X509_free(inter);
    EVP_PKEY_free(root_k);
    EVP_PKEY_free(inter_k);
    return 0;
}

static int check(const mk_buf *crl, int64_t now, int64_t *nu, mk_error *err) {
    return mk_snp_crl_check(crl->data, crl->len, root, inter, now, nu, err);
}

static void test_current_and_revoking(void **state) {
    (void)state;
    mk_buf b;
    mk_buf_init(&b, 0);
    mk_error err;
    int64_t nu = 0;
    static const long other[] = {7, 8};
    forge_crl(root, root_k, other, 2, NOW - DAY, NOW + DAY, &b);
    TU_ASSERT_RC(check(&b, NOW, &nu, &err), 0, &err);
    assert_int_equal(nu, NOW + DAY);
    mk_buf_reset(&b);
    static const long revoked[] = {7, 0x10001};
    forge_crl(root, root_k, revoked, 2, NOW - DAY, NOW + DAY, &b);
    TU_ASSERT_RC(check(&b, NOW, &nu, &err), MK_EREVOKED, &err);
    TU_ASSERT_REASON(&err, "certificate 'SEV-Test' (serial 010001) is revoked by the CRL of "
                           "'ARK-Test'");
    mk_buf_free(&b);
}

static void test_windows(void **state) {
    (void)state;
    mk_buf b;
    mk_buf_init(&b, 0);
    mk_error err;
    int64_t nu;
    forge_crl(root, root_k, NULL, 0, NOW - DAY, NOW + DAY, &b);
    TU_ASSERT_RC(check(&b, NOW + DAY, &nu, &err), MK_EEXPIRED, &err); /* half-open */
    TU_ASSERT_REASON(&err, "CRL of 'ARK-Test' expired at");
    TU_ASSERT_RC(check(&b, NOW - DAY - 1, &nu, &err), MK_ENOTYET, &err);
    TU_ASSERT_REASON(&err, "is not valid before");
    TU_ASSERT_RC(check(&b, NOW - DAY, &nu, &err), 0, &err);
    mk_buf_free(&b);
}

static void test_foreign_issuers(void **state) {
    (void)state;
    mk_buf b;
    mk_buf_init(&b, 0);
    mk_error err;
    int64_t nu;
    /* Signed by the intermediate under the root's name. */
    forge_crl(root, inter_k, NULL, 0, NOW - DAY, NOW + DAY, &b);
    TU_ASSERT_RC(check(&b, NOW, &nu, &err), MK_EBADSIG, &err);
    TU_ASSERT_REASON(&err, "signature of the CRL of 'ARK-Test' does not verify");
    /* Issued by the intermediate. */
    mk_buf_reset(&b);
    forge_crl(inter, inter_k, NULL, 0, NOW - DAY, NOW + DAY, &b);
    TU_ASSERT_RC(check(&b, NOW, &nu, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "CRL issued by 'SEV-Test' is not from 'ARK-Test'");
    /* An ECDSA root and CRL: AMD's CRLs are RSA-PSS only. */
    EVP_PKEY *ek = forge_ec_key();
    X509 *eroot = forge_cert("ARK-Test", "ARK-Test", ek, ek, true, NULL);
    mk_buf_reset(&b);
    forge_crl(eroot, ek, NULL, 0, NOW - DAY, NOW + DAY, &b);
    TU_ASSERT_RC(mk_snp_crl_check(b.data, b.len, eroot, inter, NOW, &nu, &err), MK_EUNTRUSTED,
                 &err);
    TU_ASSERT_REASON(&err, "CRL of 'ARK-Test'");
    X509_free(eroot);
    EVP_PKEY_free(ek);
    mk_buf_free(&b);
}

static void test_encodings(void **state) {
    (void)state;
    mk_buf b, pem;
    mk_buf_init(&b, 0);
    mk_buf_init(&pem, 0);
    mk_error err;
    int64_t nu;
    forge_crl(root, root_k, NULL, 0, NOW - DAY, NOW + DAY, &b);
    /* PEM of the same CRL. */
    assert_int_equal(mk_buf_append_str(&pem, "-----BEGIN X509 CRL-----\n"), 0);
    mk_buf b64;
    mk_buf_init(&b64, 0);
    assert_int_equal(mk_base64_encode(b.data, b.len, &b64), 0);
    for (size_t i = 0; i < b64.len; i += 64) {
        assert_int_equal(mk_buf_append(&pem, b64.data + i, b64.len - i < 64 ? b64.len - i : 64), 0);
        assert_int_equal(mk_buf_append_u8(&pem, '\n'), 0);
    }
    assert_int_equal(mk_buf_append_str(&pem, "-----END X509 CRL-----\n"), 0);
    TU_ASSERT_RC(mk_snp_crl_check(pem.data, pem.len, root, inter, NOW, &nu, &err), 0, &err);
    /* Bytes after the DER, truncated, empty. */
    assert_int_equal(mk_buf_append_u8(&b, 0), 0);
    assert_true(check(&b, NOW, &nu, &err) < 0);
    assert_true(mk_snp_crl_check(b.data, b.len - 10, root, inter, NOW, &nu, &err) < 0);
    assert_true(mk_snp_crl_check(b.data, 0, root, inter, NOW, &nu, &err) < 0);
    mk_buf_free(&b64);
    mk_buf_free(&pem);
    mk_buf_free(&b);
}

/* Through the verifier: a CRL named like AMD's Milan ARK's, not signed by
 * it, refuses an otherwise verified report. */
static void test_verifier_refuses_foreign_crl(void **state) {
    (void)state;
    mk_buf rep, vcek, crl;
    mk_buf_init(&rep, 0);
    mk_buf_init(&vcek, 0);
    mk_buf_init(&crl, 0);
    tu_read_testdata("snp/virtee-milan/report.bin", &rep);
    tu_read_testdata("snp/virtee-milan/vcek.der", &vcek);
    X509 *fake = forge_cert("ARK-Milan", "ARK-Milan", root_k, root_k, true, NULL);
    forge_crl(fake, root_k, NULL, 0, NOW - DAY, NOW + DAY, &crl);
    mk_snp_verifier *v = NULL;
    mk_error err;
    TU_ASSERT_RC(mk_snp_verifier_new(NULL, &v, &err), 0, &err);
    mk_snp_certs c = {vcek.data, vcek.len, NULL, 0, crl.data, crl.len};
    mk_snp_result r;
    TU_ASSERT_RC(mk_snp_verify(v, rep.data, rep.len, &c, NOW, &r, &err), MK_EBADSIG, &err);
    TU_ASSERT_REASON(&err, "CRL: signature of the CRL of 'ARK-Milan' does not verify");
    assert_false(r.crl_checked);
    mk_snp_verifier_free(v);
    X509_free(fake);
    mk_buf_free(&rep);
    mk_buf_free(&vcek);
    mk_buf_free(&crl);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_current_and_revoking),
        cmocka_unit_test(test_windows),
        cmocka_unit_test(test_foreign_issuers),
        cmocka_unit_test(test_encodings),
        cmocka_unit_test(test_verifier_refuses_foreign_crl),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
