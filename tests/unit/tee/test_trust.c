/*
 * tests/unit/tee/test_trust.c — the shared trust store (tee/trust.c) and
 * certificate helpers (tee/x509.c, tee/asn1.c) for any platform:
 *
 *   - pinning: a root whose SHA-256 is not its pin is refused at creation;
 *   - ECDSA and RSASSA-PSS chains made here (roots, CAs and leaves like
 *     Intel's and AMD's), the signature-algorithm policy of a store, PSS
 *     parameters (salt, MGF1 hash, PKCS#1 v1.5 refused);
 *   - several pinned roots: each chain ends in its own, a CA named like
 *     another root's cannot borrow it; intermediates from a pool;
 *   - CRLs signed with RSA-PSS;
 *   - AMD's real chains (../shared/testdata/snp): a Milan VCEK to the
 *     pinned Milan ARK through its ASK, Genoa and Turin VCEKs to theirs, a
 *     VLEK through the ASVK (valid in 2025, expired in 2026), a Genoa VCEK
 *     refused under the Milan chain, a VCEK whose signature fails;
 *   - the simulators' test PKI (tee/sim_pki.c): a P-384 chain with a
 *     private extension, its CRL, raw ECDSA signatures.
 */
#include "test_util.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tee/tee_internal.h"

#define T_2026 1780272000LL /* 2026-06-01, inside the AMD test data's windows */
#define T_2025 1748736000LL /* 2025-06-01 */
#define T_NOW 1800000000LL  /* inside the windows of the PKIs made here */

static const mk_tee_trust_config CFG = {
    .anchor = "a test root",
    .pinned = "a pinned test root",
    .sim_hint = "--trust-test-sim",
    .sigalgs = MK_TEE_SIGALG_ECDSA | MK_TEE_SIGALG_RSA_PSS,
};

/* ------------------------------------------------------------------ */
/* A small PKI factory                                                 */
/* ------------------------------------------------------------------ */

typedef enum sig_kind { SIG_ECDSA, SIG_PSS, SIG_PSS_SALT32, SIG_PSS_MGF256, SIG_PKCS1 } sig_kind;

static EVP_PKEY *ec_key(const char *curve) {
    EVP_PKEY *k = EVP_EC_gen(curve);
    assert_non_null(k);
    return k;
}

static EVP_PKEY *rsa_key(void) {
    EVP_PKEY *k = EVP_RSA_gen(2048);
    assert_non_null(k);
    return k;
}

static X509_NAME *name(const char *cn) {
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"test PKI", -1, -1, 0);
    return n;
}

/* Sign with the chosen algorithm (SHA-384 for PSS, SHA-256 else). */
static void sign_with(X509 *x, X509_CRL *crl, EVP_PKEY *key, sig_kind kind) {
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    const EVP_MD *md = kind == SIG_ECDSA || kind == SIG_PKCS1 ? EVP_sha256() : EVP_sha384();
    assert_int_equal(EVP_DigestSignInit(m, &pc, md, NULL, key), 1);
    if (kind == SIG_PSS || kind == SIG_PSS_SALT32 || kind == SIG_PSS_MGF256) {
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, kind == SIG_PSS_SALT32 ? 32 : 48), 1);
        assert_int_equal(
            EVP_PKEY_CTX_set_rsa_mgf1_md(pc, kind == SIG_PSS_MGF256 ? EVP_sha256() : EVP_sha384()),
            1);
    }
    if (x) assert_true(X509_sign_ctx(x, m) > 0);
    if (crl) assert_true(X509_CRL_sign_ctx(crl, m) > 0);
    EVP_MD_CTX_free(m);
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value) {
    X509V3_CTX c;
    X509V3_set_ctx(&c, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &c, nid, value);
    assert_non_null(e);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
}

/* A certificate for key named cn, issued by issuer (NULL: self-signed) and
 * signed by issuer_key with `kind`, valid [from, until). */
static X509 *cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, bool ca,
                  sig_kind kind, long serial, int64_t from, int64_t until) {
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_NAME *n = name(cn);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509_NAME_free(n);
    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)from);
    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)until);
    X509_set_pubkey(x, key);
    add_ext(x, issuer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    if (ca) add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
    sign_with(x, NULL, issuer_key, kind);
    return x;
}

typedef struct pki {
    EVP_PKEY *root_key, *ca_key, *leaf_key;
    X509 *root, *ca, *leaf;
    uint8_t *root_der;
    int root_der_len;
    uint8_t pin[32];
} pki;

/* root <- CA <- leaf, all signed with `kind` (RSA keys for PSS/PKCS#1
 * roots and CAs, like AMD's ARK and ASK; an EC leaf key either way). */
static void pki_make(pki *p, const char *prefix, sig_kind kind) {
    memset(p, 0, sizeof *p);
    bool rsa = kind != SIG_ECDSA;
    char cn[3][64];
    snprintf(cn[0], sizeof cn[0], "%s Root", prefix);
    snprintf(cn[1], sizeof cn[1], "%s CA", prefix);
    snprintf(cn[2], sizeof cn[2], "%s Leaf", prefix);
    p->root_key = rsa ? rsa_key() : ec_key("P-256");
    p->ca_key = rsa ? rsa_key() : ec_key("P-256");
    p->leaf_key = ec_key("P-384");
    p->root = cert(cn[0], p->root_key, NULL, p->root_key, true, kind, 1, 1600000000, 2500000000LL);
    p->ca = cert(cn[1], p->ca_key, p->root, p->root_key, true, kind, 2, 1600000000, 2400000000LL);
    p->leaf = cert(cn[2], p->leaf_key, p->ca, p->ca_key, false, kind, 3, 1700000000, 2300000000LL);
    p->root_der_len = i2d_X509(p->root, &p->root_der);
    assert_true(p->root_der_len > 0);
    mk_sha256(p->root_der, (size_t)p->root_der_len, p->pin);
}

