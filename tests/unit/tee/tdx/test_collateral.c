/*
 * Collateral: parsing of the dcap-qvl bundle and of Intel PCS responses,
 * signatures over the exact served bytes, chains, windows, CRLs,
 * revocation, the warm verification cache, and malformed input.
 * Real data from ../shared/testdata/tdx (see its README for the times).
 */
#include "test_util.h"

#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "mosaik/tdx_provider.h"
#include "tee/tdx/collateral_internal.h"
#include "tee/tdx/tdx_internal.h"

#define PHALA_T 1752919234 /* 2025-07-19T10:00:34Z */
#define PHALA_PCK_CRL_NEXT 1752919235

static mk_tdx_collateral *bundle_from_text(const char *s, size_t len, int want, const char *why) {
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_collateral *c = NULL;
    int rc = mk_tdx_collateral_from_bundle(s, len, &c, &err);
    TU_ASSERT_RC(rc, want, &err);
    if (why) TU_ASSERT_REASON(&err, why);
    return c;
}

static mk_tdx_collateral *phala(void) {
    mk_buf b = MK_BUF_INIT;
    tu_read_testdata("tdx/phala-v4/collateral.json", &b);
    mk_tdx_collateral *c = bundle_from_text((const char *)b.data, b.len, 0, NULL);
    mk_buf_free(&b);
    return c;
}

/* Phala's bundle as a jansson object (to derive variants). */
static json_t *phala_json(void) {
    mk_buf b = MK_BUF_INIT;
    tu_read_testdata("tdx/phala-v4/collateral.json", &b);
    json_error_t je;
    json_t *j = json_loadb((const char *)b.data, b.len, 0, &je);
    mk_buf_free(&b);
    assert_non_null(j);
    return j;
}

/* Build collateral from a modified bundle and verify it at PHALA_T. */
static int verify_variant(json_t *j, mk_error *err) {
    char *s = json_dumps(j, JSON_PRESERVE_ORDER);
    assert_non_null(s);
    mk_tdx_collateral *c = NULL;
    int rc = mk_tdx_collateral_from_bundle(s, strlen(s), &c, err);
    free(s);
    if (rc < 0) return rc;
    mk_tee_trust *t = mk_tdx_trust_new();
    assert_non_null(t);
    rc = mk_tdx_collateral_verify(c, t, PHALA_T, NULL, NULL, err);
    mk_tee_trust_free(t);
    mk_tdx_collateral_free(c);
    return rc;
}

static void phala_parse(void **state) {
    (void)state;
    mk_tdx_collateral *c = phala();
    uint8_t f[6];
    assert_true(mk_tdx_collateral_fmspc(c, f));
    const uint8_t want[6] = {0xb0, 0xc0, 0x6f, 0, 0, 0};
    assert_memory_equal(f, want, 6);
    /* Earliest nextUpdate: the PCK CRL, 1 s after the test time. */
    assert_int_equal(mk_tdx_collateral_next_update(c), PHALA_PCK_CRL_NEXT);
    const mk_tdx_tcb_info *ti = mk_tdx_collateral_tcb_info(c);
    assert_true(ti->is_tdx);
    assert_int_equal(ti->eval_number, 17);
    assert_int_equal(ti->n_module_ids, 2);
    assert_true(ti->n_levels >= 2);
    assert_int_equal(ti->levels[0].status, MK_TDX_TCB_UP_TO_DATE);
    assert_int_equal(ti->levels[0].pcesvn, 11);
    assert_int_equal(ti->levels[1].n_adv, 14);
    assert_string_equal(ti->levels[1].adv[13], "INTEL-SA-00837");
    /* Module levels: isvsvn descending. */
    for (size_t i = 0; i < ti->n_module_ids; i++)
        for (size_t k = 1; k < ti->module_ids[i].n_levels; k++)
            assert_true(ti->module_ids[i].levels[k - 1].isvsvn >=
                        ti->module_ids[i].levels[k].isvsvn);
    const mk_tdx_qe_identity *qe = mk_tdx_collateral_qe_identity(c);
    assert_string_equal(qe->id, "TD_QE");
    assert_int_equal(qe->isvprodid, 2);
    assert_int_equal(qe->mrsigner[0], 0xdc);

    /* Bundle round trip keeps the exact signed texts. */
    mk_buf out = MK_BUF_INIT;
    assert_int_equal(mk_tdx_collateral_to_bundle(c, &out), 0);
    mk_tdx_collateral *c2 = bundle_from_text((const char *)out.data, out.len, 0, NULL);
    mk_tee_trust *t = mk_tdx_trust_new();
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tdx_collateral_verify(c2, t, PHALA_T, NULL, NULL, &err), 0, &err);
    mk_buf out2 = MK_BUF_INIT;
    assert_int_equal(mk_tdx_collateral_to_bundle(c2, &out2), 0);
    assert_int_equal(out.len, out2.len);
    assert_memory_equal(out.data, out2.data, out.len);
    mk_buf_free(&out);
    mk_buf_free(&out2);
    mk_tee_trust_free(t);
    mk_tdx_collateral_free(c2);
    mk_tdx_collateral_free(c);
}

