/*
 * tests/unit/tee/test_trust_tdx.c — the shared trust store, chains and CRLs
 * (tee/trust.c, tee/x509.c) in TDX's configuration (mk_tdx_trust_new: the
 * pinned Intel SGX Root CA) on Intel's real PCK chains and CRLs, and on a
 * forged PKI that carries Intel's names. (Moved from tests/unit/tee/tdx/
 * test_quote.c with every assertion; built with MOSAIK_TDX.)
 */
#include "test_util.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tee/tdx/tdx_internal.h"

#define T_PHALA 1752919234LL     /* 2025-07-19T10:00:34Z */
#define T_GOOGLE_V5 1770076800LL /* 2026-02-03 */
#define T_SPR 1688169600LL       /* 2023-07-01 */
#define T_2053 2634940800LL      /* 2053-07-01 */

static void load(const char *rel, mk_buf *b) {
    mk_buf_init(b, 0);
    tu_read_testdata(rel, b);
}

/* The n-th certificate of a quote's PEM chain. */
static X509 *chain_cert(const char *rel, int n) {
    mk_buf b;
    load(rel, &b);
    const char *tag = "-----BEGIN CERTIFICATE-----";
    const uint8_t *p = NULL;
    for (size_t i = 0; i + 27 < b.len; i++)
        if (memcmp(b.data + i, tag, 27) == 0) {
            p = b.data + i;
            break;
        }
    assert_non_null(p);
    BIO *bio = BIO_new_mem_buf(p, (int)(b.data + b.len - p));
    X509 *x = NULL;
    for (int i = 0; i <= n; i++) {
        X509_free(x);
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        assert_non_null(x);
    }
    BIO_free(bio);
    mk_buf_free(&b);
    return x;
}

/* ------------------------------------------------------------------ */
/* Chains                                                              */
/* ------------------------------------------------------------------ */

static void quote_pem(const char *rel, mk_buf *b, const char **pem, size_t *len) {
    load(rel, b);
    mk_tdx_quote q;
    mk_error err;
    TU_ASSERT_RC(mk_tdx_quote_parse(b->data, b->len, &q, &err), 0, &err);
    *pem = (const char *)q.pck_chain_pem;
    *len = q.pck_chain_len;
}