static void pki_free(pki *p) {
    X509_free(p->root), X509_free(p->ca), X509_free(p->leaf);
    EVP_PKEY_free(p->root_key), EVP_PKEY_free(p->ca_key), EVP_PKEY_free(p->leaf_key);
    OPENSSL_free(p->root_der);
}

static mk_tee_root root_of(const pki *p) {
    return (mk_tee_root){p->root_der, (size_t)p->root_der_len, p->pin};
}

static mk_tee_trust *store(const mk_tee_trust_config *cfg, const pki *const *ps, size_t n) {
    mk_tee_root r[4];
    for (size_t i = 0; i < n; i++)
        r[i] = root_of(ps[i]);
    mk_tee_trust *t = NULL;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tee_trust_new(cfg, r, n, &t, &err), 0, &err);
    return t;
}

/* leaf, CA[, root] as PEM. */
static size_t pem_of(X509 *a, X509 *b, X509 *c, char *out, size_t cap) {
    BIO *bio = BIO_new(BIO_s_mem());
    X509 *xs[3] = {a, b, c};
    for (int i = 0; i < 3; i++)
        if (xs[i]) PEM_write_bio_X509(bio, xs[i]);
    int n = BIO_read(bio, out, (int)cap - 1);
    BIO_free(bio);
    assert_true(n > 0);
    out[n] = 0;
    return (size_t)n;
}

/* ------------------------------------------------------------------ */
/* Pins, ECDSA and PSS chains, the algorithm policy                    */
/* ------------------------------------------------------------------ */

static void test_pinning(void **state) {
    (void)state;
    pki p;
    pki_make(&p, "Pin", SIG_ECDSA);
    mk_error err;
    mk_tee_trust *t = NULL;
    uint8_t wrong[32];
    memcpy(wrong, p.pin, 32);
    wrong[31] ^= 1;
    mk_tee_root r = {p.root_der, (size_t)p.root_der_len, wrong};
    TU_ASSERT_RC(mk_tee_trust_new(&CFG, &r, 1, &t, &err), MK_EUNTRUSTED, &err);
    TU_ASSERT_REASON(&err, "does not match its pin");
    assert_null(t);
    /* A pinned "root" that is not a CA. */
    uint8_t *ld = NULL;
    int ll = i2d_X509(p.leaf, &ld);
    uint8_t lh[32];
    mk_sha256(ld, (size_t)ll, lh);
    r = (mk_tee_root){ld, (size_t)ll, lh};
    TU_ASSERT_RC(mk_tee_trust_new(&CFG, &r, 1, &t, &err), MK_EMALFORMED, &err);
    OPENSSL_free(ld);
    /* Too many, incomplete configuration. */
    mk_tee_root many[MK_TEE_TRUST_ROOTS_MAX + 1];
    TU_ASSERT_RC(mk_tee_trust_new(&CFG, many, MK_TEE_TRUST_ROOTS_MAX + 1, &t, &err), MK_ETOOBIG,
                 &err);
    TU_ASSERT_RC(mk_tee_trust_new(&(mk_tee_trust_config){0}, NULL, 0, &t, &err), MK_EINVAL, &err);
    /* The right pin. */
    const pki *ps[] = {&p};
    t = store(&CFG, ps, 1);
    assert_ptr_equal(mk_tee_trust_root(t, 0) != NULL, true);
    assert_null(mk_tee_trust_root(t, 1));
    assert_null(mk_tee_trust_root(t, -1));
    assert_int_equal(mk_tee_trust_sigalgs(t), CFG.sigalgs);
    mk_tee_trust_free(t);
    pki_free(&p);
}

static void check_chain_ok(mk_tee_trust *t, const pki *p, int want_root) {
    char pem[16384];
    mk_error err;
    mk_tee_chain ch;
    for (int copy = 0; copy < 2; copy++) {
        size_t n = pem_of(p->leaf, p->ca, copy ? p->root : NULL, pem, sizeof pem);
        for (int round = 0; round < 2; round++) { /* cold, then warm */
            TU_ASSERT_RC(mk_tee_chain_verify_pem(t, pem, n, T_NOW, &ch, &err), 0, &err);
            assert_int_equal(ch.root_index, want_root);
            assert_false(ch.simulated);
            assert_non_null(ch.intermediate);
            assert_true(mk_tee_same_der(ch.root, p->root));
            assert_int_equal(ch.not_after, 2300000000LL);
            mk_tee_chain chc;
            mk_tee_chain_copy(&ch, &chc);
            mk_tee_chain_free(&ch);
            assert_non_null(chc.leaf_key);
            mk_tee_chain_free(&chc);
        }
    }
}

