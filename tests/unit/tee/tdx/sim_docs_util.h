/*
 * tests/unit/tee/tdx/sim_docs.h — collateral documents made with the TDX
 * simulator's own keys, for tests that need documents the simulator does
 * not publish: CRLs that list revoked certificates, other PCK CAs, and TCB
 * info / QE identity texts edited and signed again by the simulated TCB
 * signing key (so every signature still verifies and only the edit is
 * different).
 *
 * The CRLs have the simulator's format (tee/sim_pki.c, like Intel's): X.509
 * v2, a CRL number, thisUpdate now - 1 h, nextUpdate now + 30 days,
 * ECDSA-SHA256 by the issuing CA; each listed certificate is an entry with
 * its serial and a revocation date of now - 2 h. A bundle is the
 * simulator's own (mk_tdx_sim_collateral_json) with members replaced; the
 * document texts are carried as JSON strings, byte for byte.
 *
 * Header-only (static functions) so that each test program takes what it
 * uses; it reaches the simulator's keys through tee/tdx/sim_internal.h.
 */
#ifndef MOSAIK_TESTS_SIM_DOCS_H
#define MOSAIK_TESTS_SIM_DOCS_H

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "mosaik/encoding.h"
#include "mosaik/tdx_provider.h"
#include "tee/tdx/sim_internal.h"
#include "tee/tdx/tdx_internal.h"
#include "tee/tee_internal.h"

/* A CRL by issuer/key listing the n certificates of revoked; DER into der. */
static inline void sd_crl(X509 *issuer, EVP_PKEY *key, int64_t now, X509 *const *revoked, size_t n,
                          mk_buf *der) {
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *t1 = ASN1_TIME_set(NULL, (time_t)(now - 3600));
    ASN1_TIME *t2 = ASN1_TIME_set(NULL, (time_t)(now + 30 * 86400));
    ASN1_TIME *tr = ASN1_TIME_set(NULL, (time_t)(now - 7200));
    ASN1_INTEGER *num = ASN1_INTEGER_new();
    assert_non_null(crl);
    assert_true(t1 && t2 && tr && num);
    assert_int_equal(X509_CRL_set_version(crl, X509_CRL_VERSION_2), 1);
    assert_int_equal(X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)), 1);
    assert_int_equal(X509_CRL_set1_lastUpdate(crl, t1), 1);
    assert_int_equal(X509_CRL_set1_nextUpdate(crl, t2), 1);
    assert_int_equal(ASN1_INTEGER_set(num, 1), 1);
    assert_int_equal(X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0), 1);
    for (size_t i = 0; i < n; i++) {
        X509_REVOKED *r = X509_REVOKED_new();
        assert_non_null(r);
        assert_int_equal(
            X509_REVOKED_set_serialNumber(r, (ASN1_INTEGER *)X509_get0_serialNumber(revoked[i])),
            1);
        assert_int_equal(X509_REVOKED_set_revocationDate(r, tr), 1);
        assert_int_equal(X509_CRL_add0_revoked(crl, r), 1);
    }
    assert_int_equal(X509_CRL_sort(crl), 1);
    assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
    unsigned char *p = NULL;
    int len = i2d_X509_CRL(crl, &p);
    assert_true(len > 0);
    mk_buf_reset(der);
    assert_int_equal(mk_buf_append(der, p, (size_t)len), 0);
    OPENSSL_free(p);
    ASN1_INTEGER_free(num);
    ASN1_TIME_free(t1);
    ASN1_TIME_free(t2);
    ASN1_TIME_free(tr);
    X509_CRL_free(crl);
}

/* Another CA under the simulator's root, with its own key (*key_out). */
static inline X509 *sd_other_ca(const mk_tdx_sim *sim, const char *cn, int64_t now,
                                EVP_PKEY **key_out) {
    EVP_PKEY *k = mk_tdx_sim_keygen();
    assert_non_null(k);
    X509 *ca = mk_tdx_sim_make_cert(MK_TDX_SIM_CERT_CA, cn, k, sim->root, sim->root_key, now);
    assert_non_null(ca);
    *key_out = k;
    return ca;
}

/* The parts a test replaces in the simulator's bundle (NULL: keep). The
 * texts are signed again with the simulated TCB signing key. */