static void phala_verify_window(void **state) {
    (void)state;
    mk_tdx_collateral *c = phala();
    mk_tee_trust *t = mk_tdx_trust_new();
    mk_error err;
    mk_error_clear(&err);
    int64_t until = 0;
    bool sim = true;
    TU_ASSERT_RC(mk_tdx_collateral_verify(c, t, PHALA_T, &until, &sim, &err), 0, &err);
    assert_int_equal(until, PHALA_PCK_CRL_NEXT);
    assert_false(sim);
    /* One second later the PCK CRL has expired (also through the cache). */
    TU_ASSERT_RC(mk_tdx_collateral_verify(c, t, PHALA_T + 1, NULL, NULL, &err), MK_EEXPIRED, &err);
    TU_ASSERT_REASON(&err, "PCK CRL expired at 2025-07-19T10:00:35Z");
    /* Before the TCB info was issued (2025-06-19T10:16:03Z). */
    int64_t early = mk_time_from_civil(2025, 6, 19, 10, 10, 0);
    TU_ASSERT_RC(mk_tdx_collateral_verify(c, t, early, NULL, NULL, &err), MK_ENOTYET, &err);
    TU_ASSERT_REASON(&err, "TCB info not valid before 2025-06-19T10:16:03Z");
    /* Still fine at the original time after the failures. */
    TU_ASSERT_RC(mk_tdx_collateral_verify(c, t, PHALA_T, NULL, NULL, &err), 0, &err);
    mk_tee_trust_free(t);
    mk_tdx_collateral_free(c);
}

static double now_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void warm_cache(void **state) {
    (void)state;
    mk_tee_trust *t = mk_tdx_trust_new();
    mk_error err;
    mk_error_clear(&err);
    /* Cold: fresh objects each time (the trust store has its own cache). */
    double cold = 0;
    for (int i = 0; i < 3; i++) {
        mk_tee_trust *t2 = mk_tdx_trust_new();
        mk_tdx_collateral *c = phala();
        double a = now_sec();
        TU_ASSERT_RC(mk_tdx_collateral_verify(c, t2, PHALA_T - 3600, NULL, NULL, &err), 0, &err);
        cold += now_sec() - a;
        mk_tdx_collateral_free(c);
        mk_tee_trust_free(t2);
    }
    cold /= 3;
    mk_tdx_collateral *c = phala();
    TU_ASSERT_RC(mk_tdx_collateral_verify(c, t, PHALA_T - 3600, NULL, NULL, &err), 0, &err);
    double a = now_sec();
    int64_t until = 0;
    for (int i = 0; i < 1000; i++)
        TU_ASSERT_RC(mk_tdx_collateral_verify(c, t, PHALA_T - 3600 + i, &until, NULL, &err), 0,
                     &err);
    double warm = (now_sec() - a) / 1000;
    assert_int_equal(until, PHALA_PCK_CRL_NEXT);
    /* No signature work: far below one cold verification. */
    if (!(warm * 20 < cold)) fail_msg("warm %.1f us vs cold %.1f us", warm * 1e6, cold * 1e6);
    /* Earlier than the cached window: verified again (and still fine). */
    TU_ASSERT_RC(mk_tdx_collateral_verify(c, t, PHALA_T - 7200, NULL, NULL, &err), 0, &err);
    mk_tdx_collateral_free(c);
    mk_tee_trust_free(t);
}