static void test_ecdsa_and_pss_chains(void **state) {
    (void)state;
    pki e, r;
    pki_make(&e, "EC", SIG_ECDSA);
    pki_make(&r, "PSS", SIG_PSS);
    const pki *ps[] = {&e, &r};
    mk_tee_trust *t = store(&CFG, ps, 2);
    check_chain_ok(t, &e, 0);
    check_chain_ok(t, &r, 1);

    /* A store that takes ECDSA only refuses the PSS chain, and one that
     * takes PSS only the ECDSA chain — after OpenSSL's own checks passed. */
    mk_tee_trust_config ec_only = CFG, pss_only = CFG;
    ec_only.sigalgs = MK_TEE_SIGALG_ECDSA;
    pss_only.sigalgs = MK_TEE_SIGALG_RSA_PSS;
    mk_tee_trust *te = store(&ec_only, ps, 2), *tp = store(&pss_only, ps, 2);
    char pem[16384];
    mk_error err;
    mk_tee_chain ch;
    size_t n = pem_of(r.leaf, r.ca, NULL, pem, sizeof pem);
    TU_ASSERT_RC(mk_tee_chain_verify_pem(te, pem, n, T_NOW, &ch, &err), MK_EUNTRUSTED, &err);
    TU_ASSERT_REASON(&err, "signature algorithm rsassaPss is not accepted");
    assert_null(ch.leaf);
    n = pem_of(e.leaf, e.ca, NULL, pem, sizeof pem);
    TU_ASSERT_RC(mk_tee_chain_verify_pem(tp, pem, n, T_NOW, &ch, &err), MK_EUNTRUSTED, &err);
    TU_ASSERT_REASON(&err, "ecdsa-with-SHA256 is not accepted");
    /* Warm too: the cached intermediate does not skip the leaf's check. */
    TU_ASSERT_RC(mk_tee_chain_verify_pem(t, pem, n, T_NOW, &ch, &err), 0, &err);
    mk_tee_chain_free(&ch);
    TU_ASSERT_RC(mk_tee_chain_verify_pem(tp, pem, n, T_NOW, &ch, &err), MK_EUNTRUSTED, &err);
    mk_tee_trust_free(t), mk_tee_trust_free(te), mk_tee_trust_free(tp);
    pki_free(&e), pki_free(&r);
}

static void test_pss_parameters(void **state) {
    (void)state;
    const sig_kind bad[] = {SIG_PSS_SALT32, SIG_PSS_MGF256, SIG_PKCS1};
    const char *why[] = {"RSASSA-PSS parameters refused", "RSASSA-PSS parameters refused",
                         "sha256WithRSAEncryption is not accepted"};
    for (int i = 0; i < 3; i++) {
        pki p;
        pki_make(&p, "Odd", bad[i]);
        const pki *ps[] = {&p};
        mk_tee_trust *t = store(&CFG, ps, 1);
        char pem[16384];
        size_t n = pem_of(p.leaf, p.ca, NULL, pem, sizeof pem);
        mk_error err;
        mk_tee_chain ch;
        TU_ASSERT_RC(mk_tee_chain_verify_pem(t, pem, n, T_NOW, &ch, &err), MK_EUNTRUSTED, &err);
        TU_ASSERT_REASON(&err, why[i]);
        /* A store without a policy takes what OpenSSL verifies. */
        mk_tee_trust_config any = CFG;
        any.sigalgs = 0;
        mk_tee_trust *ta = store(&any, ps, 1);
        TU_ASSERT_RC(mk_tee_chain_verify_pem(ta, pem, n, T_NOW, &ch, &err), 0, &err);
        mk_tee_chain_free(&ch);
        mk_tee_trust_free(ta);
        mk_tee_trust_free(t);
        pki_free(&p);
    }
}

/* ------------------------------------------------------------------ */
/* Several roots, look-alikes, pools, simulator roots                  */
/* ------------------------------------------------------------------ */

