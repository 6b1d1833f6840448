/*
 * tee/tdx/collateral.c — the TDX collateral object: the TCB info, the TD_QE
 * identity, the PCK CRL and the root CA CRL, each with its issuer chain,
 * built from one of two input forms and written back in the first.
 *
 *   - the dcap-qvl / Phala PCCS JSON bundle, whose `tcb_info` and
 *     `qe_identity` strings are the exact texts Intel signed;
 *   - Intel PCS v4 responses: bodies `{"tcbInfo":{...},"signature":"..."}`
 *     and `{"enclaveIdentity":{...},...}` plus issuer-chain headers (plain
 *     or URL-encoded PEM) and CRLs as DER, PEM or hex text.
 *
 * Exact bytes. Intel signs the bytes of the inner JSON value as served, so
 * nothing is ever re-serialised. A bundle carries those bytes as a string.
 * For a PCS body, the whole body is first parsed by jansson (duplicates
 * refused, depth capped: collateral_json.c), then the byte span of the
 * top-level "tcbInfo" / "enclaveIdentity" value is located in the raw text
 * (mk_tdx_json_member_span); that span is what is kept, what the signature
 * is checked over (collateral_verify.c) and what the fields are parsed from
 * (collateral_parse.c), and its parse must equal the body's decoded member,
 * so an escaped duplicate key cannot make the signed text differ from the
 * one evaluated. The bundle output writes the kept texts unchanged, so a
 * round trip keeps every signature valid.
 *
 * Invariants: a collateral object is immutable once built, except for the
 * verification cache (collateral_verify.c, mutex-protected). Every document
 * is capped at MK_TDX_COLLATERAL_MAX, a bundle at 4 times that, chains at
 * MK_TDX_CERT_DATA_MAX; a CRL must carry thisUpdate and nextUpdate. Any
 * piece may be missing here; verification says which.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "mosaik/clock.h"
#include "mosaik/encoding.h"
#include "tee/tdx/collateral_impl_internal.h"
#include "tee/tdx/tdx_internal.h"

#define BUNDLE_MAX (4 * MK_TDX_COLLATERAL_MAX)

/* ------------------------------------------------------------------ */
/* Building blocks                                                     */
/* ------------------------------------------------------------------ */

static char *dup_text(const char *s, size_t len) {
    char *p = malloc(len + 1);
    if (!p) return NULL;
    memcpy(p, s, len);
    p[len] = 0;
    return p;
}

/* Set the signed text of a document (the exact inner JSON value), check its
 * signature hex and parse it. */
static int set_signed_doc(mk_tdx_collateral *c, mk_tdx_doc which, const char *text, size_t len,
                          const char *sig_hex, size_t sig_len, mk_error *err) {
    bool tcb = which == MK_TDX_DOC_TCB_INFO;
    const char *what = tcb ? "TCB info" : "QE identity";
    if (len > MK_TDX_COLLATERAL_MAX)
        return mk_error_set(err, MK_ETOOBIG, "%s: %zu bytes (max %d)", what, len,
                            MK_TDX_COLLATERAL_MAX);
    if (sig_len != 128 || mk_hex_decode_exact(sig_hex, tcb ? c->tcb_sig : c->qe_sig, 64, err) < 0)
        return mk_error_set(err, MK_EMALFORMED, "%s: signature is not 128 hex digits", what);
    json_t *j;
    int rc = mk_tdx_json_load(text, len, &j, err);
    if (rc == 0) {
        rc =
            tcb ? mk_tdx_tcb_info_parse(j, &c->tcb, err) : mk_tdx_qe_identity_parse(j, &c->qe, err);
        json_decref(j);
    }
    if (rc < 0) return mk_error_prefix(err, rc, "%s", what);
    char *copy = dup_text(text, len);
    if (!copy) return mk_error_set(err, MK_ENOMEM, "out of memory");
    if (tcb) {
        c->tcb_text = copy;
        c->tcb_len = len;
    } else {
        c->qe_text = copy;
        c->qe_len = len;
    }
    return 0;
}

