/*
 * tests/unit/tee/tdx/test_verify.c — the verifier (verify.c): outcomes on the
 * real quotes, forgery-style mutations, a forged Intel-named root, the
 * simulator's chain, policy checks, full collateral, warm verification.
 */
#include "test_util.h"

#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/ossl.h"
#include "mosaik/tdx_provider.h"
#include "tee/tdx/tdx_internal.h"

#define T_PHALA 1752919234LL     /* 2025-07-19T10:00:34Z */
#define T_GOOGLE_V5 1770076800LL /* 2026-02-03 */
#define T_SPR 1688169600LL       /* 2023-07-01 */
#define T_2053 2634940800LL      /* 2053-07-01 */

static void load(const char *rel, mk_buf *b) {
    mk_buf_init(b, 0);
    tu_read_testdata(rel, b);
}

static mk_tdx_verifier *chain_only_verifier(void) {
    mk_tdx_verifier *v = NULL;
    assert_int_equal(mk_tdx_verifier_new(NULL, &v, NULL), 0);
    assert_non_null(v);
    mk_tdx_policy p;
    mk_tdx_policy_default(&p);
    p.chain_only = true;
    mk_tdx_verifier_set_policy(v, &p);
    return v;
}

/* ------------------------------------------------------------------ */
/* Outcomes on the real quotes                                         */
/* ------------------------------------------------------------------ */

static void test_real_chain_only(void **state) {
    (void)state;
    mk_tdx_verifier *v = chain_only_verifier();
    mk_tdx_result r;
    mk_error err;
    mk_buf b;

    load("tdx/phala-v4/quote.bin", &b);
    for (int round = 0; round < 2; round++) { /* cold, warm */
        TU_ASSERT_RC(mk_tdx_verify(v, b.data, b.len, NULL, T_PHALA, &r, &err), 0, &err);
        assert_int_equal(r.quote_version, 4);
        assert_int_equal(r.body_type, MK_TDX_BODY_TD10);
        static const uint8_t fmspc[6] = {0xb0, 0xc0, 0x6f, 0, 0, 0};
        assert_memory_equal(r.fmspc, fmspc, 6);
        assert_int_equal(r.pck_ca, MK_TDX_CA_PLATFORM);
        assert_false(r.collateral_checked);
        assert_int_equal(r.tcb_status, MK_TDX_TCB_UNKNOWN);
        assert_false(r.simulated);
        assert_false(r.debug);
        assert_int_equal(r.trailing_bytes, 70);
        assert_int_equal(r.report.td_attributes, 0x10000000ull);
        assert_int_equal(r.qe_report.isv_svn, 6);
        char ts[MK_RFC3339_LEN];
        mk_time_format_rfc3339(r.valid_until, ts);
        assert_memory_equal(ts, "2032-02-06", 10); /* PCK leaf notAfter */
    }
    mk_buf_free(&b);

    load("tdx/google-v5/quote.bin", &b);
    TU_ASSERT_RC(mk_tdx_verify(v, b.data, b.len, NULL, T_GOOGLE_V5, &r, &err), 0, &err);
    assert_int_equal(r.quote_version, 5);
    assert_int_equal(r.body_type, MK_TDX_BODY_TD15);
    assert_int_equal(r.trailing_bytes, 0);
    mk_buf_free(&b);

    load("tdx/google-spr-v4/quote.bin", &b);
    TU_ASSERT_RC(mk_tdx_verify(v, b.data, b.len, NULL, T_SPR, &r, &err), 0, &err);
    assert_int_equal(r.trailing_bytes, 39);
    assert_int_equal(r.report.td_attributes, 0x40000000ull);
    /* Same quote, 30 years on: the certificates have expired. */
    TU_ASSERT_RC(mk_tdx_verify(v, b.data, b.len, NULL, T_2053, &r, &err), MK_EEXPIRED, &err);
    TU_ASSERT_REASON(&err, "PCK chain: ");
    TU_ASSERT_REASON(&err, "expired at");
    assert_int_equal(r.trailing_bytes, 39); /* what was learnt is kept */
    mk_buf_free(&b);

    load("tdx/phala-sgx/quote.bin", &b);
    TU_ASSERT_RC(mk_tdx_verify(v, b.data, b.len, NULL, T_PHALA, &r, &err), MK_EUNSUPPORTED, &err);
    TU_ASSERT_REASON(&err, "not a TDX quote");
    mk_buf_free(&b);
    mk_tdx_verifier_free(v);
}