static void test_roots_apart(void **state) {
    (void)state;
    pki a, b;
    pki_make(&a, "Alpha", SIG_ECDSA);
    pki_make(&b, "Beta", SIG_ECDSA);
    const pki *ps[] = {&a, &b};
    mk_tee_trust *t = store(&CFG, ps, 2);
    mk_error err;
    mk_tee_chain ch;
    char pem[16384];

    /* A CA named like Alpha's, signed by Beta's root: nothing issues it. */
    EVP_PKEY *k = ec_key("P-256");
    X509 *fake_ca =
        cert("Alpha CA", k, a.root, b.root_key, true, SIG_ECDSA, 9, 1600000000, 2400000000LL);
    X509 *leaf =
        cert("Alpha Leaf", a.leaf_key, fake_ca, k, false, SIG_ECDSA, 10, 1700000000, 2300000000LL);
    size_t n = pem_of(leaf, fake_ca, NULL, pem, sizeof pem);
    int rc = mk_tee_chain_verify_pem(t, pem, n, T_NOW, &ch, &err);
    assert_true(rc == MK_EBADSIG || rc == MK_EUNTRUSTED);
    /* With Beta's root copy appended, the CA's issuer name is still
     * Alpha's: the copy's store alone is tried and cannot build the path. */
    n = pem_of(leaf, fake_ca, b.root, pem, sizeof pem);
    TU_ASSERT_RC(mk_tee_chain_verify_pem(t, pem, n, T_NOW, &ch, &err), MK_EUNTRUSTED, &err);
    TU_ASSERT_REASON(&err, "chain does not end in a test root");
    TU_ASSERT_REASON(&err, "(a simulator root is not trusted unless you pass --trust-test-sim)");

    /* A root copy made by someone else with Alpha's name. */
    EVP_PKEY *rk = ec_key("P-256");
    X509 *fake_root =
        cert("Alpha Root", rk, NULL, rk, true, SIG_ECDSA, 1, 1600000000, 2500000000LL);
    n = pem_of(a.leaf, a.ca, fake_root, pem, sizeof pem);
    TU_ASSERT_RC(mk_tee_chain_verify_pem(t, pem, n, T_NOW, &ch, &err), MK_EUNTRUSTED, &err);
    TU_ASSERT_REASON(&err, "its root 'Alpha Root' is not a pinned test root");

    /* Intermediates from a pool: the leaf alone with both CAs offered. */
    X509 *pool[] = {b.ca, a.ca};
    X509 *only[] = {a.leaf};
    TU_ASSERT_RC(mk_tee_chain_verify_certs(t, only, 1, pool, 2, T_NOW, &ch, &err), 0, &err);
    assert_int_equal(ch.root_index, 0);
    assert_non_null(ch.intermediate);
    mk_tee_chain_free(&ch);
    X509 *bonly[] = {b.leaf};
    TU_ASSERT_RC(mk_tee_chain_verify_certs(t, bonly, 1, pool, 2, T_NOW, &ch, &err), 0, &err);
    assert_int_equal(ch.root_index, 1);
    mk_tee_chain_free(&ch);
    /* Without the pool the leaf has no issuer. */
    TU_ASSERT_RC(mk_tee_chain_verify_certs(t, only, 1, NULL, 0, T_NOW, &ch, &err), MK_EUNTRUSTED,
                 &err);
    TU_ASSERT_REASON(&err, "no trusted issuer 'Alpha CA'");
    X509 *big[MK_TEE_CHAIN_POOL_MAX + 1] = {0};
    TU_ASSERT_RC(
        mk_tee_chain_verify_certs(t, only, 1, big, MK_TEE_CHAIN_POOL_MAX + 1, T_NOW, &ch, &err),
        MK_EINVAL, &err);
    X509 *four[] = {a.leaf, a.ca, a.root, a.root};
    TU_ASSERT_RC(mk_tee_chain_verify_certs(t, four, 4, NULL, 0, T_NOW, &ch, &err), MK_ETOOBIG,
                 &err);
    /* Windows at an explicit time. */
    n = pem_of(a.leaf, a.ca, NULL, pem, sizeof pem);
    TU_ASSERT_RC(mk_tee_chain_verify_pem(t, pem, n, 1650000000, &ch, &err), MK_ENOTYET, &err);
    TU_ASSERT_REASON(&err, "'Alpha Leaf' is not valid before 2023-11-14");
    TU_ASSERT_RC(mk_tee_chain_verify_pem(t, pem, n, 2350000000LL, &ch, &err), MK_EEXPIRED, &err);
    TU_ASSERT_REASON(&err, "'Alpha Leaf' expired at 2042-11-19");

    /* The simulator root: the forged root, trusted explicitly, flagged. */
    unsigned char *der = NULL;
    int dl = i2d_X509(fake_root, &der);
    TU_ASSERT_RC(mk_tee_trust_add_sim_root(t, der, (size_t)dl, &err), 0, &err);
    X509 *sim_ca = cert("Sim CA", k, fake_root, rk, true, SIG_ECDSA, 2, 1600000000, 2400000000LL);
    X509 *sim_leaf =
        cert("Sim Leaf", a.leaf_key, sim_ca, k, false, SIG_ECDSA, 3, 1700000000, 2300000000LL);
    n = pem_of(sim_leaf, sim_ca, NULL, pem, sizeof pem);
    TU_ASSERT_RC(mk_tee_chain_verify_pem(t, pem, n, T_NOW, &ch, &err), 0, &err);
    assert_true(ch.simulated);
    assert_int_equal(ch.root_index, -1);
    assert_ptr_equal(ch.root, mk_tee_trust_root(t, -1));
    mk_tee_chain_free(&ch);
    /* A pinned root offered as the simulator root is simply trusted. */
    TU_ASSERT_RC(mk_tee_trust_add_sim_root(t, a.root_der, (size_t)a.root_der_len, &err), 0, &err);
    OPENSSL_free(der);
    X509_free(sim_ca), X509_free(sim_leaf), X509_free(fake_root), X509_free(leaf);
    X509_free(fake_ca);
    EVP_PKEY_free(k), EVP_PKEY_free(rk);
    mk_tee_trust_free(t);
    pki_free(&a), pki_free(&b);
}

/* ------------------------------------------------------------------ */
/* CRLs with RSA-PSS                                                   */
/* ------------------------------------------------------------------ */

static X509_CRL *crl_of(X509 *issuer, EVP_PKEY *key, sig_kind kind, const X509 *revoked) {
    X509_CRL *c = X509_CRL_new();
    X509_CRL_set_version(c, 1);
    X509_CRL_set_issuer_name(c, X509_get_subject_name(issuer));
    ASN1_TIME *a = ASN1_TIME_set(NULL, (time_t)(T_NOW - 3600));
    ASN1_TIME *b = ASN1_TIME_set(NULL, (time_t)(T_NOW + 86400));
    X509_CRL_set1_lastUpdate(c, a);
    X509_CRL_set1_nextUpdate(c, b);
    if (revoked) {
        X509_REVOKED *r = X509_REVOKED_new();
        X509_REVOKED_set_serialNumber(r, (ASN1_INTEGER *)X509_get0_serialNumber(revoked));
        X509_REVOKED_set_revocationDate(r, a);
        X509_CRL_add0_revoked(c, r);
    }
    ASN1_TIME_free(a), ASN1_TIME_free(b);
    sign_with(NULL, c, key, kind);
    return c;
}

