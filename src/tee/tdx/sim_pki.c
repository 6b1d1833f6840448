/*
 * tee/tdx/sim_pki.c — the TDX simulator's test PKI, made with OpenSSL's
 * X509 APIs (all P-256, ECDSA-SHA256):
 *
 *   "mosaik simulated SGX Root CA"          self-signed, CA, pathlen 1
 *     ├─ "mosaik simulated PCK Platform CA"  CA, pathlen 0; signs the PCK CRL
 *     │    └─ "mosaik simulated SGX PCK Certificate"
 *     │         leaf with the SGX extension 1.2.840.113741.1.13.1 (PPID,
 *     │         TCB components + PCESVN + CPUSVN, PCE-ID 0000, FMSPC
 *     │         "MKSIM\0", SGX type scalable, platform instance id), DER built
 *     │         with OpenSSL's ASN.1 types (SEQUENCE OF (OID, value) pairs)
 *     └─ "mosaik simulated SGX TCB Signing"  signs TCB info and QE identity
 *
 * Every subject also carries O = "mosaik (SIMULATED TDX, not Intel)". CAs
 * have keyCertSign and cRLSign, leaves digitalSignature and nonRepudiation;
 * every certificate has subject and authority key identifiers and a random
 * positive 128-bit serial, and is valid from a day before `now` for ten
 * years. CRLs are empty, version 2, with CRL number 1, valid from an hour
 * before `now` for 30 days. Signatures made here are raw r||s, as quotes and
 * collateral carry them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/ossl.h"
#include "mosaik/crypto.h"
#include "tee/tdx/sim_internal.h"

#define SGX_EXT_OID "1.2.840.113741.1.13.1"
#define SIM_CERT_YEARS 10

/* ---------------------------------------------------------------- */
/* Keys, signatures, PEM                                             */
/* ---------------------------------------------------------------- */

EVP_PKEY *mk_tdx_sim_keygen(void) {
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

int mk_tdx_sim_sign(EVP_PKEY *key, const void *msg, size_t len, uint8_t sig[64], mk_error *err) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t der[80];
    size_t dlen = sizeof der;
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestSign(ctx, der, &dlen, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) return mk_error_openssl(err, MK_ECRYPTO, "simulator: ECDSA signing");
    if (mk_ecdsa_sig_der_to_raw(der, dlen, 32, sig) < 0)
        return mk_error_set(err, MK_ECRYPTO, "simulator: cannot convert ECDSA signature");
    return 0;
}

int mk_tdx_sim_pub_raw(EVP_PKEY *key, uint8_t out[64], mk_error *err) {
    uint8_t buf[65];
    size_t n = 0;
    if (EVP_PKEY_get_octet_string_param(key, "pub", buf, sizeof buf, &n) != 1 || n != 65 ||
        buf[0] != 0x04)
        return mk_error_set(err, MK_ECRYPTO, "simulator: key is not an uncompressed P-256 key");
    memcpy(out, buf + 1, 64);
    return 0;
}

static int append_pem_cert(mk_buf *b, X509 *x) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio) return MK_ENOMEM;
    int rc = MK_ECRYPTO;
    char *p = NULL;
    if (PEM_write_bio_X509(bio, x) == 1) {
        long n = BIO_get_mem_data(bio, &p);
        rc = n > 0 ? mk_buf_append(b, p, (size_t)n) : MK_ECRYPTO;
    }
    BIO_free(bio);
    return rc;
}

char *mk_tdx_sim_pem_chain(X509 *a, X509 *b, X509 *c, size_t *len) {
    mk_buf m = MK_BUF_INIT;
    X509 *certs[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        if (!certs[i]) continue;
        if (append_pem_cert(&m, certs[i]) < 0) {
            mk_buf_free(&m);
            return NULL;
        }
    }
    if (mk_buf_append_u8(&m, 0) < 0) {
        mk_buf_free(&m);
        return NULL;
    }
    size_t n;
    char *s = (char *)mk_buf_steal(&m, &n);
    if (len) *len = n - 1;
    return s;
}

/* ---------------------------------------------------------------- */
/* The SGX extension (DER)                                           */
/* ---------------------------------------------------------------- */