static void test_collateral_required_by_default(void **state) {
    (void)state;
    mk_tdx_verifier *v = NULL;
    assert_int_equal(mk_tdx_verifier_new(NULL, &v, NULL), 0);
    mk_tdx_policy p;
    mk_tdx_verifier_get_policy(v, &p);
    assert_false(p.chain_only);
    assert_false(p.allow_debug);
    assert_int_equal(p.accepted_statuses, MK_TDX_TCB_BIT(MK_TDX_TCB_UP_TO_DATE) |
                                              MK_TDX_TCB_BIT(MK_TDX_TCB_SW_HARDENING_NEEDED));
    mk_buf b;
    load("tdx/phala-v4/quote.bin", &b);
    mk_error err;
    mk_tdx_result r;
    TU_ASSERT_RC(mk_tdx_verify(v, b.data, b.len, NULL, T_PHALA, &r, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "policy: collateral required");
    /* No result pointer, no error pointer: still refused, no crash. */
    assert_int_equal(mk_tdx_verify(v, b.data, b.len, NULL, T_PHALA, NULL, NULL), MK_EPOLICY);
    mk_buf_free(&b);
    mk_tdx_verifier_free(v);
}

/* ------------------------------------------------------------------ */
/* Forgery-style mutations                                             */
/* ------------------------------------------------------------------ */

/* phala-v4 offsets: signature data at 636, QE report certification data at
 * 770: QE report [770,1154), QE signature [1154,1218), auth size 1218, auth
 * data [1220,1252). */
static void flip_region(mk_tdx_verifier *v, const mk_buf *b, size_t from, size_t to,
                        const char *want, const char *alt) {
    uint8_t *c = malloc(b->len);
    assert_non_null(c);
    for (size_t i = from; i < to; i++) {
        memcpy(c, b->data, b->len);
        c[i] ^= (uint8_t)(1u << (i % 8));
        mk_error err;
        mk_tdx_result r;
        int rc = mk_tdx_verify(v, c, b->len, NULL, T_PHALA, &r, &err);
        if (rc == 0) fail_msg("bit flip at byte %zu accepted", i);
        if (strncmp(err.msg, want, strlen(want)) != 0 &&
            !(alt && strncmp(err.msg, alt, strlen(alt)) == 0))
            fail_msg("bit flip at byte %zu: reason \"%s\" does not start with \"%s\"", i, err.msg,
                     want);
    }
    free(c);
}

static void test_bit_flips(void **state) {
    (void)state;
    mk_tdx_verifier *v = chain_only_verifier();
    mk_buf b;
    load("tdx/phala-v4/quote.bin", &b);
    /* Header: structural fields fail parsing, the rest the signature. */
    flip_region(v, &b, 0, 28, "quote", NULL);
    flip_region(v, &b, 8, 12, "quote signature: ", NULL);
    flip_region(v, &b, 28, 48, "quote signature: ", NULL);
    flip_region(v, &b, 48, 632, "quote signature: ", NULL);  /* body */
    flip_region(v, &b, 636, 700, "quote signature: ", NULL); /* signature */
    flip_region(v, &b, 700, 764, "quote signature: ", NULL); /* attestation key */
    flip_region(v, &b, 770, 1154, "QE report: ", NULL);      /* QE report */
    flip_region(v, &b, 1154, 1218, "QE report: ", NULL);     /* QE report signature */
    flip_region(v, &b, 1220, 1252, "QE report: ", NULL);     /* QE auth data */
    /* Sizes: structure. */
    flip_region(v, &b, 632, 636, "quote: ", NULL);
    flip_region(v, &b, 764, 770, "quote: ", NULL);
    flip_region(v, &b, 1218, 1220, "quote: ", NULL);
    /* The PEM chain: refused (by the chain, or by the QE report check when
     * the leaf's key itself changed). A few positions of each certificate. */
    for (size_t i = 1258 + 100; i < 4936 - 100; i += 97)
        flip_region(v, &b, i, i + 1, "PCK chain: ", "QE report: ");
    /* Trailing bytes are not part of the quote. */
    uint8_t *c = malloc(b.len);
    memcpy(c, b.data, b.len);
    c[b.len - 1] ^= 0xff;
    mk_error err;
    TU_ASSERT_RC(mk_tdx_verify(v, c, b.len, NULL, T_PHALA, NULL, &err), 0, &err);
    /* Truncation anywhere is refused. */
    for (size_t n = 0; n < 4936; n += 7) {
        int rc = mk_tdx_verify(v, c, n, NULL, T_PHALA, NULL, &err);
        if (rc == 0) fail_msg("truncated to %zu accepted", n);
    }
    free(c);
    mk_buf_free(&b);
    mk_tdx_verifier_free(v);
}

/* ---- a forged PKI with Intel's names, spliced into phala-v4 ---- */

static X509 *chain_cert(const mk_buf *b, int n) {
    const char *tag = "-----BEGIN CERTIFICATE-----";
    const uint8_t *p = NULL;
    for (size_t i = 0; i + 27 < b->len && !p; i++)
        if (memcmp(b->data + i, tag, 27) == 0) p = b->data + i;
    assert_non_null(p);
    BIO *bio = BIO_new_mem_buf(p, (int)(b->data + b->len - p));
    X509 *x = NULL;
    for (int i = 0; i <= n; i++) {
        X509_free(x);
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        assert_non_null(x);
    }
    BIO_free(bio);
    return x;
}

static X509 *make_cert(const X509_NAME *subject, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
                       bool ca, long serial, X509_EXTENSION *extra) {
    X509 *x = X509_new();
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

typedef struct forged {
    EVP_PKEY *root_key, *ca_key, *leaf_key;
    X509 *root, *ca, *leaf;
    mk_buf quote;
} forged;

/* Forge root "Intel SGX Root CA" (same subject), "Intel SGX PCK Platform CA"
 * and a PCK leaf with the real SGX extension; re-sign the QE report with the
 * forged leaf key and splice the chain into a copy of phala-v4, fixing the
 * three enclosing sizes. Everything but the chain's root is then valid. */
static void forge(forged *f) {
    memset(f, 0, sizeof *f);
    mk_buf b;
    load("tdx/phala-v4/quote.bin", &b);
    X509 *real_leaf = chain_cert(&b, 0), *real_ca = chain_cert(&b, 1),
         *real_root = chain_cert(&b, 2);
    f->root_key = EVP_EC_gen("P-256");
    f->ca_key = EVP_EC_gen("P-256");
    f->leaf_key = EVP_EC_gen("P-256");
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
    char *pem = NULL;
    long pl = BIO_get_mem_data(bio, &pem);

    /* QE report signature by the forged leaf key. */
    uint8_t sig_der[80];
    size_t sl = sizeof sig_der;
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(mc, NULL, EVP_sha256(), NULL, f->leaf_key), 1);
    assert_int_equal(EVP_DigestSign(mc, sig_der, &sl, b.data + 770, 384), 1);
    EVP_MD_CTX_free(mc);
    uint8_t raw[64];
    assert_int_equal(mk_ecdsa_sig_der_to_raw(sig_der, sl, 32, raw), 0);

    size_t m = (size_t)pl + 1; /* with a NUL */
    size_t n = 384 + 64 + 2 + 32 + 6 + m;
    mk_buf_init(&f->quote, 0);
    mk_buf_append(&f->quote, b.data, 632);
    mk_buf_append_u32le(&f->quote, (uint32_t)(134 + n));
    mk_buf_append(&f->quote, b.data + 636, 128 + 2);
    mk_buf_append_u32le(&f->quote, (uint32_t)n);
    mk_buf_append(&f->quote, b.data + 770, 384);
    mk_buf_append(&f->quote, raw, 64);
    mk_buf_append(&f->quote, b.data + 1218, 2 + 32 + 2);
    mk_buf_append_u32le(&f->quote, (uint32_t)m);
    mk_buf_append(&f->quote, pem, (size_t)pl);
    mk_buf_append_u8(&f->quote, 0);
    BIO_free(bio);
    X509_free(real_leaf);
    X509_free(real_ca);
    X509_free(real_root);
    mk_buf_free(&b);
}

static void forged_free(forged *f) {
    X509_free(f->root);
    X509_free(f->ca);
    X509_free(f->leaf);
    EVP_PKEY_free(f->root_key);
    EVP_PKEY_free(f->ca_key);
    EVP_PKEY_free(f->leaf_key);
    mk_buf_free(&f->quote);
}

static void test_forged_intel_root(void **state) {
    (void)state;
    forged f;
    forge(&f);
    mk_tdx_verifier *v = chain_only_verifier();
    mk_error err;
    mk_tdx_result r;
    TU_ASSERT_RC(mk_tdx_verify(v, f.quote.data, f.quote.len, NULL, T_PHALA, &r, &err),
                 MK_EUNTRUSTED, &err);
    TU_ASSERT_REASON(&err, "PCK chain: chain does not end in the Intel SGX Root CA");
    /* The structure and both signatures were fine: it is the root. */
    assert_int_equal(r.quote_version, 4);
    /* Told to trust this root as a simulator root, the verifier accepts the
     * quote but flags it. */
    unsigned char *der = NULL;
    int dl = i2d_X509(f.root, &der);
    TU_ASSERT_RC(mk_tdx_verifier_trust_simulator(v, der, (size_t)dl, &err), 0, &err);
    OPENSSL_free(der);
    TU_ASSERT_RC(mk_tdx_verify(v, f.quote.data, f.quote.len, NULL, T_PHALA, &r, &err), 0, &err);
    assert_true(r.simulated);
    /* ... while the real Intel quote is still not "simulated". */
    mk_buf b;
    load("tdx/phala-v4/quote.bin", &b);
    TU_ASSERT_RC(mk_tdx_verify(v, b.data, b.len, NULL, T_PHALA, &r, &err), 0, &err);
    assert_false(r.simulated);
    mk_buf_free(&b);
    mk_tdx_verifier_free(v);
    forged_free(&f);
}

/* ------------------------------------------------------------------ */
/* The simulator and the TD policy                                     */
/* ------------------------------------------------------------------ */

static int64_t sim_now(void) {
    return T_PHALA;
}

static void sim_quote(mk_tdx_sim *sim, const mk_tdx_sim_td *td, mk_buf *out) {
    uint8_t rd[64] = {1, 2, 3};
    mk_error err;
    mk_buf_init(out, 0);
    TU_ASSERT_RC(mk_tdx_sim_quote(sim, td, rd, out, &err), 0, &err);
}

static void test_simulator(void **state) {
    (void)state;
    mk_error err;
    mk_tdx_sim *sim = NULL;
    TU_ASSERT_RC(mk_tdx_sim_new(&(mk_tdx_sim_config){.now = sim_now()}, &sim, &err), 0, &err);
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    mk_buf q;
    sim_quote(sim, &td, &q);
    mk_tdx_verifier *v = chain_only_verifier();
    mk_tdx_result r;

    /* Not trusted by default, with a reason that says what to do. */
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, NULL, sim_now(), &r, &err), MK_EUNTRUSTED, &err);
    TU_ASSERT_REASON(&err, "PCK chain: ");
    TU_ASSERT_REASON(&err, "simulator root is not trusted; pass --trust-sim-root / "
                           "mk_tdx_verifier_trust_simulator");
    const uint8_t *rder;
    size_t rlen;
    mk_tdx_sim_root_der(sim, &rder, &rlen);
    TU_ASSERT_RC(mk_tdx_verifier_trust_simulator(v, rder, rlen, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, NULL, sim_now(), &r, &err), 0, &err);
    assert_true(r.simulated);
    assert_int_equal(r.pck_ca, MK_TDX_CA_PLATFORM);

    /* With the simulator's collateral: full verification. */
    mk_tdx_collateral *c = NULL;
    TU_ASSERT_RC(mk_tdx_sim_collateral(sim, sim_now(), &c, &err), 0, &err);
    mk_tdx_policy p;
    mk_tdx_policy_default(&p);
    mk_tdx_verifier_set_policy(v, &p);
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, c, sim_now(), &r, &err), 0, &err);
    assert_true(r.collateral_checked);
    assert_int_equal(r.tcb_status, MK_TDX_TCB_UP_TO_DATE);
    assert_true(r.valid_until <= sim_now() + 30 * 86400);
    assert_true(r.valid_until > sim_now());
    /* Intel collateral does not vouch for a simulated platform. */
    mk_buf cj;
    load("tdx/phala-v4/collateral.json", &cj);
    mk_tdx_collateral *ic = NULL;
    TU_ASSERT_RC(mk_tdx_collateral_from_bundle((const char *)cj.data, cj.len, &ic, &err), 0, &err);
    assert_true(mk_tdx_verify(v, q.data, q.len, ic, sim_now(), &r, &err) < 0);
    TU_ASSERT_REASON(&err, "collateral: ");
    mk_tdx_collateral_free(ic);
    mk_buf_free(&cj);

    /* Debug TD: refused unless allowed. */
    mk_tdx_sim_td dbg = td;
    dbg.td_attributes |= MK_TDX_ATTR_DEBUG;
    mk_buf qd;
    sim_quote(sim, &dbg, &qd);
    TU_ASSERT_RC(mk_tdx_verify(v, qd.data, qd.len, c, sim_now(), &r, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "policy: debug TD refused");
    assert_true(r.debug);
    p.allow_debug = true;
    mk_tdx_verifier_set_policy(v, &p);
    TU_ASSERT_RC(mk_tdx_verify(v, qd.data, qd.len, c, sim_now(), &r, &err), 0, &err);
    assert_true(r.debug);
    mk_buf_free(&qd);
    mk_tdx_policy_default(&p);

    /* Reserved attribute bits. */
    mk_tdx_sim_td res = td;
    res.td_attributes |= 1ull << 40;
    sim_quote(sim, &res, &qd);
    mk_tdx_verifier_set_policy(v, &p);
    TU_ASSERT_RC(mk_tdx_verify(v, qd.data, qd.len, c, sim_now(), &r, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "policy: reserved TD attribute bits 0x0000010000000000");
    p.allow_reserved_attributes = true;
    mk_tdx_verifier_set_policy(v, &p);
    TU_ASSERT_RC(mk_tdx_verify(v, qd.data, qd.len, c, sim_now(), &r, &err), 0, &err);
    mk_buf_free(&qd);
    mk_tdx_policy_default(&p);

    /* SEPT_VE_DISABLE required. */
    mk_tdx_sim_td nosept = td;
    nosept.td_attributes &= ~MK_TDX_ATTR_SEPT_VE_DISABLE;
    sim_quote(sim, &nosept, &qd);
    p.require_sept_ve_disable = true;
    mk_tdx_verifier_set_policy(v, &p);
    TU_ASSERT_RC(mk_tdx_verify(v, qd.data, qd.len, c, sim_now(), &r, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "SEPT_VE_DISABLE");
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, c, sim_now(), &r, &err), 0, &err);
    mk_buf_free(&qd);

    /* XFAM and MR values. */
    p.check_xfam = true;
    p.xfam = td.xfam;
    p.check_mr_owner = true;
    memset(p.mr_owner, 0, 48);
    mk_tdx_verifier_set_policy(v, &p);
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, c, sim_now(), &r, &err), 0, &err);
    p.xfam ^= 1;
    mk_tdx_verifier_set_policy(v, &p);
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, c, sim_now(), &r, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "policy: XFAM");
    p.xfam ^= 1;
    p.check_mr_config_id = true;
    p.mr_config_id[0] = 1;
    mk_tdx_verifier_set_policy(v, &p);
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, c, sim_now(), &r, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "policy: MRCONFIGID");
    p.check_mr_config_id = false;
    p.check_mr_owner_config = true;
    p.mr_owner_config[47] = 1;
    mk_tdx_verifier_set_policy(v, &p);
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, c, sim_now(), &r, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "policy: MROWNERCONFIG");
    mk_tdx_policy_default(&p);

    /* v5 with a TD 1.5 body and an MRSERVICETD requirement. */
    mk_tdx_sim_td td15 = td;
    td15.quote_version = 5;
    td15.body_type = MK_TDX_BODY_TD15;
    td15.mr_service_td[0] = 0xaa;
    sim_quote(sim, &td15, &qd);
    p.check_mr_service_td = true;
    p.mr_service_td[0] = 0xaa;
    mk_tdx_verifier_set_policy(v, &p);
    TU_ASSERT_RC(mk_tdx_verify(v, qd.data, qd.len, c, sim_now(), &r, &err), 0, &err);
    assert_int_equal(r.quote_version, 5);
    assert_int_equal(r.body_type, MK_TDX_BODY_TD15);
    p.mr_service_td[0] = 0xab;
    mk_tdx_verifier_set_policy(v, &p);
    TU_ASSERT_RC(mk_tdx_verify(v, qd.data, qd.len, c, sim_now(), &r, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "policy: MRSERVICETD");
    mk_buf_free(&qd);
    mk_tdx_policy_default(&p);
    mk_tdx_verifier_set_policy(v, &p);

    /* An OutOfDate module is refused by the default policy, accepted when
     * the policy allows it. */
    mk_tdx_sim_td old = td;
    old.tee_tcb_svn[0] = 2; /* module isvsvn 2: OutOfDate */
    sim_quote(sim, &old, &qd);
    int rc = mk_tdx_verify(v, qd.data, qd.len, c, sim_now(), &r, &err);
    if (rc == MK_EPOLICY) {
        TU_ASSERT_REASON(&err, "policy: TCB status OutOfDate is not accepted");
        p.accepted_statuses |= MK_TDX_TCB_BIT(MK_TDX_TCB_OUT_OF_DATE);
        mk_tdx_verifier_set_policy(v, &p);
        TU_ASSERT_RC(mk_tdx_verify(v, qd.data, qd.len, c, sim_now(), &r, &err), 0, &err);
        assert_int_equal(r.tcb_status, MK_TDX_TCB_OUT_OF_DATE);
    } else {
        fail_msg("OutOfDate module: got %s: %s", mk_strerror(rc), err.msg);
    }
    mk_buf_free(&qd);

    /* Expired collateral. */
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, c, sim_now() + 31 * 86400, &r, &err), MK_EEXPIRED,
                 &err);
    TU_ASSERT_REASON(&err, "collateral: ");

    mk_tdx_collateral_free(c);
    mk_buf_free(&q);
    mk_tdx_verifier_free(v);
    mk_tdx_sim_free(sim);
}