static void test_crl_pss(void **state) {
    (void)state;
    pki p;
    pki_make(&p, "CRL", SIG_PSS);
    mk_error err;
    /* Like AMD's: the ARK signs the CRL that lists revoked ASKs. */
    X509_CRL *c = crl_of(p.root, p.root_key, SIG_PSS, p.ca);
    uint8_t *der = NULL;
    int dl = i2d_X509_CRL(c, &der);
    X509_CRL *back = NULL;
    TU_ASSERT_RC(mk_tee_crl_parse(der, (size_t)dl, &back, &err), 0, &err);
    TU_ASSERT_RC(mk_tee_crl_check(back, p.root, MK_TEE_SIGALG_RSA_PSS, T_NOW, &err), 0, &err);
    TU_ASSERT_RC(mk_tee_crl_check(back, p.root, MK_TEE_SIGALG_ECDSA, T_NOW, &err), MK_EUNTRUSTED,
                 &err);
    TU_ASSERT_REASON(&err, "CRL of 'CRL Root': signature algorithm rsassaPss is not accepted");
    TU_ASSERT_RC(mk_tee_crl_check(back, p.root, 0, T_NOW + 86400, &err), MK_EEXPIRED, &err);
    TU_ASSERT_RC(mk_tee_crl_check(back, p.root, 0, T_NOW - 7200, &err), MK_ENOTYET, &err);
    /* Issuer equality: the CA did not issue it. */
    TU_ASSERT_RC(mk_tee_crl_check(back, p.ca, 0, T_NOW, &err), MK_EMISMATCH, &err);
    TU_ASSERT_RC(mk_tee_crl_lookup(back, p.ca, &err), MK_EREVOKED, &err);
    TU_ASSERT_REASON(&err, "certificate 'CRL CA' (serial 02) is revoked");
    TU_ASSERT_RC(mk_tee_crl_lookup(back, p.leaf, &err), MK_EMISMATCH, &err);
    /* Signed by another key with the root's name. */
    EVP_PKEY *other = rsa_key();
    X509_CRL *forged = crl_of(p.root, other, SIG_PSS, NULL);
    TU_ASSERT_RC(mk_tee_crl_check(forged, p.root, MK_TEE_SIGALG_RSA_PSS, T_NOW, &err), MK_EBADSIG,
                 &err);
    /* Bad PSS parameters are refused after the signature verified. */
    X509_CRL *salt32 = crl_of(p.root, p.root_key, SIG_PSS_SALT32, NULL);
    TU_ASSERT_RC(mk_tee_crl_check(salt32, p.root, MK_TEE_SIGALG_RSA_PSS, T_NOW, &err),
                 MK_EUNTRUSTED, &err);
    TU_ASSERT_REASON(&err, "RSASSA-PSS parameters refused");
    X509_CRL_free(salt32), X509_CRL_free(forged), X509_CRL_free(back), X509_CRL_free(c);
    EVP_PKEY_free(other);
    OPENSSL_free(der);
    pki_free(&p);
}

/* ------------------------------------------------------------------ */
/* AMD's real chains                                                   */
/* ------------------------------------------------------------------ */

typedef struct amd {
    X509 *ask[3], *ark[3]; /* Milan, Genoa, Turin */
    uint8_t *ark_der[3];
    int ark_len[3];
    uint8_t pin[3][32];
} amd;

static const char *const PRODUCTS[3] = {"milan", "genoa", "turin"};
static const char *const ARK_PINS[3] = {
    "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
    "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
    "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a",
};

/* The two certificates of a chain file (CA first, then the ARK). */
static void read_pair(const char *rel, X509 **ca, X509 **ark) {
    mk_buf b = MK_BUF_INIT;
    tu_read_testdata(rel, &b);
    BIO *bio = BIO_new_mem_buf(b.data, (int)b.len);
    *ca = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    *ark = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    assert_non_null(*ca);
    assert_non_null(*ark);
    BIO_free(bio);
    mk_buf_free(&b);
}

static void amd_load(amd *a) {
    memset(a, 0, sizeof *a);
    for (int i = 0; i < 3; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "snp/roots/%s_vcek_chain.pem", PRODUCTS[i]);
        read_pair(rel, &a->ask[i], &a->ark[i]);
        a->ark_len[i] = i2d_X509(a->ark[i], &a->ark_der[i]);
        mk_buf pin = MK_BUF_INIT;
        assert_int_equal(mk_hex_decode(ARK_PINS[i], 64, &pin, NULL), 0);
        memcpy(a->pin[i], pin.data, 32);
        mk_buf_free(&pin);
    }
}

static void amd_free(amd *a) {
    for (int i = 0; i < 3; i++) {
        X509_free(a->ask[i]), X509_free(a->ark[i]);
        OPENSSL_free(a->ark_der[i]);
    }
}

static X509 *leaf_file(const char *rel) {
    mk_buf b = MK_BUF_INIT;
    tu_read_testdata(rel, &b);
    X509 *x = NULL;
    if (b.len && b.data[0] == '-') {
        BIO *bio = BIO_new_mem_buf(b.data, (int)b.len);
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
    } else {
        x = mk_tee_x509_from_der(b.data, b.len);
    }
    assert_non_null(x);
    mk_buf_free(&b);
    return x;
}