/* An issuer chain: plain PEM, or URL-encoded PEM (as in PCS headers). */
static int set_chain(char **dst, const char *what, const char *s, size_t len, mk_error *err) {
    if (len > 3 * MK_TDX_CERT_DATA_MAX)
        return mk_error_set(err, MK_ETOOBIG, "%s issuer chain: %zu bytes", what, len);
    char *pem = NULL;
    size_t plen = 0;
    static const char tag[] = "-----BEGIN CERTIFICATE-----";
    if (memmem(s, len, tag, sizeof tag - 1) == NULL) { /* URL-encoded has %20 */
        int olen = 0;
        char *dec = curl_easy_unescape(NULL, s, (int)len, &olen);
        if (!dec) return mk_error_set(err, MK_ENOMEM, "%s issuer chain: cannot decode", what);
        pem = dup_text(dec, (size_t)olen);
        plen = (size_t)olen;
        curl_free(dec);
    } else {
        pem = dup_text(s, len);
        plen = len;
    }
    if (!pem) return mk_error_set(err, MK_ENOMEM, "out of memory");
    bool ok = plen > 0 && plen <= MK_TDX_CERT_DATA_MAX && strstr(pem, "-----BEGIN CERTIFICATE");
    for (size_t i = 0; ok && i < plen; i++) {
        unsigned char ch = (unsigned char)pem[i];
        ok = (ch >= 0x20 && ch < 0x7f) || ch == '\n' || ch == '\r' || ch == '\t';
    }
    if (!ok) {
        free(pem);
        return mk_error_set(err, MK_EMALFORMED, "%s issuer chain: not a PEM certificate chain",
                            what);
    }
    *dst = pem;
    return 0;
}

static bool all_hex(const uint8_t *p, size_t n) {
    if (n == 0 || n % 2) return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit(p[i])) return false;
    return true;
}

/* A CRL given as DER, PEM or hex text (PCCS): parse, keep DER, read times. */
static int set_crl(const char *what, const uint8_t *data, size_t len, uint8_t **der_out,
                   size_t *der_len, X509_CRL **crl_out, int64_t *this_up, int64_t *next_up,
                   mk_error *err) {
    if (len > 2 * MK_TDX_COLLATERAL_MAX)
        return mk_error_set(err, MK_ETOOBIG, "%s: %zu bytes", what, len);
    mk_buf hex = MK_BUF_INIT;
    if (all_hex(data, len)) {
        int rc = mk_hex_decode((const char *)data, len, &hex, err);
        if (rc < 0) {
            mk_buf_free(&hex);
            return mk_error_prefix(err, rc, "%s", what);
        }
        data = hex.data;
        len = hex.len;
    }
    X509_CRL *crl = NULL;
    int rc = mk_tee_crl_parse(data, len, &crl, err);
    mk_buf_free(&hex);
    if (rc < 0) return mk_error_prefix(err, rc, "%s", what);
    unsigned char *der = NULL;
    int dlen = i2d_X509_CRL(crl, &der);
    bool ok1 = mk_tee_asn1_time(X509_CRL_get0_lastUpdate(crl), this_up);
    bool ok2 = ok1 && mk_tee_asn1_time(X509_CRL_get0_nextUpdate(crl), next_up);
    if (dlen <= 0 || !ok1 || !ok2) {
        OPENSSL_free(der);
        X509_CRL_free(crl);
        return mk_error_set(err, MK_EMALFORMED, "%s: missing thisUpdate/nextUpdate", what);
    }
    *der_out = malloc((size_t)dlen);
    if (!*der_out) {
        OPENSSL_free(der);
        X509_CRL_free(crl);
        return mk_error_set(err, MK_ENOMEM, "out of memory");
    }
    memcpy(*der_out, der, (size_t)dlen);
    OPENSSL_free(der);
    *der_len = (size_t)dlen;
    *crl_out = crl;
    return 0;
}