static void test_chain_real(void **state) {
    (void)state;
    mk_tee_trust *t = mk_tdx_trust_new(), *t2 = mk_tdx_trust_new();
    assert_non_null(t);
    /* The pinned Intel root is parsed and checked once per process. */
    assert_ptr_equal(mk_tee_trust_root(t, 0), mk_tee_trust_root(t2, 0));
    mk_tee_trust_free(t2);
    mk_buf b;
    const char *pem;
    size_t len;
    mk_error err;
    mk_tee_chain ch;
    quote_pem("tdx/phala-v4/quote.bin", &b, &pem, &len);
    for (int round = 0; round < 2; round++) { /* cold, then warm (cached intermediate) */
        TU_ASSERT_RC(mk_tee_chain_verify_pem(t, pem, len, T_PHALA, &ch, &err), 0, &err);
        assert_non_null(ch.leaf);
        assert_non_null(ch.intermediate);
        assert_non_null(ch.leaf_key);
        assert_false(ch.simulated);
        /* Leaf valid to 2032-02-06; that is the earliest notAfter. */
        char ts[MK_RFC3339_LEN];
        mk_time_format_rfc3339(ch.not_after, ts);
        assert_memory_equal(ts, "2032-02-06", 10);
        mk_tee_chain_free(&ch);
    }
    /* Before the leaf's notBefore (2025-02-06), after everything's notAfter. */
    TU_ASSERT_RC(mk_tee_chain_verify_pem(t, pem, len, 1704067200, &ch, &err), MK_ENOTYET, &err);
    TU_ASSERT_REASON(&err, "Intel SGX PCK Certificate");
    TU_ASSERT_REASON(&err, "not valid before 2025-02-06");
    TU_ASSERT_RC(mk_tee_chain_verify_pem(t, pem, len, T_2053, &ch, &err), MK_EEXPIRED, &err);
    TU_ASSERT_REASON(&err, "expired at");
    mk_buf_free(&b);

    quote_pem("tdx/google-v5/quote.bin", &b, &pem, &len);
    TU_ASSERT_RC(mk_tee_chain_verify_pem(t, pem, len, T_GOOGLE_V5, &ch, &err), 0, &err);
    mk_tee_chain_free(&ch);
    mk_buf_free(&b);

    quote_pem("tdx/google-spr-v4/quote.bin", &b, &pem, &len);
    TU_ASSERT_RC(mk_tee_chain_verify_pem(t, pem, len, T_SPR, &ch, &err), 0, &err);
    mk_tee_chain_free(&ch);
    TU_ASSERT_RC(mk_tee_chain_verify_pem(t, pem, len, T_2053, &ch, &err), MK_EEXPIRED, &err);
    TU_ASSERT_REASON(&err, "expired at");
    /* Only leaf + intermediate (no root copy) still verifies. */
    const char *end = strstr(pem + 1, "-----BEGIN CERTIFICATE-----");
    end = strstr(end + 1, "-----BEGIN CERTIFICATE-----");
    assert_non_null(end);
    TU_ASSERT_RC(mk_tee_chain_verify_pem(t, pem, (size_t)(end - pem), T_SPR, &ch, &err), 0, &err);
    mk_tee_chain_free(&ch);
    /* Only the leaf: its issuer is not a trusted root. */
    const char *second = strstr(pem + 1, "-----BEGIN CERTIFICATE-----");
    TU_ASSERT_RC(mk_tee_chain_verify_pem(t, pem, (size_t)(second - pem), T_SPR, &ch, &err),
                 MK_EUNTRUSTED, &err);
    TU_ASSERT_REASON(&err, "chain does not end in the Intel SGX Root CA");
    /* Garbage. */
    TU_ASSERT_RC(mk_tee_chain_verify_pem(t, "hello", 5, T_SPR, &ch, &err), MK_EMALFORMED, &err);
    char broken[4000];
    memcpy(broken, pem, len);
    broken[100] = '*';
    TU_ASSERT_RC(mk_tee_chain_verify_pem(t, broken, len, T_SPR, &ch, &err), MK_EMALFORMED, &err);
    mk_buf_free(&b);
    mk_tee_trust_free(t);
}

/* ---- a forged PKI with Intel's names ---- */

static EVP_PKEY *gen_key(void) {
    EVP_PKEY *k = EVP_EC_gen("P-256");
    assert_non_null(k);
    return k;
}

static X509 *make_cert(X509_NAME *subject, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
                       bool ca, long serial, X509_EXTENSION *extra) {
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_set_subject_name(x, subject);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject);
    ASN1_TIME_set(X509_getm_notBefore(x), 1600000000);
    ASN1_TIME_set(X509_getm_notAfter(x), 2500000000LL);
    X509_set_pubkey(x, key);
    X509V3_CTX c;
    X509V3_set_ctx(&c, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *bc = X509V3_EXT_conf_nid(NULL, &c, NID_basic_constraints,
                                             ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    X509_add_ext(x, bc, -1);
    X509_EXTENSION_free(bc);
    if (extra) X509_add_ext(x, extra, -1);
    assert_true(X509_sign(x, issuer_key, EVP_sha256()) > 0);
    return x;
}

typedef struct fake_pki {
    EVP_PKEY *root_key, *ca_key, *leaf_key;
    X509 *root, *ca, *leaf;
    char pem[8192];
    size_t pem_len;
} fake_pki;

/* A root with exactly the Intel root's subject, a "Intel SGX PCK Platform
 * CA" and a leaf carrying the real phala-v4 SGX extension. */
static void fake_pki_make(fake_pki *f) {
    memset(f, 0, sizeof *f);
    X509 *real_root = NULL;
    size_t rl;
    const uint8_t *rd = mk_tdx_intel_root_der(&rl);
    real_root = d2i_X509(NULL, &rd, (long)rl);
    X509 *real_leaf = chain_cert("tdx/phala-v4/quote.bin", 0);
    X509 *real_ca = chain_cert("tdx/phala-v4/quote.bin", 1);
    f->root_key = gen_key();
    f->ca_key = gen_key();
    f->leaf_key = gen_key();
    f->root =
        make_cert(X509_get_subject_name(real_root), f->root_key, NULL, f->root_key, true, 1, NULL);
    f->ca =
        make_cert(X509_get_subject_name(real_ca), f->ca_key, f->root, f->root_key, true, 2, NULL);
    ASN1_OBJECT *sgx = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
    int idx = X509_get_ext_by_OBJ(real_leaf, sgx, -1);
    ASN1_OBJECT_free(sgx);
    assert_true(idx >= 0);
    f->leaf = make_cert(X509_get_subject_name(real_leaf), f->leaf_key, f->ca, f->ca_key, false, 3,
                        X509_get_ext(real_leaf, idx));
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, f->leaf);
    PEM_write_bio_X509(bio, f->ca);
    PEM_write_bio_X509(bio, f->root);
    f->pem_len = (size_t)BIO_read(bio, f->pem, sizeof f->pem - 1);
    BIO_free(bio);
    X509_free(real_root);
    X509_free(real_leaf);
    X509_free(real_ca);
}