static void test_amd_chains(void **state) {
    (void)state;
    amd a;
    amd_load(&a);
    const mk_tee_trust_config cfg = {.anchor = "an AMD root key (ARK)",
                                     .pinned = "a pinned ARK",
                                     .sigalgs = MK_TEE_SIGALG_RSA_PSS};
    mk_tee_root roots[3];
    for (int i = 0; i < 3; i++)
        roots[i] = (mk_tee_root){a.ark_der[i], (size_t)a.ark_len[i], a.pin[i]};
    mk_tee_trust *t = NULL;
    mk_error err;
    TU_ASSERT_RC(mk_tee_trust_new(&cfg, roots, 3, &t, &err), 0, &err);
    mk_tee_chain ch;

    /* Milan VCEK <- ASK (given) <- ARK (pinned). */
    X509 *milan = leaf_file("snp/virtee-milan/vcek.der");
    X509 *c1[] = {milan, a.ask[0]};
    TU_ASSERT_RC(mk_tee_chain_verify_certs(t, c1, 2, NULL, 0, T_2026, &ch, &err), 0, &err);
    assert_int_equal(ch.root_index, 0);
    assert_true(EVP_PKEY_is_a(ch.leaf_key, "EC"));
    assert_int_equal(EVP_PKEY_get_bits(ch.leaf_key), 384);
    mk_tee_chain_free(&ch);
    /* With the ARK copy from the file, and from the built-in pool. */
    X509 *c1r[] = {milan, a.ask[0], a.ark[0]};
    TU_ASSERT_RC(mk_tee_chain_verify_certs(t, c1r, 3, NULL, 0, T_2026, &ch, &err), 0, &err);
    mk_tee_chain_free(&ch);
    X509 *only[] = {milan};
    TU_ASSERT_RC(mk_tee_chain_verify_certs(t, only, 1, a.ask, 3, T_2026, &ch, &err), 0, &err);
    assert_int_equal(ch.root_index, 0);
    mk_tee_chain_free(&ch);

    /* Genoa (PEM) and Turin VCEKs end in their own ARKs. */
    X509 *genoa = leaf_file("snp/ms-genoa/vcek.pem");
    X509 *turin = leaf_file("snp/virtee-turin-chain/vcek.der");
    X509 *g[] = {genoa}, *tu[] = {turin};
    TU_ASSERT_RC(mk_tee_chain_verify_certs(t, g, 1, a.ask, 3, T_2026, &ch, &err), 0, &err);
    assert_int_equal(ch.root_index, 1);
    mk_tee_chain_free(&ch);
    TU_ASSERT_RC(mk_tee_chain_verify_certs(t, tu, 1, a.ask, 3, T_2026, &ch, &err), 0, &err);
    assert_int_equal(ch.root_index, 2);
    mk_tee_chain_free(&ch);
    /* The Genoa VCEK before its notBefore (2026-02-05). */
    TU_ASSERT_RC(mk_tee_chain_verify_certs(t, g, 1, a.ask, 3, 1767225600, &ch, &err), MK_ENOTYET,
                 &err);
    /* The Genoa VCEK under the Milan chain only: no issuer. */
    X509 *gm[] = {genoa, a.ask[0]};
    TU_ASSERT_RC(mk_tee_chain_verify_certs(t, gm, 2, NULL, 0, T_2026, &ch, &err), MK_EUNTRUSTED,
                 &err);
    TU_ASSERT_REASON(&err, "chain does not end in an AMD root key (ARK)");
    /* A VCEK whose hwID was replaced: its signature fails. */
    X509 *bad = leaf_file("snp/trustee-milan/vcek-invalid-legacy.der");
    X509 *cb[] = {bad, a.ask[0]};
    TU_ASSERT_RC(mk_tee_chain_verify_certs(t, cb, 2, NULL, 0, T_2026, &ch, &err), MK_EBADSIG, &err);
    TU_ASSERT_REASON(&err, "signature of certificate 'SEV-VCEK' does not verify");

    /* The VLEK through the Milan ASVK: valid in 2025, expired in 2026. */
    X509 *asvk, *ark;
    read_pair("snp/roots/milan_vlek_chain.pem", &asvk, &ark);
    X509 *vlek = leaf_file("snp/trustee-vlek/vlek.der");
    X509 *cv[] = {vlek, asvk};
    TU_ASSERT_RC(mk_tee_chain_verify_certs(t, cv, 2, NULL, 0, T_2025, &ch, &err), 0, &err);
    assert_int_equal(ch.root_index, 0);
    mk_tee_chain_free(&ch);
    TU_ASSERT_RC(mk_tee_chain_verify_certs(t, cv, 2, NULL, 0, T_2026, &ch, &err), MK_EEXPIRED,
                 &err);
    TU_ASSERT_REASON(&err, "certificate 'SEV-VLEK' expired at 2025-12-10");
    /* An ECDSA-only store refuses AMD's chain for its algorithm. */
    mk_tee_trust_config ec = cfg;
    ec.sigalgs = MK_TEE_SIGALG_ECDSA;
    mk_tee_trust *te = NULL;
    TU_ASSERT_RC(mk_tee_trust_new(&ec, roots, 3, &te, &err), 0, &err);
    TU_ASSERT_RC(mk_tee_chain_verify_certs(te, c1, 2, NULL, 0, T_2026, &ch, &err), MK_EUNTRUSTED,
                 &err);
    TU_ASSERT_REASON(&err, "rsassaPss is not accepted");
    X509_free(asvk), X509_free(ark), X509_free(vlek), X509_free(bad);
    X509_free(milan), X509_free(genoa), X509_free(turin);
    mk_tee_trust_free(t), mk_tee_trust_free(te);
    amd_free(&a);
}

/* ------------------------------------------------------------------ */
/* ASN.1 readers and extensions                                        */
/* ------------------------------------------------------------------ */