static void tamper_tcb_info(void **state) {
    (void)state;
    mk_error err;
    mk_error_clear(&err);
    /* A flipped byte inside the signed text (still valid JSON). */
    json_t *j = phala_json();
    char *txt = strdup(json_string_value(json_object_get(j, "tcb_info")));
    char *p = strstr(txt, "\"tcbEvaluationDataNumber\":17");
    assert_non_null(p);
    p[strlen("\"tcbEvaluationDataNumber\":1")] = '8';
    json_object_set_new(j, "tcb_info", json_string(txt));
    free(txt);
    TU_ASSERT_RC(verify_variant(j, &err), MK_EBADSIG, &err);
    TU_ASSERT_REASON(&err, "TCB info: signature does not verify");
    json_decref(j);

    /* Same content, re-serialized with different whitespace. */
    j = phala_json();
    json_error_t je;
    json_t *inner = json_loads(json_string_value(json_object_get(j, "tcb_info")), 0, &je);
    char *re = json_dumps(inner, JSON_PRESERVE_ORDER | JSON_INDENT(1));
    json_object_set_new(j, "tcb_info", json_string(re));
    free(re);
    json_decref(inner);
    TU_ASSERT_RC(verify_variant(j, &err), MK_EBADSIG, &err);
    json_decref(j);

    /* QE identity signature flipped. */
    j = phala_json();
    char *sig = strdup(json_string_value(json_object_get(j, "qe_identity_signature")));
    sig[10] = sig[10] == '0' ? '1' : '0';
    json_object_set_new(j, "qe_identity_signature", json_string(sig));
    free(sig);
    TU_ASSERT_RC(verify_variant(j, &err), MK_EBADSIG, &err);
    TU_ASSERT_REASON(&err, "QE identity");
    json_decref(j);

    /* The PCK CRL's issuer chain swapped for the TCB signing chain. */
    j = phala_json();
    json_object_set(j, "pck_crl_issuer_chain", json_object_get(j, "tcb_info_issuer_chain"));
    TU_ASSERT_RC(verify_variant(j, &err), MK_EMISMATCH, &err);
    json_decref(j);

    /* The TCB info signed... by the PCK CRL's CA chain: not a TCB signer. */
    j = phala_json();
    json_object_set(j, "tcb_info_issuer_chain", json_object_get(j, "pck_crl_issuer_chain"));
    TU_ASSERT_RC(verify_variant(j, &err), MK_EUNTRUSTED, &err);
    TU_ASSERT_REASON(&err, "not a TCB signing certificate");
    json_decref(j);
}

/* A self-made "Intel SGX Root CA" and "Intel SGX TCB Signing" pair. */
static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey, bool ca) {
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), ca ? 1 : 2);
    X509_gmtime_adj(X509_getm_notBefore(x), -(long)(5 * 365 * 86400));
    X509_gmtime_adj(X509_getm_notAfter(x), (long)(20 * 365 * 86400));
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509_sign(x, ikey, EVP_sha256());
    return x;
}

static char *pem_of(X509 *a, X509 *b) {
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, a);
    PEM_write_bio_X509(bio, b);
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    char *s = strndup(data, (size_t)n);
    BIO_free(bio);
    return s;
}