static mk_tdx_collateral *coll_new(void) {
    mk_tdx_collateral *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return NULL;
    }
    return c;
}

void mk_tdx_collateral_free(mk_tdx_collateral *c) {
    if (!c) return;
    free(c->tcb_text);
    free(c->tcb_chain);
    mk_tdx_tcb_info_free(c->tcb);
    free(c->qe_text);
    free(c->qe_chain);
    mk_tdx_qe_identity_free(c->qe);
    free(c->pck_crl_der);
    X509_CRL_free(c->pck_crl);
    free(c->pck_crl_chain);
    X509_free(c->pck_crl_ca);
    free(c->root_crl_der);
    X509_CRL_free(c->root_crl);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* First certificate of the PCK CRL issuer chain (the CRL's CA). */
static int load_pck_crl_ca(mk_tdx_collateral *c, mk_error *err) {
    BIO *b = BIO_new_mem_buf(c->pck_crl_chain, (int)strlen(c->pck_crl_chain));
    if (!b) return mk_error_set(err, MK_ENOMEM, "out of memory");
    c->pck_crl_ca = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    ERR_clear_error();
    if (!c->pck_crl_ca)
        return mk_error_set(err, MK_EMALFORMED, "PCK CRL issuer chain: no certificate");
    return 0;
}

static int set_pck_crl(mk_tdx_collateral *c, const uint8_t *data, size_t len, mk_error *err) {
    return set_crl("PCK CRL", data, len, &c->pck_crl_der, &c->pck_crl_len, &c->pck_crl,
                   &c->pck_crl_this, &c->pck_crl_next, err);
}

static int set_root_crl(mk_tdx_collateral *c, const uint8_t *data, size_t len, mk_error *err) {
    return set_crl("root CA CRL", data, len, &c->root_crl_der, &c->root_crl_len, &c->root_crl,
                   &c->root_crl_this, &c->root_crl_next, err);
}

/* The PCK CRL's issuer chain, and its first certificate (the CRL's CA). */
static int set_pck_crl_chain(mk_tdx_collateral *c, const char *s, size_t len, mk_error *err) {
    MK_TRY(set_chain(&c->pck_crl_chain, "PCK CRL", s, len, err));
    return load_pck_crl_ca(c, err);
}

static bool has_documents(const mk_tdx_collateral *c) {
    return c->tcb || c->qe || c->pck_crl || c->root_crl;
}

/* ------------------------------------------------------------------ */
/* Bundle form                                                         */
/* ------------------------------------------------------------------ */

/* Optional string member: NULL when absent. */
static int b_opt(json_t *o, const char *key, const char **s, size_t *len, mk_error *err) {
    *s = NULL;
    *len = 0;
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v))
        return mk_error_set(err, MK_EMALFORMED, "bundle: \"%s\" is not a string", key);
    *s = json_string_value(v);
    *len = json_string_length(v);
    return 0;
}

/* A signed document of the bundle: text, signature and chain travel
 * together (`key`, `key`_signature, `key`_issuer_chain). */
static int b_signed_doc(mk_tdx_collateral *c, json_t *j, mk_tdx_doc which, mk_error *err) {
    bool tcb = which == MK_TDX_DOC_TCB_INFO;
    const char *key = tcb ? "tcb_info" : "qe_identity";
    char sig_key[32], chain_key[32];
    snprintf(sig_key, sizeof sig_key, "%s_signature", key);
    snprintf(chain_key, sizeof chain_key, "%s_issuer_chain", key);
    const char *s, *sig;
    size_t sl, sigl;
    MK_TRY(b_opt(j, key, &s, &sl, err));
    if (!s) return 0;
    MK_TRY(b_opt(j, sig_key, &sig, &sigl, err));
    if (!sig) return mk_error_set(err, MK_EMALFORMED, "bundle: %s without %s", key, sig_key);
    MK_TRY(set_signed_doc(c, which, s, sl, sig, sigl, err));
    MK_TRY(b_opt(j, chain_key, &s, &sl, err));
    if (!s) return 0;
    return set_chain(tcb ? &c->tcb_chain : &c->qe_chain, tcb ? "TCB info" : "QE identity", s, sl,
                     err);
}