/* Appends SEQUENCE { OID oid, value } to seq, taking ownership of value. */
static int push_pair(STACK_OF(ASN1_TYPE) * seq, const char *oid, ASN1_TYPE *value) {
    int rc = MK_ECRYPTO;
    STACK_OF(ASN1_TYPE) *pair = sk_ASN1_TYPE_new_null();
    ASN1_TYPE *o = ASN1_TYPE_new();
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    unsigned char *der = NULL;
    ASN1_STRING *s = NULL;
    ASN1_TYPE *t = NULL;
    if (!pair || !o || !obj || !value) goto done;
    ASN1_TYPE_set(o, V_ASN1_OBJECT, obj);
    obj = NULL;
    if (!sk_ASN1_TYPE_push(pair, o)) goto done;
    o = NULL;
    if (!sk_ASN1_TYPE_push(pair, value)) goto done;
    value = NULL;
    int n = i2d_ASN1_SEQUENCE_ANY(pair, &der);
    if (n <= 0) goto done;
    s = ASN1_STRING_type_new(V_ASN1_SEQUENCE);
    t = ASN1_TYPE_new();
    if (!s || !t || !ASN1_STRING_set(s, der, n)) goto done;
    ASN1_TYPE_set(t, V_ASN1_SEQUENCE, s);
    s = NULL;
    if (!sk_ASN1_TYPE_push(seq, t)) goto done;
    t = NULL;
    rc = 0;
done:
    sk_ASN1_TYPE_pop_free(pair, ASN1_TYPE_free);
    ASN1_TYPE_free(o);
    ASN1_OBJECT_free(obj);
    ASN1_TYPE_free(value);
    ASN1_STRING_free(s);
    ASN1_TYPE_free(t);
    OPENSSL_free(der);
    return rc;
}

static ASN1_TYPE *t_octets(const uint8_t *p, size_t n) {
    ASN1_TYPE *t = ASN1_TYPE_new();
    ASN1_OCTET_STRING *s = ASN1_OCTET_STRING_new();
    if (!t || !s || !ASN1_OCTET_STRING_set(s, p, (int)n)) {
        ASN1_TYPE_free(t);
        ASN1_OCTET_STRING_free(s);
        return NULL;
    }
    ASN1_TYPE_set(t, V_ASN1_OCTET_STRING, s);
    return t;
}

static ASN1_TYPE *t_int(long v, int type) {
    ASN1_TYPE *t = ASN1_TYPE_new();
    ASN1_INTEGER *i = ASN1_STRING_type_new(type);
    int ok = t && i &&
             (type == V_ASN1_ENUMERATED ? ASN1_ENUMERATED_set(i, v) : ASN1_INTEGER_set(i, v)) == 1;
    if (!ok) {
        ASN1_TYPE_free(t);
        ASN1_STRING_free(i);
        return NULL;
    }
    ASN1_TYPE_set(t, type, i);
    return t;
}

/* Wrap a SEQUENCE OF ASN1_TYPE as one ASN1_TYPE of type SEQUENCE. */
static ASN1_TYPE *t_seq(STACK_OF(ASN1_TYPE) * seq) {
    unsigned char *der = NULL;
    int n = i2d_ASN1_SEQUENCE_ANY(seq, &der);
    ASN1_TYPE *t = ASN1_TYPE_new();
    ASN1_STRING *s = ASN1_STRING_type_new(V_ASN1_SEQUENCE);
    if (n <= 0 || !t || !s || !ASN1_STRING_set(s, der, n)) {
        OPENSSL_free(der);
        ASN1_TYPE_free(t);
        ASN1_STRING_free(s);
        return NULL;
    }
    OPENSSL_free(der);
    ASN1_TYPE_set(t, V_ASN1_SEQUENCE, s);
    return t;
}

/* DER of the SGX extension value. */
static int sgx_ext_der(uint8_t **der, int *len) {
    char oid[64];
    uint8_t ppid[16], instance[16];
    int rc = MK_ECRYPTO;
    STACK_OF(ASN1_TYPE) *top = sk_ASN1_TYPE_new_null();
    STACK_OF(ASN1_TYPE) *tcb = sk_ASN1_TYPE_new_null();
    if (!top || !tcb) goto done;
    if (mk_random_bytes(ppid, sizeof ppid) < 0 || mk_random_bytes(instance, sizeof instance) < 0)
        goto done;
    for (int i = 0; i < 16; i++) {
        snprintf(oid, sizeof oid, SGX_EXT_OID ".2.%d", i + 1);
        if (push_pair(tcb, oid, t_int(mk_tdx_sim_sgx_comps[i], V_ASN1_INTEGER)) < 0) goto done;
    }
    if (push_pair(tcb, SGX_EXT_OID ".2.17", t_int(MK_TDX_SIM_PCESVN, V_ASN1_INTEGER)) < 0)
        goto done;
    if (push_pair(tcb, SGX_EXT_OID ".2.18", t_octets(mk_tdx_sim_sgx_comps, 16)) < 0) goto done;
    static const uint8_t pce_id[2] = {0, 0};
    if (push_pair(top, SGX_EXT_OID ".1", t_octets(ppid, 16)) < 0 ||
        push_pair(top, SGX_EXT_OID ".2", t_seq(tcb)) < 0 ||
        push_pair(top, SGX_EXT_OID ".3", t_octets(pce_id, 2)) < 0 ||
        push_pair(top, SGX_EXT_OID ".4", t_octets(mk_tdx_sim_fmspc, 6)) < 0 ||
        push_pair(top, SGX_EXT_OID ".5", t_int(1, V_ASN1_ENUMERATED)) < 0 ||
        push_pair(top, SGX_EXT_OID ".6", t_octets(instance, 16)) < 0)
        goto done;
    *der = NULL;
    *len = i2d_ASN1_SEQUENCE_ANY(top, der);
    rc = *len > 0 ? 0 : MK_ECRYPTO;
done:
    sk_ASN1_TYPE_pop_free(top, ASN1_TYPE_free);
    sk_ASN1_TYPE_pop_free(tcb, ASN1_TYPE_free);
    return rc;
}