/* ------------------------------------------------------------------ */
/* Full collateral on real data                                        */
/* ------------------------------------------------------------------ */

static void test_phala_full(void **state) {
    (void)state;
    mk_buf b, cj;
    load("tdx/phala-v4/quote.bin", &b);
    load("tdx/phala-v4/collateral.json", &cj);
    mk_error err;
    mk_tdx_collateral *c = NULL;
    TU_ASSERT_RC(mk_tdx_collateral_from_bundle((const char *)cj.data, cj.len, &c, &err), 0, &err);
    mk_tdx_verifier *v = NULL;
    assert_int_equal(mk_tdx_verifier_new(NULL, &v, NULL), 0);
    mk_tdx_result r;
    for (int round = 0; round < 2; round++) {
        TU_ASSERT_RC(mk_tdx_verify(v, b.data, b.len, c, T_PHALA, &r, &err), 0, &err);
        assert_true(r.collateral_checked);
        assert_int_equal(r.tcb_status, MK_TDX_TCB_UP_TO_DATE);
        assert_int_equal(r.n_advisories, 0);
        assert_false(r.simulated);
        assert_int_equal(r.valid_until, T_PHALA + 1); /* the PCK CRL's nextUpdate */
    }
    /* One second later the PCK CRL has expired. */
    TU_ASSERT_RC(mk_tdx_verify(v, b.data, b.len, c, T_PHALA + 1, &r, &err), MK_EEXPIRED, &err);
    TU_ASSERT_REASON(&err, "collateral: ");
    TU_ASSERT_REASON(&err, "CRL");
    /* The refusal keeps what was learnt before the collateral step. */
    assert_false(r.collateral_checked);
    assert_int_equal(r.tcb_status, MK_TDX_TCB_UNKNOWN);
    assert_int_equal(r.fmspc[0], 0xb0);
    mk_tdx_verifier_free(v);
    mk_tdx_collateral_free(c);
    mk_buf_free(&cj);
    mk_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* Names, warm cost                                                    */
/* ------------------------------------------------------------------ */

static void test_status_names(void **state) {
    (void)state;
    for (int i = 0; i < MK_TDX_TCB_STATUS_COUNT; i++) {
        mk_tdx_tcb_status s;
        assert_int_equal(mk_tdx_tcb_status_parse(mk_tdx_tcb_status_name((mk_tdx_tcb_status)i), &s),
                         0);
        assert_int_equal(s, i);
    }
    assert_string_equal(mk_tdx_tcb_status_name(MK_TDX_TCB_UP_TO_DATE), "UpToDate");
    assert_string_equal(mk_tdx_tcb_status_name(MK_TDX_TCB_TD_RELAUNCH_ADVISED),
                        "TDRelaunchAdvised");
    assert_string_equal(mk_tdx_tcb_status_name(MK_TDX_TCB_UNKNOWN), "Unknown");
    mk_tdx_tcb_status s;
    assert_true(mk_tdx_tcb_status_parse("Bogus", &s) < 0);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Warm verification against the two unavoidable ECDSA verifications. Only
 * reported (timing is not asserted: CI machines are noisy), but the warm
 * path must at least be much cheaper than the cold one. */
static void test_warm_cost(void **state) {
    (void)state;
    mk_buf b;
    load("tdx/phala-v4/quote.bin", &b);
    mk_tdx_quote q;
    mk_error err;
    TU_ASSERT_RC(mk_tdx_quote_parse(b.data, b.len, &q, &err), 0, &err);
    mk_pubkey *att = NULL;
    TU_ASSERT_RC(mk_pubkey_from_ec(MK_P256, q.attestation_key, 64, &att, &err), 0, &err);
    mk_tee_trust *t = mk_tdx_trust_new();
    mk_tee_chain ch;
    TU_ASSERT_RC(mk_tee_chain_verify_pem(t, (const char *)q.pck_chain_pem, q.pck_chain_len, T_PHALA,
                                         &ch, &err),
                 0, &err);
    mk_pubkey *pck = NULL;
    TU_ASSERT_RC(mk_pubkey_from_evp(ch.leaf_key, &pck), 0, &err);
    const int n = 200;
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        assert_int_equal(
            mk_ecdsa_verify_raw(att, MK_SHA256, q.signed_data, q.signed_len, q.signature, 64, NULL),
            0);
        assert_int_equal(mk_ecdsa_verify_raw(pck, MK_SHA256, q.qe_report_raw, 384,
                                             q.qe_report_signature, 64, NULL),
                         0);
    }
    double base = (now_s() - t0) / n;

    mk_tdx_verifier *v = chain_only_verifier();
    t0 = now_s();
    TU_ASSERT_RC(mk_tdx_verify(v, b.data, b.len, NULL, T_PHALA, NULL, &err), 0, &err);
    double cold = now_s() - t0;
    t0 = now_s();
    for (int i = 0; i < n; i++)
        TU_ASSERT_RC(mk_tdx_verify(v, b.data, b.len, NULL, T_PHALA, NULL, &err), 0, &err);
    double warm = (now_s() - t0) / n;
    print_message("two ECDSA verifications %.1f us; cold verify %.1f us; warm verify %.1f us "
                  "(%.2fx)\n",
                  base * 1e6, cold * 1e6, warm * 1e6, warm / base);
    assert_true(warm < cold);
    mk_tdx_verifier_free(v);
    mk_pubkey_free(pck);
    mk_pubkey_free(att);
    mk_tee_chain_free(&ch);
    mk_tee_trust_free(t);
    mk_buf_free(&b);
}

/* Concurrent warm and cold verifications on one verifier (run under
 * ASan/TSan to catch races in the caches). */
typedef struct thr_arg {
    mk_tdx_verifier *v;
    const mk_buf *quotes[2];
    int64_t times[2];
    int failures;
} thr_arg;

static void *thr_main(void *p) {
    thr_arg *a = p;
    for (int i = 0; i < 60; i++) {
        int k = i % 2;
        mk_error err;
        if (mk_tdx_verify(a->v, a->quotes[k]->data, a->quotes[k]->len, NULL, a->times[k], NULL,
                          &err) != 0)
            a->failures++;
    }
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    mk_tdx_verifier *v = chain_only_verifier();
    mk_buf q1, q2;
    load("tdx/phala-v4/quote.bin", &q1);
    load("tdx/google-spr-v4/quote.bin", &q2);
    thr_arg args[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (thr_arg){v, {&q1, &q2}, {T_PHALA, T_SPR}, 0};
        assert_int_equal(pthread_create(&th[i], NULL, thr_main, &args[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    mk_buf_free(&q1);
    mk_buf_free(&q2);
    mk_tdx_verifier_free(v);
}

/* M2: every TUD bit (0..7: DEBUG, HGS_PLUS_PROF, PERF_PROF, PMT_PROF and the
 * reserved ones) is debug-class: refused without allow_debug, and reported
 * as res.debug. */
static void test_tud_bits(void **state) {
    (void)state;
    static const char *const names[8] = {"DEBUG",         "TUD bit 1", "TUD bit 2", "TUD bit 3",
                                         "HGS_PLUS_PROF", "PERF_PROF", "PMT_PROF",  "TUD bit 7"};
    mk_error err;
    mk_tdx_sim *sim = NULL;
    TU_ASSERT_RC(mk_tdx_sim_new(&(mk_tdx_sim_config){.now = sim_now()}, &sim, &err), 0, &err);
    mk_tdx_verifier *v = NULL;
    assert_int_equal(mk_tdx_verifier_new(NULL, &v, NULL), 0);
    const uint8_t *rder;
    size_t rlen;
    mk_tdx_sim_root_der(sim, &rder, &rlen);
    TU_ASSERT_RC(mk_tdx_verifier_trust_simulator(v, rder, rlen, &err), 0, &err);
    mk_tdx_collateral *c = NULL;
    TU_ASSERT_RC(mk_tdx_sim_collateral(sim, sim_now(), &c, &err), 0, &err);
    for (unsigned bit = 0; bit < 8; bit++) {
        mk_tdx_sim_td td;
        mk_tdx_sim_td_default(&td);
        td.td_attributes |= 1ull << bit;
        mk_buf q;
        sim_quote(sim, &td, &q);
        mk_tdx_policy p;
        mk_tdx_policy_default(&p);
        mk_tdx_verifier_set_policy(v, &p);
        mk_tdx_result r;
        TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, c, sim_now(), &r, &err), MK_EPOLICY, &err);
        TU_ASSERT_REASON(&err, "policy: debug TD refused");
        TU_ASSERT_REASON(&err, names[bit]);
        assert_true(r.debug);
        /* allow_debug admits the known profiling bits; bits 1-3 and 7 are
         * also reserved and need allow_reserved_attributes too. */
        p.allow_debug = true;
        mk_tdx_verifier_set_policy(v, &p);
        int rc = mk_tdx_verify(v, q.data, q.len, c, sim_now(), &r, &err);
        if (bit == 0 || (bit >= 4 && bit <= 6)) {
            TU_ASSERT_RC(rc, 0, &err);
        } else {
            TU_ASSERT_RC(rc, MK_EPOLICY, &err);
            TU_ASSERT_REASON(&err, "reserved TD attribute bits");
        }
        assert_true(r.debug);
        mk_buf_free(&q);
    }
    /* The default TD (SEPT_VE_DISABLE only) is not debug. */
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    mk_buf q;
    sim_quote(sim, &td, &q);
    mk_tdx_policy p;
    mk_tdx_policy_default(&p);
    mk_tdx_verifier_set_policy(v, &p);
    mk_tdx_result r;
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, c, sim_now(), &r, &err), 0, &err);
    assert_false(r.debug);
    mk_buf_free(&q);
    mk_tdx_collateral_free(c);
    mk_tdx_verifier_free(v);
    mk_tdx_sim_free(sim);
}

/* ------------------------------------------------------------------ */
/* Fetched collateral is verified before it is cached (M4)             */
/* ------------------------------------------------------------------ */

typedef struct pcs {
    pid_t pid;
    int port;
    char base[128];
} pcs;

static void nap_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* tests/unit/tee/tdx/pcs_server.py serving `coll`; false when python3 is not installed (the exec
 * fails: status 127); any other early exit of the server fails the test. */
static bool pcs_start(pcs *s, const char *coll, const char *dir) {
    memset(s, 0, sizeof *s);
    char portfile[400], script[512];
    snprintf(portfile, sizeof portfile, "%s/port", dir);
    unlink(portfile);
    snprintf(script, sizeof script, "%s/tests/unit/tee/tdx/pcs_server.py", MOSAIK_SOURCE_DIR);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        /* Dies with the test (also when an assertion fails before
         * pcs_stop), and does not hold the test's output open. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) dup2(null, 1), dup2(null, 2);
        execlp("python3", "python3", script, "--collateral", coll, "--port-file", portfile,
               (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 600 && !s->port; i++) {
        FILE *f = fopen(portfile, "r");
        if (f) {
            if (fscanf(f, "%d", &s->port) != 1) s->port = 0;
            fclose(f);
        }
        int status;
        if (!s->port && waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = 0;
            if (WIFEXITED(status) && WEXITSTATUS(status) == 127) return false; /* no python3 */
            fail_msg("PCS test server exited before it listened (status 0x%x)", status);
        }
        if (!s->port) nap_ms(50);
    }
    if (!s->port) fail_msg("PCS test server did not start");
    snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
    return true;
}

