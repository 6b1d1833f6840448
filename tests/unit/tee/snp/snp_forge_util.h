/*
 * tests/unit/tee/snp/snp_forge.h — what a forger can make, for the SNP forgery
 * and CRL tests: keys, certificates with AMD's names and extensions signed
 * RSA-PSS (SHA-384, salt 48) like AMD's, CRLs, and reports re-signed with
 * a key of one's own. Everything here is made in the test; nothing of it
 * is trusted by the library.
 */
#ifndef MOSAIK_TEST_SNP_FORGE_H
#define MOSAIK_TEST_SNP_FORGE_H

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "test_util.h"

#define FORGE_NB 1577836800LL /* 2020-01-01 */
#define FORGE_NA 2524608000LL /* 2050-01-01 */

static inline EVP_PKEY *forge_ec_key(void) {
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    assert_non_null(k);
    return k;
}

static inline EVP_PKEY *forge_rsa_key(void) {
    EVP_PKEY *k = EVP_RSA_gen(2048);
    assert_non_null(k);
    return k;
}

/* OU=Engineering, C=US, L=Santa Clara, ST=CA, O=Advanced Micro Devices, CN=cn */
static inline X509_NAME *forge_amd_name(const char *cn) {
    X509_NAME *n = X509_NAME_new();
    assert_non_null(n);
    const char *f[][2] = {
        {"OU", "Engineering"},           {"C", "US"}, {"L", "Santa Clara"}, {"ST", "CA"},
        {"O", "Advanced Micro Devices"}, {"CN", cn}};
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(X509_NAME_add_entry_by_txt(n, f[i][0], MBSTRING_UTF8,
                                                    (const unsigned char *)f[i][1], -1, -1, 0),
                         1);
    return n;
}

/* Sign with RSA-PSS/SHA-384/salt 48 (RSA keys) or ECDSA/SHA-384. */
static inline void forge_sign_ctx(EVP_MD_CTX *mc, EVP_PKEY *key) {
    EVP_PKEY_CTX *pc = NULL;
    assert_int_equal(EVP_DigestSignInit(mc, &pc, EVP_sha384(), NULL, key), 1);
    if (EVP_PKEY_is_a(key, "RSA")) {
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, 48), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(pc, EVP_sha384()), 1);
    }
}

static inline void forge_add_ext_raw(X509 *x, const char *oid, const uint8_t *v, size_t n) {
    ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    assert_non_null(o);
    assert_int_equal(ASN1_OCTET_STRING_set(os, v, (int)n), 1);
    X509_EXTENSION *e = X509_EXTENSION_create_by_OBJ(NULL, o, 0, os);
    assert_non_null(e);
    assert_int_equal(X509_add_ext(x, e, -1), 1);
    X509_EXTENSION_free(e);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(o);
}

static inline void forge_add_int(X509 *x, const char *oid, unsigned v) {
    uint8_t d[4] = {0x02, 1, (uint8_t)v};
    size_t n = 3;
    if (v >= 0x80) {
        d[1] = 2;
        d[2] = 0;
        d[3] = (uint8_t)v;
        n = 4;
    }
    forge_add_ext_raw(x, oid, d, n);
}

/* What a forged VCEK says (AMD's extensions). */
typedef struct forge_vcek {
    const char *product_name;
    mk_snp_tcb tcb;
    const uint8_t *hwid; /* 64 bytes; NULL: a VLEK with csp_id */
} forge_vcek;

static inline void forge_add_amd_exts(X509 *x, const forge_vcek *v) {
    forge_add_int(x, "1.3.6.1.4.1.3704.1.1", 0);
    uint8_t pn[40] = {0x16, (uint8_t)strlen(v->product_name)};
    memcpy(pn + 2, v->product_name, strlen(v->product_name));
    forge_add_ext_raw(x, "1.3.6.1.4.1.3704.1.2", pn, 2 + strlen(v->product_name));
    forge_add_int(x, "1.3.6.1.4.1.3704.1.3.1", v->tcb.bootloader);
    forge_add_int(x, "1.3.6.1.4.1.3704.1.3.2", v->tcb.tee);
    forge_add_int(x, "1.3.6.1.4.1.3704.1.3.3", v->tcb.snp);
    for (int i = 4; i <= 7; i++) {
        char oid[32];
        snprintf(oid, sizeof oid, "1.3.6.1.4.1.3704.1.3.%d", i);
        forge_add_int(x, oid, 0);
    }
    forge_add_int(x, "1.3.6.1.4.1.3704.1.3.8", v->tcb.microcode);
    if (v->hwid) {
        forge_add_ext_raw(x, "1.3.6.1.4.1.3704.1.4", v->hwid, 64);
    } else {
        static const char csp[] = "CN=forger.invalid";
        uint8_t d[40] = {0x16, sizeof csp - 1};
        memcpy(d + 2, csp, sizeof csp - 1);
        forge_add_ext_raw(x, "1.3.6.1.4.1.3704.1.5", d, 1 + sizeof csp);
    }
}