static int b_fill(mk_tdx_collateral *c, json_t *j, mk_error *err) {
    const char *s;
    size_t sl;
    MK_TRY(b_signed_doc(c, j, MK_TDX_DOC_TCB_INFO, err));
    MK_TRY(b_signed_doc(c, j, MK_TDX_DOC_QE_IDENTITY, err));
    MK_TRY(b_opt(j, "pck_crl", &s, &sl, err));
    if (s) MK_TRY(set_pck_crl(c, (const uint8_t *)s, sl, err));
    MK_TRY(b_opt(j, "pck_crl_issuer_chain", &s, &sl, err));
    if (s) MK_TRY(set_pck_crl_chain(c, s, sl, err));
    MK_TRY(b_opt(j, "root_ca_crl", &s, &sl, err));
    if (s) MK_TRY(set_root_crl(c, (const uint8_t *)s, sl, err));
    if (!has_documents(c))
        return mk_error_set(err, MK_EMALFORMED, "collateral bundle: no documents");
    return 0;
}

int mk_tdx_collateral_from_bundle(const char *json, size_t len, mk_tdx_collateral **out,
                                  mk_error *err) {
    if (!json || !out) return mk_error_set(err, MK_EINVAL, "bundle: missing argument");
    if (len > BUNDLE_MAX)
        return mk_error_set(err, MK_ETOOBIG, "bundle: %zu bytes (max %d)", len, BUNDLE_MAX);
    json_t *j;
    int rc = mk_tdx_json_load(json, len, &j, err);
    if (rc < 0) return mk_error_prefix(err, rc, "collateral bundle");
    mk_tdx_collateral *c = coll_new();
    if (!c) {
        json_decref(j);
        return mk_error_set(err, MK_ENOMEM, "out of memory");
    }
    rc = b_fill(c, j, err);
    json_decref(j);
    if (rc < 0) {
        mk_tdx_collateral_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

static int put_str(json_t *o, const char *key, const char *s, size_t len) {
    json_t *v = json_stringn(s, len);
    if (!v || json_object_set_new(o, key, v) < 0) return MK_ENOMEM;
    return 0;
}

static int put_hex(json_t *o, const char *key, const uint8_t *d, size_t n) {
    char *h = malloc(2 * n + 1);
    if (!h) return MK_ENOMEM;
    mk_hex_encode(d, n, h);
    int rc = put_str(o, key, h, 2 * n);
    free(h);
    return rc;
}

/* One member per present part, in dcap-qvl's key order. */
int mk_tdx_bundle_write(const mk_tdx_bundle_parts *p, size_t json_flags, mk_buf *out) {
    json_t *o = json_object();
    if (!o) return MK_ENOMEM;
    int rc = 0;
    if (rc == 0 && p->pck_crl_issuer_chain)
        rc = put_str(o, "pck_crl_issuer_chain", p->pck_crl_issuer_chain,
                     strlen(p->pck_crl_issuer_chain));
    if (rc == 0 && p->root_ca_crl)
        rc = put_hex(o, "root_ca_crl", p->root_ca_crl, p->root_ca_crl_len);
    if (rc == 0 && p->pck_crl) rc = put_hex(o, "pck_crl", p->pck_crl, p->pck_crl_len);
    if (rc == 0 && p->tcb_info_issuer_chain)
        rc = put_str(o, "tcb_info_issuer_chain", p->tcb_info_issuer_chain,
                     strlen(p->tcb_info_issuer_chain));
    if (rc == 0 && p->tcb_info) rc = put_str(o, "tcb_info", p->tcb_info, p->tcb_info_len);
    if (rc == 0 && p->tcb_info) rc = put_hex(o, "tcb_info_signature", p->tcb_info_signature, 64);
    if (rc == 0 && p->qe_identity_issuer_chain)
        rc = put_str(o, "qe_identity_issuer_chain", p->qe_identity_issuer_chain,
                     strlen(p->qe_identity_issuer_chain));
    if (rc == 0 && p->qe_identity)
        rc = put_str(o, "qe_identity", p->qe_identity, p->qe_identity_len);
    if (rc == 0 && p->qe_identity)
        rc = put_hex(o, "qe_identity_signature", p->qe_identity_signature, 64);
    if (rc == 0) {
        char *s = json_dumps(o, JSON_PRESERVE_ORDER | json_flags);
        rc = s ? mk_buf_append_str(out, s) : MK_ENOMEM;
        free(s);
    }
    json_decref(o);
    return rc;
}

int mk_tdx_collateral_to_bundle(const mk_tdx_collateral *c, mk_buf *out) {
    if (!c || !out) return MK_EINVAL;
    mk_tdx_bundle_parts p = {
        .pck_crl_issuer_chain = c->pck_crl_chain,
        .root_ca_crl = c->root_crl ? c->root_crl_der : NULL,
        .root_ca_crl_len = c->root_crl_len,
        .pck_crl = c->pck_crl ? c->pck_crl_der : NULL,
        .pck_crl_len = c->pck_crl_len,
        .tcb_info_issuer_chain = c->tcb_chain,
        .tcb_info = c->tcb ? c->tcb_text : NULL,
        .tcb_info_len = c->tcb_len,
        .tcb_info_signature = c->tcb_sig,
        .qe_identity_issuer_chain = c->qe_chain,
        .qe_identity = c->qe ? c->qe_text : NULL,
        .qe_identity_len = c->qe_len,
        .qe_identity_signature = c->qe_sig,
    };
    return mk_tdx_bundle_write(&p, JSON_INDENT(2), out);
}

/* ------------------------------------------------------------------ */
/* PCS form                                                            */
/* ------------------------------------------------------------------ */

/* Locate `key` in a PCS body, check the decoded member equals its span,
 * and return the span and the signature string. */
static int pcs_body(const char *what, const char *body, size_t len, const char *key, size_t *off,
                    size_t *vlen, char sig[129], mk_error *err) {
    if (len > MK_TDX_COLLATERAL_MAX)
        return mk_error_set(err, MK_ETOOBIG, "%s response: %zu bytes (max %d)", what, len,
                            MK_TDX_COLLATERAL_MAX);
    json_t *whole;
    int rc = mk_tdx_json_load(body, len, &whole, err);
    if (rc < 0) return mk_error_prefix(err, rc, "%s response", what);
    bool found = false;
    rc = mk_tdx_json_member_span(body, len, key, &found, off, vlen, err);
    if (rc < 0) {
        json_decref(whole);
        return mk_error_prefix(err, rc, "%s response", what);
    }
    if (!found) {
        json_decref(whole);
        return mk_error_set(err, MK_EMALFORMED, "%s response: no \"%s\" member", what, key);
    }
    json_error_t je;
    json_t *inner = json_loadb(body + *off, *vlen, JSON_REJECT_DUPLICATES, &je);
    json_t *s = json_object_get(whole, "signature");
    if (!inner || !json_equal(inner, json_object_get(whole, key)))
        rc = mk_error_set(err, MK_EMALFORMED, "%s response: invalid JSON", what);
    else if (!json_is_string(s) || json_string_length(s) != 128)
        rc = mk_error_set(err, MK_EMALFORMED, "%s response: \"signature\" is not 128 hex digits",
                          what);
    else
        memcpy(sig, json_string_value(s), 129);
    json_decref(whole);
    json_decref(inner);
    return rc;
}

static int pcs_signed_doc(mk_tdx_collateral *c, mk_tdx_doc which, const char *body, size_t len,
                          mk_error *err) {
    bool tcb = which == MK_TDX_DOC_TCB_INFO;
    char sig[129];
    size_t off, vlen;
    MK_TRY(pcs_body(tcb ? "TCB info" : "QE identity", body, len,
                    tcb ? "tcbInfo" : "enclaveIdentity", &off, &vlen, sig, err));
    return set_signed_doc(c, which, body + off, vlen, sig, 128, err);
}

static int pcs_fill(mk_tdx_collateral *c, const mk_tdx_pcs_responses *r, mk_error *err) {
    if (r->tcb_info_body)
        MK_TRY(pcs_signed_doc(c, MK_TDX_DOC_TCB_INFO, r->tcb_info_body, r->tcb_info_len, err));
    if (r->tcb_info_issuer_chain)
        MK_TRY(set_chain(&c->tcb_chain, "TCB info", r->tcb_info_issuer_chain,
                         strlen(r->tcb_info_issuer_chain), err));
    if (r->qe_identity_body)
        MK_TRY(pcs_signed_doc(c, MK_TDX_DOC_QE_IDENTITY, r->qe_identity_body, r->qe_identity_len,
                              err));
    if (r->qe_identity_issuer_chain)
        MK_TRY(set_chain(&c->qe_chain, "QE identity", r->qe_identity_issuer_chain,
                         strlen(r->qe_identity_issuer_chain), err));
    if (r->pck_crl) MK_TRY(set_pck_crl(c, r->pck_crl, r->pck_crl_len, err));
    if (r->pck_crl_issuer_chain)
        MK_TRY(set_pck_crl_chain(c, r->pck_crl_issuer_chain, strlen(r->pck_crl_issuer_chain), err));
    if (r->root_ca_crl) MK_TRY(set_root_crl(c, r->root_ca_crl, r->root_ca_crl_len, err));
    if (!has_documents(c)) return mk_error_set(err, MK_EINVAL, "PCS responses: no documents");
    return 0;
}

int mk_tdx_collateral_from_pcs(const mk_tdx_pcs_responses *r, mk_tdx_collateral **out,
                               mk_error *err) {
    if (!r || !out) return mk_error_set(err, MK_EINVAL, "PCS responses: missing argument");
    mk_tdx_collateral *c = coll_new();
    if (!c) return mk_error_set(err, MK_ENOMEM, "out of memory");
    int rc = pcs_fill(c, r, err);
    if (rc < 0) {
        mk_tdx_collateral_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Accessors                                                           */
/* ------------------------------------------------------------------ */

const mk_tdx_tcb_info *mk_tdx_collateral_tcb_info(const mk_tdx_collateral *c) {
    return c ? c->tcb : NULL;
}

const mk_tdx_qe_identity *mk_tdx_collateral_qe_identity(const mk_tdx_collateral *c) {
    return c ? c->qe : NULL;
}

bool mk_tdx_collateral_fmspc(const mk_tdx_collateral *c, uint8_t fmspc[6]) {
    if (!c || !c->tcb) return false;
    memcpy(fmspc, c->tcb->fmspc, 6);
    return true;
}

int64_t mk_tdx_collateral_next_update(const mk_tdx_collateral *c) {
    if (!c) return 0;
    int64_t m = INT64_MAX;
    if (c->tcb && c->tcb->next_update < m) m = c->tcb->next_update;
    if (c->qe && c->qe->next_update < m) m = c->qe->next_update;
    if (c->pck_crl && c->pck_crl_next < m) m = c->pck_crl_next;
    if (c->root_crl && c->root_crl_next < m) m = c->root_crl_next;
    return m == INT64_MAX ? 0 : m;
}