/* ---------------------------------------------------------------- */
/* Certificates and CRLs                                             */
/* ---------------------------------------------------------------- */

static X509_NAME *sim_name(const char *cn) {
    X509_NAME *n = X509_NAME_new();
    if (!n) return NULL;
    if (!X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) ||
        !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)MK_TDX_SIM_ORG,
                                    -1, -1, 0)) {
        X509_NAME_free(n);
        return NULL;
    }
    return n;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value) {
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    if (!e) return MK_ECRYPTO;
    int ok = X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok ? 0 : MK_ECRYPTO;
}

X509 *mk_tdx_sim_make_cert(mk_tdx_sim_cert_kind kind, const char *cn, EVP_PKEY *key, X509 *issuer,
                           EVP_PKEY *issuer_key, int64_t now) {
    X509 *x = X509_new();
    X509_NAME *name = sim_name(cn);
    BIGNUM *bn = NULL;
    uint8_t serial[16];
    bool ok = false;
    if (!x || !name || mk_random_bytes(serial, sizeof serial) < 0) goto done;
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    bn = BN_bin2bn(serial, sizeof serial, NULL);
    int64_t nb = now - 86400, na = now + (int64_t)SIM_CERT_YEARS * 365 * 86400;
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
        !X509_set_version(x, X509_VERSION_3) ||
        !ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) ||
        !ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na) || !X509_set_subject_name(x, name) ||
        !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) ||
        !X509_set_pubkey(x, key))
        goto done;
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    const char *bc = kind == MK_TDX_SIM_CERT_ROOT ? "critical,CA:TRUE,pathlen:1"
                     : kind == MK_TDX_SIM_CERT_CA ? "critical,CA:TRUE,pathlen:0"
                                                  : "critical,CA:FALSE";
    const char *ku = (kind == MK_TDX_SIM_CERT_ROOT || kind == MK_TDX_SIM_CERT_CA)
                         ? "critical,keyCertSign,cRLSign"
                         : "critical,digitalSignature,nonRepudiation";
    if (add_ext(x, &ctx, NID_basic_constraints, bc) < 0 ||
        add_ext(x, &ctx, NID_key_usage, ku) < 0 ||
        add_ext(x, &ctx, NID_subject_key_identifier, "hash") < 0 ||
        add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") < 0)
        goto done;
    if (kind == MK_TDX_SIM_CERT_PCK) {
        uint8_t *der = NULL;
        int dlen = 0;
        if (sgx_ext_der(&der, &dlen) < 0) goto done;
        ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
        ASN1_OBJECT *obj = OBJ_txt2obj(SGX_EXT_OID, 1);
        X509_EXTENSION *e = NULL;
        if (os && obj && ASN1_OCTET_STRING_set(os, der, dlen))
            e = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
        int added = e && X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
        ASN1_OBJECT_free(obj);
        ASN1_OCTET_STRING_free(os);
        OPENSSL_free(der);
        if (!added) goto done;
    }
    if (X509_sign(x, issuer_key, EVP_sha256()) <= 0) goto done;
    ok = true;
done:
    BN_free(bn);
    X509_NAME_free(name);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

int mk_tdx_sim_make_crl(X509 *issuer, EVP_PKEY *key, int64_t now, mk_buf *der, mk_error *err) {
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *t1 = ASN1_TIME_set(NULL, (time_t)(now - 3600));
    ASN1_TIME *t2 = ASN1_TIME_set(NULL, (time_t)(now + 30 * 86400));
    ASN1_INTEGER *num = ASN1_INTEGER_new();
    unsigned char *p = NULL;
    int rc = MK_ECRYPTO;
    if (!crl || !t1 || !t2 || !num || !X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
        !X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) ||
        !X509_CRL_set1_lastUpdate(crl, t1) || !X509_CRL_set1_nextUpdate(crl, t2) ||
        !ASN1_INTEGER_set(num, 1) || !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) ||
        X509_CRL_sign(crl, key, EVP_sha256()) <= 0)
        goto done;
    int n = i2d_X509_CRL(crl, &p);
    if (n <= 0) goto done;
    rc = mk_buf_append(der, p, (size_t)n);
done:
    OPENSSL_free(p);
    ASN1_INTEGER_free(num);
    ASN1_TIME_free(t1);
    ASN1_TIME_free(t2);
    X509_CRL_free(crl);
    if (rc < 0) return mk_error_openssl(err, rc, "simulator: cannot build CRL");
    return 0;
}