/* A certificate: subject cn (AMD's name form), issuer issuer_cn signed by
 * issuer_key, for subject_key; a CA (with keyCertSign, cRLSign) if ca; with
 * AMD's extensions if v. */
static inline X509 *forge_cert(const char *cn, const char *issuer_cn, EVP_PKEY *issuer_key,
                               EVP_PKEY *subject_key, bool ca, const forge_vcek *v) {
    X509 *x = X509_new();
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, 2), 1);
    ASN1_INTEGER_set(X509_get_serialNumber(x), ca ? 0x10001 : 0);
    X509_NAME *s = forge_amd_name(cn), *i = forge_amd_name(issuer_cn);
    X509_set_subject_name(x, s);
    X509_set_issuer_name(x, i);
    X509_NAME_free(s);
    X509_NAME_free(i);
    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)FORGE_NB);
    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)FORGE_NA);
    assert_int_equal(X509_set_pubkey(x, subject_key), 1);
    if (ca) {
        X509V3_CTX c;
        X509V3_set_ctx_nodb(&c);
        X509V3_set_ctx(&c, x, x, NULL, NULL, 0);
        X509_EXTENSION *bc =
            X509V3_EXT_conf_nid(NULL, &c, NID_basic_constraints, "critical,CA:TRUE");
        X509_EXTENSION *ku =
            X509V3_EXT_conf_nid(NULL, &c, NID_key_usage, "critical,keyCertSign,cRLSign");
        assert_non_null(bc);
        assert_non_null(ku);
        X509_add_ext(x, bc, -1);
        X509_add_ext(x, ku, -1);
        X509_EXTENSION_free(bc);
        X509_EXTENSION_free(ku);
    }
    if (v) forge_add_amd_exts(x, v);
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    forge_sign_ctx(mc, issuer_key);
    assert_true(X509_sign_ctx(x, mc) > 0);
    EVP_MD_CTX_free(mc);
    return x;
}

static inline void forge_der(X509 *x, mk_buf *out) {
    unsigned char *d = NULL;
    int n = i2d_X509(x, &d);
    assert_true(n > 0);
    assert_int_equal(mk_buf_append(out, d, (size_t)n), 0);
    OPENSSL_free(d);
}

static inline void forge_pem(X509 *x, mk_buf *out) {
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509(b, x), 1);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    assert_int_equal(mk_buf_append(out, p, (size_t)n), 0);
    BIO_free(b);
}

/* A CRL by issuer (cert and key) listing the serials revoked, valid
 * [this_update, next_update). */
static inline void forge_crl(X509 *issuer, EVP_PKEY *key, const long *revoked, size_t n,
                             int64_t this_update, int64_t next_update, mk_buf *out) {
    X509_CRL *crl = X509_CRL_new();
    assert_non_null(crl);
    X509_CRL_set_version(crl, 1);
    X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer));
    ASN1_TIME *t = ASN1_TIME_new();
    ASN1_TIME_set(t, (time_t)this_update);
    X509_CRL_set1_lastUpdate(crl, t);
    ASN1_TIME_set(t, (time_t)next_update);
    X509_CRL_set1_nextUpdate(crl, t);
    for (size_t i = 0; i < n; i++) {
        X509_REVOKED *r = X509_REVOKED_new();
        ASN1_INTEGER *s = ASN1_INTEGER_new();
        ASN1_INTEGER_set(s, revoked[i]);
        X509_REVOKED_set_serialNumber(r, s);
        ASN1_TIME_set(t, (time_t)this_update);
        X509_REVOKED_set_revocationDate(r, t);
        X509_CRL_add0_revoked(crl, r);
        ASN1_INTEGER_free(s);
    }
    ASN1_TIME_free(t);
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    forge_sign_ctx(mc, key);
    assert_true(X509_CRL_sign_ctx(crl, mc) > 0);
    EVP_MD_CTX_free(mc);
    unsigned char *d = NULL;
    int len = i2d_X509_CRL(crl, &d);
    assert_true(len > 0);
    assert_int_equal(mk_buf_append(out, d, (size_t)len), 0);
    OPENSSL_free(d);
    X509_CRL_free(crl);
}

/* Re-sign report bytes [0, 0x2A0) with key (ECDSA P-384, SHA-384), storing
 * r and s little-endian as a report does. */
static inline void forge_resign(uint8_t *report, EVP_PKEY *key) {
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(mc, NULL, EVP_sha384(), NULL, key), 1);
    uint8_t der[128];
    size_t dl = sizeof der;
    assert_int_equal(EVP_DigestSign(mc, der, &dl, report, MK_SNP_SIGNED_LEN), 1);
    EVP_MD_CTX_free(mc);
    uint8_t raw[96];
    assert_int_equal(mk_ecdsa_sig_der_to_raw(der, dl, 48, raw), 0);
    memset(report + 0x2a0, 0, 144);
    for (int i = 0; i < 48; i++) {
        report[0x2a0 + i] = raw[47 - i];
        report[0x2e8 + i] = raw[95 - i];
    }
}

#endif