static void fake_pki_free(fake_pki *f) {
    X509_free(f->root);
    X509_free(f->ca);
    X509_free(f->leaf);
    EVP_PKEY_free(f->root_key);
    EVP_PKEY_free(f->ca_key);
    EVP_PKEY_free(f->leaf_key);
}

static void test_chain_forged_root(void **state) {
    (void)state;
    mk_tee_trust *t = mk_tdx_trust_new();
    fake_pki f;
    fake_pki_make(&f);
    mk_error err;
    mk_tee_chain ch;
    TU_ASSERT_RC(mk_tee_chain_verify_pem(t, f.pem, f.pem_len, T_PHALA, &ch, &err), MK_EUNTRUSTED,
                 &err);
    TU_ASSERT_REASON(&err, "chain does not end in the Intel SGX Root CA");
    TU_ASSERT_REASON(&err, "'Intel SGX Root CA'");
    /* Without the root copy: the forged CA is not issued by the real root. */
    const char *third = strstr(strstr(f.pem + 1, "-----BEGIN") + 1, "-----BEGIN");
    int rc = mk_tee_chain_verify_pem(t, f.pem, (size_t)(third - f.pem), T_PHALA, &ch, &err);
    assert_true(rc == MK_EUNTRUSTED || rc == MK_EBADSIG);
    /* Trusting the forged root as a simulator root makes it verify, flagged. */
    unsigned char *der = NULL;
    int dl = i2d_X509(f.root, &der);
    TU_ASSERT_RC(mk_tee_trust_add_sim_root(t, der, (size_t)dl, &err), 0, &err);
    TU_ASSERT_RC(mk_tee_chain_verify_pem(t, f.pem, f.pem_len, T_PHALA, &ch, &err), 0, &err);
    assert_true(ch.simulated);
    assert_non_null(mk_tee_trust_root(t, -1));
    mk_tee_chain_free(&ch);
    /* Again through the intermediate cache. */
    TU_ASSERT_RC(mk_tee_chain_verify_pem(t, f.pem, f.pem_len, T_PHALA, &ch, &err), 0, &err);
    assert_true(ch.simulated);
    mk_tee_chain_free(&ch);
    /* A second, different simulator root is refused. */
    fake_pki g;
    fake_pki_make(&g);
    unsigned char *der2 = NULL;
    int dl2 = i2d_X509(g.root, &der2);
    TU_ASSERT_RC(mk_tee_trust_add_sim_root(t, der2, (size_t)dl2, &err), MK_ESTATE, &err);
    /* Garbage simulator root. */
    TU_ASSERT_RC(mk_tee_trust_add_sim_root(t, der2, 10, &err), MK_EMALFORMED, &err);
    OPENSSL_free(der);
    OPENSSL_free(der2);
    fake_pki_free(&f);
    fake_pki_free(&g);
    mk_tee_trust_free(t);
}

/* ------------------------------------------------------------------ */
/* CRLs                                                                */
/* ------------------------------------------------------------------ */