static void self_made_root(void **state) {
    (void)state;
    EVP_PKEY *rk = EVP_EC_gen("P-256"), *lk = EVP_EC_gen("P-256");
    X509 *root = make_cert("Intel SGX Root CA", rk, NULL, rk, true);
    X509 *leaf = make_cert("Intel SGX TCB Signing", lk, root, rk, false);
    char *pem = pem_of(leaf, root);
    json_t *j = phala_json();
    json_object_set_new(j, "tcb_info_issuer_chain", json_string(pem));
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(verify_variant(j, &err), MK_EUNTRUSTED, &err);
    TU_ASSERT_REASON(&err, "TCB info issuer chain");
    json_decref(j);
    free(pem);
    X509_free(root);
    X509_free(leaf);
    EVP_PKEY_free(rk);
    EVP_PKEY_free(lk);
}

/* google-v5 responses in PCS form; the TCB signing chain is phala's,
 * given URL-encoded as in the PCS header. */
static mk_tdx_collateral *google_v5(bool with_qe, bool url_encoded) {
    mk_buf tcb = MK_BUF_INIT, qe = MK_BUF_INIT;
    tu_read_testdata("tdx/google-v5/tcb_info_response.json", &tcb);
    tu_read_testdata("tdx/google-v5/qe_identity_response.json", &qe);
    json_t *j = phala_json();
    const char *chain = json_string_value(json_object_get(j, "tcb_info_issuer_chain"));
    char *enc = curl_easy_escape(NULL, chain, 0);
    mk_tdx_pcs_responses r;
    memset(&r, 0, sizeof r);
    r.tcb_info_body = (const char *)tcb.data;
    r.tcb_info_len = tcb.len;
    r.tcb_info_issuer_chain = url_encoded ? enc : chain;
    if (with_qe) {
        r.qe_identity_body = (const char *)qe.data;
        r.qe_identity_len = qe.len;
        r.qe_identity_issuer_chain = enc;
    }
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_collateral *c = NULL;
    TU_ASSERT_RC(mk_tdx_collateral_from_pcs(&r, &c, &err), 0, &err);
    curl_free(enc);
    json_decref(j);
    mk_buf_free(&tcb);
    mk_buf_free(&qe);
    return c;
}

static void google_v5_pcs(void **state) {
    (void)state;
    mk_tdx_collateral *c = google_v5(true, true);
    mk_tee_trust *t = mk_tdx_trust_new();
    mk_error err;
    mk_error_clear(&err);
    int64_t t0 = mk_time_from_civil(2026, 2, 3, 0, 0, 0);
    /* The TCB info signature over the exact body bytes verifies in its window. */
    TU_ASSERT_RC(mk_tdx_collateral_verify_doc(c, t, MK_TDX_DOC_TCB_INFO, t0, &err), 0, &err);
    /* The QE identity is from 2023: its chain and signature pass (the window
     * is checked last), then it is refused as expired. */
    TU_ASSERT_RC(mk_tdx_collateral_verify_doc(c, t, MK_TDX_DOC_QE_IDENTITY, t0, &err), MK_EEXPIRED,
                 &err);
    TU_ASSERT_REASON(&err, "QE identity expired at 2023-07-08T07:24:59Z");
    /* Incomplete collateral: the full verification says what is missing. */
    TU_ASSERT_RC(mk_tdx_collateral_verify(c, t, t0, NULL, NULL, &err), MK_ENOTFOUND, &err);
    TU_ASSERT_REASON(&err, "no PCK CRL");
    const mk_tdx_tcb_info *ti = mk_tdx_collateral_tcb_info(c);
    assert_int_equal(ti->eval_number, 18);
    const uint8_t f[6] = {0x90, 0xc0, 0x6f, 0, 0, 0}; /* lower case in the JSON */
    assert_memory_equal(ti->fmspc, f, 6);
    const mk_tdx_qe_identity *qe = mk_tdx_collateral_qe_identity(c);
    assert_int_equal(qe->eval_number, 15);
    assert_int_equal(qe->attributes[0], 0x11);
    assert_int_equal(qe->attributes_mask[0], 0xfb);
    assert_int_equal(qe->miscselect_mask, 0xffffffffu);
    mk_tdx_collateral_free(c);

    /* Plain PEM header works too. */
    c = google_v5(false, false);
    TU_ASSERT_RC(mk_tdx_collateral_verify_doc(c, t, MK_TDX_DOC_TCB_INFO, t0, &err), 0, &err);
    /* The bundle form of PCS input keeps the exact span. */
    mk_buf b = MK_BUF_INIT;
    assert_int_equal(mk_tdx_collateral_to_bundle(c, &b), 0);
    mk_tdx_collateral *c2 = bundle_from_text((const char *)b.data, b.len, 0, NULL);
    TU_ASSERT_RC(mk_tdx_collateral_verify_doc(c2, t, MK_TDX_DOC_TCB_INFO, t0, &err), 0, &err);
    mk_tdx_collateral_free(c2);
    mk_buf_free(&b);
    mk_tdx_collateral_free(c);
    mk_tee_trust_free(t);
}