typedef struct sd_parts {
    const char *tcb_info;
    const char *qe_identity;
    const mk_buf *pck_crl;
    const mk_buf *root_crl;
    const char *pck_crl_chain;
} sd_parts;

static inline void sd_set_str(json_t *o, const char *key, const char *s, size_t n) {
    assert_int_equal(json_object_set_new(o, key, json_stringn(s, n)), 0);
}

static inline void sd_set_hex(json_t *o, const char *key, const uint8_t *d, size_t n) {
    char *h = malloc(2 * n + 1);
    assert_non_null(h);
    mk_hex_encode(d, n, h);
    sd_set_str(o, key, h, 2 * n);
    free(h);
}

static inline void sd_set_doc(const mk_tdx_sim *sim, json_t *o, const char *key, const char *text) {
    uint8_t sig[64];
    char sig_key[40];
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tdx_sim_sign(sim->tcb_key, text, strlen(text), sig, &err), 0, &err);
    sd_set_str(o, key, text, strlen(text));
    snprintf(sig_key, sizeof sig_key, "%s_signature", key);
    sd_set_hex(o, sig_key, sig, 64);
}

/* The simulator's bundle at now with the given parts replaced, as JSON. */
static inline void sd_bundle(const mk_tdx_sim *sim, int64_t now, const sd_parts *p, mk_buf *out) {
    mk_buf base = MK_BUF_INIT;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tdx_sim_collateral_json(sim, now, &base, &err), 0, &err);
    json_error_t je;
    json_t *o = json_loadb((const char *)base.data, base.len, 0, &je);
    assert_non_null(o);
    if (p && p->tcb_info) sd_set_doc(sim, o, "tcb_info", p->tcb_info);
    if (p && p->qe_identity) sd_set_doc(sim, o, "qe_identity", p->qe_identity);
    if (p && p->pck_crl) sd_set_hex(o, "pck_crl", p->pck_crl->data, p->pck_crl->len);
    if (p && p->root_crl) sd_set_hex(o, "root_ca_crl", p->root_crl->data, p->root_crl->len);
    if (p && p->pck_crl_chain)
        sd_set_str(o, "pck_crl_issuer_chain", p->pck_crl_chain, strlen(p->pck_crl_chain));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_non_null(s);
    mk_buf_reset(out);
    assert_int_equal(mk_buf_append_str(out, s), 0);
    free(s);
    json_decref(o);
    mk_buf_free(&base);
}

/* One member (a document text) of the simulator's bundle at now. */
static inline char *sd_member(const mk_tdx_sim *sim, int64_t now, const char *key) {
    mk_buf base = MK_BUF_INIT;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tdx_sim_collateral_json(sim, now, &base, &err), 0, &err);
    json_error_t je;
    json_t *o = json_loadb((const char *)base.data, base.len, 0, &je);
    assert_non_null(o);
    const char *v = json_string_value(json_object_get(o, key));
    assert_non_null(v);
    char *copy = strdup(v);
    assert_non_null(copy);
    json_decref(o);
    mk_buf_free(&base);
    return copy;
}

/* text with the first occurrence of `from` at or after the first `anchor`
 * replaced by `to` (malloc'd); the test fails when either is missing. */
static inline char *sd_replace(const char *text, const char *anchor, const char *from,
                               const char *to) {
    const char *a = anchor ? strstr(text, anchor) : text;
    if (!a) fail_msg("anchor %s not in the document", anchor ? anchor : "(none)");
    const char *f = strstr(a, from);
    if (!f) fail_msg("%s not in the document after %s", from, anchor ? anchor : "its start");
    size_t head = (size_t)(f - text), fl = strlen(from), tl = strlen(to);
    char *out = malloc(strlen(text) - fl + tl + 1);
    assert_non_null(out);
    memcpy(out, text, head);
    memcpy(out + head, to, tl);
    strcpy(out + head + tl, f + fl);
    return out;
}

/* A collateral object from bundle JSON (the test fails on refusal). */
static inline mk_tdx_collateral *sd_collateral(const mk_buf *json) {
    mk_tdx_collateral *c = NULL;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tdx_collateral_from_bundle((const char *)json->data, json->len, &c, &err), 0,
                 &err);
    return c;
}

#endif