static void test_crl(void **state) {
    (void)state;
    mk_tee_trust *t = mk_tdx_trust_new();
    mk_error err;
    mk_buf b;
    const char *pem;
    size_t len;
    mk_tee_chain ch;
    quote_pem("tdx/google-spr-v4/quote.bin", &b, &pem, &len);
    TU_ASSERT_RC(mk_tee_chain_verify_pem(t, pem, len, T_SPR, &ch, &err), 0, &err);

    mk_buf c;
    load("tdx/intel/pck_platform_crl.der", &c);
    X509_CRL *crl = NULL;
    TU_ASSERT_RC(mk_tee_crl_parse(c.data, c.len, &crl, &err), 0, &err);
    /* 2023-06-08 -> 2023-07-08 */
    TU_ASSERT_RC(mk_tee_crl_check(crl, ch.intermediate, MK_TEE_SIGALG_ECDSA, T_SPR, &err), 0, &err);
    TU_ASSERT_RC(mk_tee_crl_check(crl, ch.intermediate, MK_TEE_SIGALG_ECDSA, 1686000000, &err),
                 MK_ENOTYET, &err);
    TU_ASSERT_RC(mk_tee_crl_check(crl, ch.intermediate, MK_TEE_SIGALG_ECDSA, 1690000000, &err),
                 MK_EEXPIRED, &err);
    TU_ASSERT_REASON(&err, "expired at 2023-07-08");
    X509 *root = mk_tee_trust_root(t, 0);
    TU_ASSERT_RC(mk_tee_crl_check(crl, root, MK_TEE_SIGALG_ECDSA, T_SPR, &err), MK_EMISMATCH, &err);
    TU_ASSERT_RC(mk_tee_crl_lookup(crl, ch.leaf, &err), 0, &err);
    TU_ASSERT_RC(mk_tee_crl_lookup(crl, ch.intermediate, &err), MK_EMISMATCH, &err);

    /* A certificate with a revoked serial and the Platform CA as issuer. */
    const STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(crl);
    assert_int_equal(sk_X509_REVOKED_num(revs), 44);
    X509_REVOKED *r0 = sk_X509_REVOKED_value(revs, 0);
    X509 *victim = X509_dup(ch.leaf);
    X509_set_serialNumber(victim, (ASN1_INTEGER *)X509_REVOKED_get0_serialNumber(r0));
    TU_ASSERT_RC(mk_tee_crl_lookup(crl, victim, &err), MK_EREVOKED, &err);
    TU_ASSERT_REASON(&err, "revoked");
    X509_free(victim);

    /* A tampered CRL does not verify. */
    uint8_t *bad = malloc(c.len);
    memcpy(bad, c.data, c.len);
    bad[c.len - 10] ^= 1;
    X509_CRL *crl2 = NULL;
    TU_ASSERT_RC(mk_tee_crl_parse(bad, c.len, &crl2, &err), 0, &err);
    TU_ASSERT_RC(mk_tee_crl_check(crl2, ch.intermediate, MK_TEE_SIGALG_ECDSA, T_SPR, &err),
                 MK_EBADSIG, &err);
    X509_CRL_free(crl2);
    /* Trailing bytes, truncation. */
    uint8_t *longer = malloc(c.len + 1);
    memcpy(longer, c.data, c.len);
    longer[c.len] = 0;
    TU_ASSERT_RC(mk_tee_crl_parse(longer, c.len + 1, &crl2, &err), MK_EMALFORMED, &err);
    TU_ASSERT_RC(mk_tee_crl_parse(c.data, c.len - 1, &crl2, &err), MK_EMALFORMED, &err);
    free(longer);
    free(bad);
    /* PEM form. */
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509_CRL(bio, crl);
    char *p = NULL;
    long pl = BIO_get_mem_data(bio, &p);
    TU_ASSERT_RC(mk_tee_crl_parse((const uint8_t *)p, (size_t)pl, &crl2, &err), 0, &err);
    X509_CRL_free(crl2);
    BIO_free(bio);
    X509_CRL_free(crl);
    mk_buf_free(&c);

    /* Root CA CRL: 2023-04-03 -> 2024-04-02, signed by the root. */
    load("tdx/intel/root_ca_crl.der", &c);
    TU_ASSERT_RC(mk_tee_crl_parse(c.data, c.len, &crl, &err), 0, &err);
    TU_ASSERT_RC(mk_tee_crl_check(crl, root, MK_TEE_SIGALG_ECDSA, T_SPR, &err), 0, &err);
    TU_ASSERT_RC(mk_tee_crl_lookup(crl, ch.intermediate, &err), 0, &err);
    X509_CRL_free(crl);
    mk_buf_free(&c);

    mk_tee_chain_free(&ch);
    mk_buf_free(&b);
    mk_tee_trust_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_real),
        cmocka_unit_test(test_chain_forged_root),
        cmocka_unit_test(test_crl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