static void pcs_stop(pcs *s) {
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

static long pcs_count(const pcs *s) {
    char url[200];
    snprintf(url, sizeof url, "%s/__count", s->base);
    CURL *h = curl_easy_init();
    assert_non_null(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    FILE *f = tmpfile();
    assert_non_null(f);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    curl_easy_cleanup(h);
    rewind(f);
    long n = -1;
    if (fscanf(f, "%ld", &n) != 1) n = -1;
    fclose(f);
    return n;
}

static mk_tdx_verifier *fetching_verifier(const pcs *s, const char *cache) {
    mk_tdx_verifier *v = NULL;
    assert_int_equal(mk_tdx_verifier_new(NULL, &v, NULL), 0);
    assert_non_null(v);
    mk_tdx_fetch_opts o = {.base_url = s->base, .cache_dir = cache, .insecure_http_ok = true};
    assert_int_equal(mk_tdx_verifier_set_fetch(v, &o), 0);
    return v;
}

static void test_fetched_collateral_verified_first(void **state) {
    (void)state;
    char dir[] = "/tmp/mk-verify-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char good[512], bad[600], cache[600], cfile[700];
    snprintf(good, sizeof good, "%s/tdx/phala-v4/collateral.json", MOSAIK_TESTDATA);
    snprintf(bad, sizeof bad, "%s/bad.json", dir);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    snprintf(cfile, sizeof cfile, "%s/tdx-collateral-B0C06F000000-platform.json", cache);

    /* A bundle whose TCB info signature is wrong but which still parses. */
    mk_buf cj;
    load("tdx/phala-v4/collateral.json", &cj);
    assert_int_equal(mk_buf_append_u8(&cj, 0), 0);
    char *p = strstr((char *)cj.data, "\"tcb_info_signature\"");
    assert_non_null(p);
    p = strchr(strchr(p + 20, ':'), '"') + 1;
    *p = *p == '0' ? '1' : '0';
    mk_error err;
    TU_ASSERT_RC(mk_file_write(bad, cj.data, cj.len - 1, 0600, &err), 0, &err);

    pcs s;
    if (!pcs_start(&s, bad, dir)) {
        mk_buf_free(&cj);
        rmdir(dir);
        TU_SKIP("python3 is not installed (scripts/deps.sh test installs it)");
    }
    mk_buf q;
    load("tdx/phala-v4/quote.bin", &q);
    mk_tdx_verifier *v = fetching_verifier(&s, cache);
    mk_tdx_result r;
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, NULL, T_PHALA, &r, &err), MK_EBADSIG, &err);
    TU_ASSERT_REASON(&err, "signature does not verify");
    struct stat st;
    /* Not written to the disk cache ... */
    assert_true(stat(cfile, &st) < 0);
    /* ... nor kept in memory: the next verification asks the server again. */
    long n1 = pcs_count(&s);
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, NULL, T_PHALA, &r, &err), MK_EBADSIG, &err);
    assert_true(pcs_count(&s) > n1);
    mk_tdx_verifier_free(v);
    pcs_stop(&s);

    /* A bad bundle planted in the disk cache (e.g. by an older version) is
     * not reused: the good one is fetched and replaces it. */
    mkdir(cache, 0700);
    TU_ASSERT_RC(mk_file_write(cfile, cj.data, cj.len - 1, 0600, &err), 0, &err);
    assert_true(pcs_start(&s, good, dir));
    v = fetching_verifier(&s, cache);
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, NULL, T_PHALA, &r, &err), 0, &err);
    assert_int_equal(r.tcb_status, MK_TDX_TCB_UP_TO_DATE);
    assert_true(r.collateral_checked);
    /* Now cached (verified): a second verifier needs no server. */
    mk_tdx_verifier_free(v);
    long n2 = pcs_count(&s);
    v = fetching_verifier(&s, cache);
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, NULL, T_PHALA, &r, &err), 0, &err);
    assert_int_equal(pcs_count(&s), n2);
    mk_tdx_verifier_free(v);
    pcs_stop(&s);

    mk_buf_free(&q);
    mk_buf_free(&cj);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) print_error("could not remove %s\n", dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_chain_only),
        cmocka_unit_test(test_collateral_required_by_default),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_forged_intel_root),
        cmocka_unit_test(test_simulator),
        cmocka_unit_test(test_phala_full),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_warm_cost),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_tud_bits),
        cmocka_unit_test(test_fetched_collateral_verified_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