static void spr_pcs_trailing_newline(void **state) {
    (void)state;
    mk_buf tcb = MK_BUF_INIT;
    tu_read_testdata("tdx/google-spr-v4/tcb_info_response.json", &tcb);
    json_t *j = phala_json();
    mk_tdx_pcs_responses r;
    memset(&r, 0, sizeof r);
    r.tcb_info_body = (const char *)tcb.data;
    r.tcb_info_len = tcb.len;
    r.tcb_info_issuer_chain = json_string_value(json_object_get(j, "tcb_info_issuer_chain"));
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_collateral *c = NULL;
    TU_ASSERT_RC(mk_tdx_collateral_from_pcs(&r, &c, &err), 0, &err);
    mk_tee_trust *t = mk_tdx_trust_new();
    /* The 2023 document cannot be valid while this signing certificate is
     * (from 2025-05-06): the chain and the signature pass (the window is
     * checked last), then it is refused as expired. */
    int64_t t0 = mk_time_from_civil(2025, 6, 1, 0, 0, 0);
    TU_ASSERT_RC(mk_tdx_collateral_verify_doc(c, t, MK_TDX_DOC_TCB_INFO, t0, &err), MK_EEXPIRED,
                 &err);
    TU_ASSERT_REASON(&err, "TCB info expired at 2023-07-18");
    assert_int_equal(mk_tdx_collateral_tcb_info(c)->n_module_ids, 0);
    mk_tdx_collateral_free(c);

    /* A body whose tcbInfo was re-serialized (spaces): bad signature. */
    mk_buf mod = MK_BUF_INIT;
    const char *body = (const char *)tcb.data;
    const char *k = strstr(body, "\"version\":3");
    assert_non_null(k);
    mk_buf_append(&mod, body, (size_t)(k - body));
    mk_buf_append_str(&mod, "\"version\": 3");
    mk_buf_append(&mod, k + 11, tcb.len - (size_t)(k + 11 - body));
    r.tcb_info_body = (const char *)mod.data;
    r.tcb_info_len = mod.len;
    TU_ASSERT_RC(mk_tdx_collateral_from_pcs(&r, &c, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_collateral_verify_doc(c, t, MK_TDX_DOC_TCB_INFO, t0, &err), MK_EBADSIG,
                 &err);
    mk_tdx_collateral_free(c);
    mk_buf_free(&mod);
    mk_tee_trust_free(t);
    json_decref(j);
    mk_buf_free(&tcb);
}

static X509 *first_cert(const char *pem) {
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    assert_non_null(x);
    return x;
}

static void pck_crl_lookup(void **state) {
    (void)state;
    mk_buf crl = MK_BUF_INIT, root = MK_BUF_INIT;
    tu_read_testdata("tdx/intel/pck_platform_crl.der", &crl);
    tu_read_testdata("tdx/intel/root_ca_crl.der", &root);
    json_t *j = phala_json();
    const char *ca_chain = json_string_value(json_object_get(j, "pck_crl_issuer_chain"));
    mk_tdx_pcs_responses r;
    memset(&r, 0, sizeof r);
    r.pck_crl = crl.data;
    r.pck_crl_len = crl.len;
    r.pck_crl_issuer_chain = ca_chain;
    r.root_ca_crl = root.data;
    r.root_ca_crl_len = root.len;
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_collateral *c = NULL;
    TU_ASSERT_RC(mk_tdx_collateral_from_pcs(&r, &c, &err), 0, &err);
    /* The PCK CRL's nextUpdate (2023-07-08) comes before the root CRL's. */
    int64_t nu = mk_tdx_collateral_next_update(c);
    assert_true(nu >= mk_time_from_civil(2023, 7, 8, 0, 0, 0));
    assert_true(nu < mk_time_from_civil(2023, 7, 9, 0, 0, 0));

    /* 44 entries; a certificate with a listed serial from the Platform CA is revoked. */
    X509_CRL *x = NULL;
    TU_ASSERT_RC(mk_tee_crl_parse(crl.data, crl.len, &x, &err), 0, &err);
    STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(x);
    assert_int_equal(sk_X509_REVOKED_num(revs), 44);
    const ASN1_INTEGER *serial = X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revs, 7));

    X509 *ca = first_cert(ca_chain);
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *leaf = X509_new();
    X509_set_version(leaf, 2);
    X509_set_serialNumber(leaf, (ASN1_INTEGER *)serial);
    X509_set_issuer_name(leaf, X509_get_subject_name(ca));
    X509_set_subject_name(leaf, X509_get_subject_name(ca));
    X509_gmtime_adj(X509_getm_notBefore(leaf), 0);
    X509_gmtime_adj(X509_getm_notAfter(leaf), 86400);
    X509_set_pubkey(leaf, k);
    X509_sign(leaf, k, EVP_sha256());
    mk_tee_chain ch;
    memset(&ch, 0, sizeof ch);
    ch.leaf = leaf;
    ch.intermediate = ca;
    TU_ASSERT_RC(mk_tdx_collateral_check_revocation(c, &ch, &err), MK_EREVOKED, &err);
    TU_ASSERT_REASON(&err, "PCK certificate");
    /* Another serial is not revoked. */
    ASN1_INTEGER_set(X509_get_serialNumber(leaf), 12345);
    TU_ASSERT_RC(mk_tdx_collateral_check_revocation(c, &ch, &err), 0, &err);
    /* A PCK CRL from another CA than the leaf's issuer is refused. */
    X509_NAME *other = X509_NAME_new();
    X509_NAME_add_entry_by_txt(other, "CN", MBSTRING_UTF8,
                               (const unsigned char *)"Intel SGX PCK Processor CA", -1, -1, 0);
    X509_set_issuer_name(leaf, other);
    TU_ASSERT_RC(mk_tdx_collateral_check_revocation(c, &ch, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "PCK CRL is from");
    X509_NAME_free(other);

    X509_free(leaf);
    X509_free(ca);
    EVP_PKEY_free(k);
    X509_CRL_free(x);
    mk_tdx_collateral_free(c);
    json_decref(j);
    mk_buf_free(&crl);
    mk_buf_free(&root);
}

