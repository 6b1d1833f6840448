/*
 * tee/tdx/sim_pki.c — the TDX simulator's test PKI, on the shared
 * simulator PKI (tee/sim_pki.c: keys, certificates, CRLs, raw ECDSA; all
 * P-256, ECDSA-SHA256 here):
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
 * Every subject also carries O = "mosaik (SIMULATED TDX, not Intel)". What
 * is TDX's here: those names, the chain's shape, and the SGX extension;
 * the rest of each certificate (serial, validity, key usages, key
 * identifiers) is the shared PKI's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/ossl.h"
#include "mosaik/crypto.h"
#include "tee/tdx/sim_internal.h"
#include "tee/tee_internal.h"

#define SGX_EXT_OID "1.2.840.113741.1.13.1"
#define SIM_CERT_YEARS 10

EVP_PKEY *mk_tdx_sim_keygen(void) {
    return mk_tee_sim_keygen("P-256");
}

int mk_tdx_sim_sign(EVP_PKEY *key, const void *msg, size_t len, uint8_t sig[64], mk_error *err) {
    return mk_tee_sim_sign(key, MK_SHA256, msg, len, sig, 32, err);
}

int mk_tdx_sim_pub_raw(EVP_PKEY *key, uint8_t out[64], mk_error *err) {
    return mk_tee_sim_pub_raw(key, out, 32, err);
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

X509 *mk_tdx_sim_make_cert(mk_tdx_sim_cert_kind kind, const char *cn, EVP_PKEY *key, X509 *issuer,
                           EVP_PKEY *issuer_key, int64_t now) {
    mk_tee_sim_cert_spec spec = {
        .kind = kind == MK_TDX_SIM_CERT_ROOT ? MK_TEE_SIM_ROOT
                : kind == MK_TDX_SIM_CERT_CA ? MK_TEE_SIM_CA
                                             : MK_TEE_SIM_LEAF,
        .cn = cn,
        .org = MK_TDX_SIM_ORG,
        .pathlen = kind == MK_TDX_SIM_CERT_ROOT ? 1 : 0,
        .now = now,
        .years = SIM_CERT_YEARS,
    };
    uint8_t *der = NULL;
    int dlen = 0;
    mk_tee_sim_ext sgx = {SGX_EXT_OID, NULL, 0};
    if (kind == MK_TDX_SIM_CERT_PCK) {
        if (sgx_ext_der(&der, &dlen) < 0) return NULL;
        sgx.der = der;
        sgx.len = (size_t)dlen;
        spec.ext = &sgx;
        spec.n_ext = 1;
    }
    X509 *x = mk_tee_sim_cert(&spec, key, issuer, issuer_key);
    OPENSSL_free(der);
    return x;
}