static void test_asn1_readers(void **state) {
    (void)state;
    mk_error err;
    ASN1_TYPE *i255 = ASN1_TYPE_new();
    ASN1_INTEGER *ai = ASN1_INTEGER_new();
    ASN1_INTEGER_set(ai, 255);
    ASN1_TYPE_set(i255, V_ASN1_INTEGER, ai);
    int64_t v = -1;
    TU_ASSERT_RC(mk_tee_asn1_uint(i255, V_ASN1_INTEGER, 255, &v, "blSPL", &err), 0, &err);
    assert_int_equal(v, 255);
    TU_ASSERT_RC(mk_tee_asn1_uint(i255, V_ASN1_INTEGER, 254, &v, "blSPL", &err), MK_EMALFORMED,
                 &err);
    TU_ASSERT_REASON(&err, "blSPL: want an INTEGER in 0..254");
    TU_ASSERT_RC(mk_tee_asn1_uint(i255, V_ASN1_ENUMERATED, 255, &v, "type", &err), MK_EMALFORMED,
                 &err);
    uint8_t out[4];
    TU_ASSERT_RC(mk_tee_asn1_octets(i255, out, 4, "hwID", &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "hwID: want an OCTET STRING of 4 bytes");
    ASN1_TYPE_free(i255);

    /* The Turin VCEK's hwID extension (1.3.6.1.4.1.3704.1.4): 8 bytes. */
    X509 *turin = leaf_file("snp/virtee-turin-chain/vcek.der");
    static const uint8_t hwid_oid[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x9c, 0x78, 0x01, 0x04};
    const uint8_t *val;
    size_t len;
    TU_ASSERT_RC(mk_tee_x509_ext(turin, hwid_oid, sizeof hwid_oid, "hwID", &val, &len, &err), 0,
                 &err);
    assert_int_equal(len, 8);
    static const uint8_t none_oid[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x9c, 0x78, 0x01, 0x7f};
    TU_ASSERT_RC(mk_tee_x509_ext(turin, none_oid, sizeof none_oid, "odd", &val, &len, &err),
                 MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "odd: missing in the leaf");
    /* Twice: refused. */
    X509 *two = X509_dup(turin);
    int idx = -1;
    for (int i = 0; i < X509_get_ext_count(two); i++) {
        const ASN1_OBJECT *o = X509_EXTENSION_get_object(X509_get_ext(two, i));
        if (OBJ_length(o) == sizeof hwid_oid && memcmp(OBJ_get0_data(o), hwid_oid, 9) == 0) idx = i;
    }
    assert_true(idx >= 0);
    X509_add_ext(two, X509_get_ext(two, idx), -1);
    TU_ASSERT_RC(mk_tee_x509_ext(two, hwid_oid, sizeof hwid_oid, "hwID", &val, &len, &err),
                 MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "hwID: present twice");
    X509_free(two);
    X509_free(turin);
}

/* ------------------------------------------------------------------ */
/* The simulators' test PKI                                            */
/* ------------------------------------------------------------------ */

static void test_sim_pki(void **state) {
    (void)state;
    EVP_PKEY *rk = mk_tee_sim_keygen("P-384"), *ck = mk_tee_sim_keygen("P-384"),
             *lk = mk_tee_sim_keygen("P-384");
    assert_non_null(rk), assert_non_null(ck), assert_non_null(lk);
    mk_tee_sim_cert_spec root = {
        .kind = MK_TEE_SIM_ROOT, .cn = "sim ARK", .org = "SIMULATED", .pathlen = 1, .now = T_NOW};
    mk_tee_sim_cert_spec ca = root, leaf = root;
    ca.kind = MK_TEE_SIM_CA, ca.cn = "sim ASK", ca.pathlen = 0;
    static const uint8_t spl[] = {0x02, 0x01, 0x08}; /* INTEGER 8 */
    mk_tee_sim_ext ext = {"1.3.6.1.4.1.3704.1.3.3", spl, sizeof spl};
    leaf.kind = MK_TEE_SIM_LEAF, leaf.cn = "sim VCEK", leaf.ext = &ext, leaf.n_ext = 1;
    leaf.years = 7;
    X509 *r = mk_tee_sim_cert(&root, rk, NULL, rk);
    X509 *c = mk_tee_sim_cert(&ca, ck, r, rk);
    X509 *l = mk_tee_sim_cert(&leaf, lk, c, ck);
    assert_non_null(r), assert_non_null(c), assert_non_null(l);
    assert_null(mk_tee_sim_cert(&(mk_tee_sim_cert_spec){.kind = MK_TEE_SIM_LEAF}, lk, c, ck));
    /* ECDSA-SHA384 throughout; the chain verifies, flagged simulated. */
    const X509_ALGOR *alg;
    X509_get0_signature(NULL, &alg, l);
    const ASN1_OBJECT *o;
    X509_ALGOR_get0(&o, NULL, NULL, alg);
    assert_int_equal(OBJ_obj2nid(o), NID_ecdsa_with_SHA384);
    mk_tee_trust *t = store(&CFG, NULL, 0);
    uint8_t *der = NULL;
    int dl = i2d_X509(r, &der);
    mk_error err;
    TU_ASSERT_RC(mk_tee_trust_add_sim_root(t, der, (size_t)dl, &err), 0, &err);
    size_t pl = 0;
    char *pem = mk_tee_sim_pem_chain(l, c, r, &pl);
    assert_non_null(pem);
    assert_int_equal(strlen(pem), pl);
    mk_tee_chain ch;
    TU_ASSERT_RC(mk_tee_chain_verify_pem(t, pem, pl, T_NOW, &ch, &err), 0, &err);
    assert_true(ch.simulated);
    int64_t nb, na;
    assert_int_equal(mk_tee_x509_window(ch.leaf, &nb, &na), 0);
    assert_int_equal(nb, T_NOW - 86400);
    assert_int_equal(na, T_NOW + 7LL * 365 * 86400);
    const uint8_t *v;
    size_t vl;
    static const uint8_t oid[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x9c, 0x78, 0x01, 0x03, 0x03};
    TU_ASSERT_RC(mk_tee_x509_ext(ch.leaf, oid, sizeof oid, "snpSPL", &v, &vl, &err), 0, &err);
    assert_int_equal(vl, 3);
    assert_memory_equal(v, spl, 3);
    mk_tee_chain_free(&ch);
    /* Its CRL. */
    mk_buf crl_der = MK_BUF_INIT;
    TU_ASSERT_RC(mk_tee_sim_crl(r, rk, T_NOW, &crl_der, &err), 0, &err);
    X509_CRL *crl = NULL;
    TU_ASSERT_RC(mk_tee_crl_parse(crl_der.data, crl_der.len, &crl, &err), 0, &err);
    TU_ASSERT_RC(mk_tee_crl_check(crl, r, MK_TEE_SIGALG_ECDSA, T_NOW, &err), 0, &err);
    TU_ASSERT_RC(mk_tee_crl_lookup(crl, c, &err), 0, &err);
    /* Raw signatures and points. */
    uint8_t sig[96], pub[96];
    TU_ASSERT_RC(mk_tee_sim_sign(lk, MK_SHA384, "report", 6, sig, 48, &err), 0, &err);
    TU_ASSERT_RC(mk_tee_sim_pub_raw(lk, pub, 48, &err), 0, &err);
    TU_ASSERT_RC(mk_tee_sim_pub_raw(lk, pub, 32, &err), MK_ECRYPTO, &err);
    mk_pubkey *pk = NULL;
    TU_ASSERT_RC(mk_pubkey_from_ec(MK_P384, pub, 96, &pk, &err), 0, &err);
    TU_ASSERT_RC(mk_ecdsa_verify_raw(pk, MK_SHA384, "report", 6, sig, 96, &err), 0, &err);
    mk_pubkey_free(pk);
    X509_CRL_free(crl);
    mk_buf_free(&crl_der);
    free(pem);
    OPENSSL_free(der);
    mk_tee_trust_free(t);
    X509_free(r), X509_free(c), X509_free(l);
    EVP_PKEY_free(rk), EVP_PKEY_free(ck), EVP_PKEY_free(lk);
}

/* Parse caches, known certificates: `pem` at `now` in a fresh store and in
 * t must give the same code and reason. */
static int both(mk_tee_trust *t, const pki *p, const char *pem, size_t n, int64_t now) {
    const pki *ps[] = {p};
    mk_tee_trust *fresh = store(&CFG, ps, 1);
    mk_error e1, e2;
    mk_tee_chain c1, c2;
    int r1 = mk_tee_chain_verify_pem(fresh, pem, n, now, &c1, &e1);
    int r2 = mk_tee_chain_verify_pem(t, pem, n, now, &c2, &e2);
    assert_int_equal(r1, r2);
    if (r1 < 0) assert_string_equal(e1.msg, e2.msg);
    mk_tee_chain_free(&c1), mk_tee_chain_free(&c2), mk_tee_trust_free(fresh);
    return r2;
}

static void test_known_certs(void **state) {
    (void)state;
    pki p;
    pki_make(&p, "Known", SIG_ECDSA);
    const pki *ps[] = {&p};
    mk_tee_trust *t = store(&CFG, ps, 1);
    /* Certificates are parsed once per store. */
    char pem[16384];
    mk_error err;
    mk_tee_chain ch;
    size_t n = pem_of(p.leaf, p.ca, p.root, pem, sizeof pem);
    X509 *a = mk_tee_trust_read_leaf(t, pem, n), *b = mk_tee_trust_read_leaf(t, pem, n);
    assert_non_null(a);
    assert_ptr_equal(a, b);
    X509_free(a), X509_free(b);
    TU_ASSERT_RC(mk_tee_chain_verify_pem(t, pem, n, T_NOW, &ch, &err), 0, &err);
    assert_ptr_equal(ch.root, mk_tee_trust_root(t, 0)); /* the root copy is the root */
    mk_tee_chain_free(&ch);
    /* The CA, verified as the intermediate above, presented as a leaf: known,
     * same result as cold; and outside its window refused like a cold check. */
    n = pem_of(p.ca, NULL, NULL, pem, sizeof pem);
    for (int round = 0; round < 2; round++) {
        TU_ASSERT_RC(mk_tee_chain_verify_pem(t, pem, n, T_NOW, &ch, &err), 0, &err);
        assert_null(ch.intermediate);
        assert_int_equal(ch.root_index, 0);
        assert_int_equal(ch.not_after, 2400000000LL);
        mk_tee_chain_free(&ch);
    }
    assert_int_equal(both(t, &p, pem, n, 2400000000LL), MK_EEXPIRED);
    assert_int_equal(both(t, &p, pem, n, 1500000000LL), MK_ENOTYET);
    /* A leaf issued by the root, known after its first check, never issues. */
    EVP_PKEY *sk = ec_key("P-256"), *xk = ec_key("P-256");
    X509 *signer =
        cert("Known Signer", sk, p.root, p.root_key, false, SIG_ECDSA, 7, 1600000000, 2400000000LL);
    X509 *below =
        cert("Known Below", xk, signer, sk, false, SIG_ECDSA, 8, 1600000000, 2400000000LL);
    n = pem_of(signer, NULL, NULL, pem, sizeof pem);
    assert_int_equal(both(t, &p, pem, n, T_NOW), 0);
    assert_int_equal(both(t, &p, pem, n, T_NOW), 0);
    n = pem_of(below, signer, NULL, pem, sizeof pem);
    assert_int_equal(both(t, &p, pem, n, T_NOW), MK_EUNTRUSTED);
    X509_free(signer), X509_free(below), EVP_PKEY_free(sk), EVP_PKEY_free(xk);
    mk_tee_trust_free(t), pki_free(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pinning),        cmocka_unit_test(test_ecdsa_and_pss_chains),
        cmocka_unit_test(test_pss_parameters), cmocka_unit_test(test_roots_apart),
        cmocka_unit_test(test_crl_pss),        cmocka_unit_test(test_amd_chains),
        cmocka_unit_test(test_asn1_readers),   cmocka_unit_test(test_sim_pki),
        cmocka_unit_test(test_known_certs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