static void phala_quote_not_revoked(void **state) {
    (void)state;
    mk_buf qb = MK_BUF_INIT;
    tu_read_testdata("tdx/phala-v4/quote.bin", &qb);
    mk_tdx_quote q;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tdx_quote_parse(qb.data, qb.len, &q, &err), 0, &err);
    mk_tee_trust *t = mk_tdx_trust_new();
    mk_tee_chain ch;
    TU_ASSERT_RC(mk_tee_chain_verify_pem(t, (const char *)q.pck_chain_pem, q.pck_chain_len, PHALA_T,
                                         &ch, &err),
                 0, &err);
    mk_tdx_collateral *c = phala();
    TU_ASSERT_RC(mk_tdx_collateral_check_revocation(c, &ch, &err), 0, &err);
    mk_tee_chain_free(&ch);
    mk_tdx_collateral_free(c);
    mk_tee_trust_free(t);
    mk_buf_free(&qb);
}

/* Simulator collateral: trusted only with the simulator root, flagged, and
 * the warm cache never carries a simulated result over to a trust store
 * without (or with another) simulator root. */
static void simulator(void **state) {
    (void)state;
    const int64_t now = 1760000000;
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_sim *sim = NULL, *sim2 = NULL;
    TU_ASSERT_RC(mk_tdx_sim_new(&(mk_tdx_sim_config){.now = now}, &sim, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_sim_new(&(mk_tdx_sim_config){.now = now}, &sim2, &err), 0, &err);
    mk_tdx_collateral *c = NULL;
    TU_ASSERT_RC(mk_tdx_sim_collateral(sim, now, &c, &err), 0, &err);
    const uint8_t *der;
    size_t len;
    mk_tee_trust *ts = mk_tdx_trust_new(), *ts2 = mk_tdx_trust_new(), *plain = mk_tdx_trust_new();
    mk_tdx_sim_root_der(sim, &der, &len);
    TU_ASSERT_RC(mk_tee_trust_add_sim_root(ts, der, len, &err), 0, &err);
    mk_tdx_sim_root_der(sim2, &der, &len);
    TU_ASSERT_RC(mk_tee_trust_add_sim_root(ts2, der, len, &err), 0, &err);

    bool simulated = false;
    TU_ASSERT_RC(mk_tdx_collateral_verify(c, ts, now, NULL, &simulated, &err), 0, &err);
    assert_true(simulated);
    /* Cached for ts; refused for the others. */
    TU_ASSERT_RC(mk_tdx_collateral_verify(c, ts, now + 10, NULL, &simulated, &err), 0, &err);
    assert_true(simulated);
    TU_ASSERT_RC(mk_tdx_collateral_verify(c, plain, now + 10, NULL, NULL, &err), MK_EUNTRUSTED,
                 &err);
    TU_ASSERT_RC(mk_tdx_collateral_verify(c, ts2, now + 10, NULL, NULL, &err), MK_EUNTRUSTED, &err);
    TU_ASSERT_RC(mk_tdx_collateral_verify(c, ts, now + 20, NULL, NULL, &err), 0, &err);

    /* A simulated quote grades UpToDate against it. */
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    uint8_t rd[MK_TDX_REPORT_DATA_LEN] = {1};
    mk_buf qb = MK_BUF_INIT;
    TU_ASSERT_RC(mk_tdx_sim_quote(sim, &td, rd, &qb, &err), 0, &err);
    mk_tdx_quote q;
    TU_ASSERT_RC(mk_tdx_quote_parse(qb.data, qb.len, &q, &err), 0, &err);
    mk_tee_chain ch;
    TU_ASSERT_RC(
        mk_tee_chain_verify_pem(ts, (const char *)q.pck_chain_pem, q.pck_chain_len, now, &ch, &err),
        0, &err);
    mk_tdx_pck_ext ext;
    mk_tdx_pck_ca ca;
    TU_ASSERT_RC(mk_tdx_pck_from_cert(ch.leaf, ch.intermediate, &ext, &ca, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_collateral_check_revocation(c, &ch, &err), 0, &err);
    mk_tdx_result res;
    memset(&res, 0, sizeof res);
    TU_ASSERT_RC(mk_tdx_tcb_evaluate(c, &q, &ext, &res, &err), 0, &err);
    assert_int_equal(res.tcb_status, MK_TDX_TCB_UP_TO_DATE);
    /* The phala (Intel) CRLs do not cover the simulated chain. */
    mk_tdx_collateral *ph = phala();
    TU_ASSERT_RC(mk_tdx_collateral_check_revocation(ph, &ch, &err), MK_EMISMATCH, &err);
    mk_tdx_collateral_free(ph);
    mk_tee_chain_free(&ch);
    mk_buf_free(&qb);

    mk_tee_trust_free(ts);
    mk_tee_trust_free(ts2);
    mk_tee_trust_free(plain);
    mk_tdx_collateral_free(c);
    mk_tdx_sim_free(sim);
    mk_tdx_sim_free(sim2);
}

static void malformed(void **state) {
    (void)state;
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_collateral *c = NULL;
    /* Deep nesting is refused (MK_ETOOBIG), whatever jansson allows. */
    char deep[200];
    size_t n = 0;
    deep[n++] = '{';
    memcpy(deep + n, "\"a\":", 4);
    n += 4;
    for (int i = 0; i < 40; i++)
        deep[n++] = '[';
    for (int i = 0; i < 40; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    TU_ASSERT_RC(mk_tdx_collateral_from_bundle(deep, n, &c, &err), MK_ETOOBIG, &err);
    TU_ASSERT_REASON(&err, "nesting");
    const char *bad[] = {
        "",
        "[]",
        "{\"tcb_info\":1}",
        "{}",
        "{\"a\":1} x",
        "{\"a\":\"\\",
        "{\"tcb_info\":\"{}\",\"tcb_info_signature\":\"00\"}",
        "{\"a\":1,\"a\":2}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = NULL;
        int rc = mk_tdx_collateral_from_bundle(bad[i], strlen(bad[i]), &c, &err);
        if (rc >= 0) fail_msg("accepted bad bundle %zu", i);
        assert_null(c);
    }

    /* PCS body with the key duplicated via an escape, or missing. */
    mk_buf tcb = MK_BUF_INIT;
    tu_read_testdata("tdx/google-v5/tcb_info_response.json", &tcb);
    const char *bodies[] = {
        "{\"signature\":\"00\"}",
        "{\"tcbInfo\":{},\"tcb\\u0049nfo\":{},\"signature\":\"00\"}",
        "{\"tcbInfo\":{},\"tcbInfo\":{},\"signature\":\"00\"}",
        "{\"tcbInfo\":{}}",
    };
    mk_tdx_pcs_responses r;
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        memset(&r, 0, sizeof r);
        r.tcb_info_body = bodies[i];
        r.tcb_info_len = strlen(bodies[i]);
        c = NULL;
        if (mk_tdx_collateral_from_pcs(&r, &c, &err) >= 0) fail_msg("accepted bad body %zu", i);
    }
    /* Truncations of a real body never parse. */
    for (size_t cut = 0; cut < tcb.len - 1; cut += 97) {
        memset(&r, 0, sizeof r);
        r.tcb_info_body = (const char *)tcb.data;
        r.tcb_info_len = cut;
        c = NULL;
        if (mk_tdx_collateral_from_pcs(&r, &c, &err) >= 0) fail_msg("accepted cut at %zu", cut);
    }
    /* Oversized. */
    memset(&r, 0, sizeof r);
    r.tcb_info_body = (const char *)tcb.data;
    r.tcb_info_len = MK_TDX_COLLATERAL_MAX + 1;
    TU_ASSERT_RC(mk_tdx_collateral_from_pcs(&r, &c, &err), MK_ETOOBIG, &err);
    /* A wrong-typed field is named. */
    char *s = strndup((const char *)tcb.data, tcb.len);
    char *p = strstr(s, "\"pceId\":\"0000\"");
    assert_non_null(p);
    memcpy(p, "\"pceId\":\"000g\"", 14);
    r.tcb_info_body = s;
    r.tcb_info_len = strlen(s);
    TU_ASSERT_RC(mk_tdx_collateral_from_pcs(&r, &c, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "pceId");
    free(s);
    mk_buf_free(&tcb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(phala_parse),
        cmocka_unit_test(phala_verify_window),
        cmocka_unit_test(warm_cache),
        cmocka_unit_test(tamper_tcb_info),
        cmocka_unit_test(self_made_root),
        cmocka_unit_test(google_v5_pcs),
        cmocka_unit_test(spr_pcs_trailing_newline),
        cmocka_unit_test(pck_crl_lookup),
        cmocka_unit_test(phala_quote_not_revoked),
        cmocka_unit_test(simulator),
        cmocka_unit_test(malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
