/*
 * sim.c — the TDX simulator: a software "TD" with its own test PKI, for
 * machines without TDX. Its quotes are structurally identical to real DCAP
 * quotes but chain to a root generated here, so no verifier accepts them
 * unless told to trust that root (mk_tdx_verifier_trust_simulator).
 *
 * The PKI (all P-256, ECDSA-SHA256, made with OpenSSL's X509 APIs):
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
 * plus the simulated quoting enclave: a fixed QE report (SGX report body,
 * 384 bytes: mrsigner/isvprodid as published in the simulated QE identity,
 * report data = SHA-256(attestation key || QE auth data) || 32 zero bytes)
 * signed by the PCK leaf key, and the attestation key that signs quotes.
 * Every certificate's subject also carries O = "mosaik (SIMULATED TDX, not
 * Intel)" and quotes carry "MOSAIK SIMULATED TDX" in the header's user data.
 *
 * Quote layout (see notes/tdx_quote_format.md): header(48) [v5: body type
 * u16, body size u32] body(584|648) u32 sig_data_len, then signature r||s,
 * attestation key x||y, certification data type 6 { QE report, QE report
 * signature, u16 auth len, auth data, type 5 { PEM chain leaf, CA, root,
 * NUL } }. The attestation key signs header..end of body (v5: including the
 * body descriptor).
 *
 * Invariants: a mk_tdx_sim is immutable after construction (so concurrent
 * quoting is safe; OpenSSL signing with a shared EVP_PKEY is thread-safe)
 * and reference counted (providers hold references). Keys are persisted as
 * unencrypted PKCS#8 PEM in a 0600 file: the simulator's keys protect
 * nothing real. Collateral texts are built once per call and signed over
 * their exact bytes, as Intel's PCS serves them.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/ossl.h"
#include "mosaik/clock.h"
#include "mosaik/crypto.h"
#include "mosaik/encoding.h"
#include "mosaik/tdx_provider.h"
#include "tee/tdx/tdx_provider_internal.h"

#define SIM_ORG "mosaik (SIMULATED TDX, not Intel)"
#define CN_ROOT "mosaik simulated SGX Root CA"
#define CN_PCK_CA "mosaik simulated PCK Platform CA"
#define CN_PCK "mosaik simulated SGX PCK Certificate"
#define CN_TCB "mosaik simulated SGX TCB Signing"
#define SGX_EXT_OID "1.2.840.113741.1.13.1"
#define SIM_FILE_MAX (64 * 1024)
#define SIM_CERT_YEARS 10
#define QE_AUTH_LEN 32
#define QE_ISVSVN 6
#define QE_ISVPRODID 2

static const uint8_t intel_qe_vendor_id[16] = {0x93, 0x9A, 0x72, 0x33, 0xF7, 0x9C, 0x4C, 0xA9,
                                               0x94, 0x0A, 0x0D, 0xB3, 0x95, 0x7F, 0x06, 0x07};
/* SGX TCB components 1..16 and PCESVN of the simulated PCK certificate; the
 * collateral's UpToDate level equals them. */
static const uint8_t sim_sgx_comps[16] = {3, 3, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0};
#define SIM_PCESVN 11
/* The lower (OutOfDate) level. */
static const uint8_t old_sgx_comps[16] = {2, 2, 2, 2, 3, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0};
#define OLD_PCESVN 5
/* TDX components of the UpToDate level (module svn 6, major 1, microcode 3). */
static const uint8_t sim_tdx_comps[16] = {6, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
static const uint8_t old_tdx_comps[16] = {2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
static const uint8_t sim_fmspc[6] = {'M', 'K', 'S', 'I', 'M', 0};

struct mk_tdx_sim {
    atomic_int refs;
    EVP_PKEY *root_key, *pck_ca_key, *pck_key, *tcb_key, *att_key;
    X509 *root, *pck_ca, *pck, *tcb;
    uint8_t *root_der;
    size_t root_der_len;
    char *pck_chain; /* leaf, CA, root */
    size_t pck_chain_len;
    char *tcb_chain;    /* TCB signing, root */
    char *pck_ca_chain; /* PCK CA, root */
    uint8_t att_pub[64];
    uint8_t qe_report[384];
    uint8_t qe_report_sig[64];
    uint8_t qe_mrsigner[32];
};

/* ---------------------------------------------------------------- */
/* Small helpers                                                     */
/* ---------------------------------------------------------------- */

static void put_u16le(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u64le(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static EVP_PKEY *gen_p256(void) {
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* ECDSA-P256-SHA256 over msg, raw r||s. */
static int sign_raw(EVP_PKEY *key, const void *msg, size_t len, uint8_t sig[64], mk_error *err) {
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

/* Raw x||y of a P-256 key. */
static int pub_raw(EVP_PKEY *key, uint8_t out[64], mk_error *err) {
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

/* Concatenate certificates as PEM into a NUL-terminated string. */
static char *pem_chain(X509 *a, X509 *b, X509 *c, size_t *len) {
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
        if (push_pair(tcb, oid, t_int(sim_sgx_comps[i], V_ASN1_INTEGER)) < 0) goto done;
    }
    if (push_pair(tcb, SGX_EXT_OID ".2.17", t_int(SIM_PCESVN, V_ASN1_INTEGER)) < 0) goto done;
    if (push_pair(tcb, SGX_EXT_OID ".2.18", t_octets(sim_sgx_comps, 16)) < 0) goto done;
    static const uint8_t pce_id[2] = {0, 0};
    if (push_pair(top, SGX_EXT_OID ".1", t_octets(ppid, 16)) < 0 ||
        push_pair(top, SGX_EXT_OID ".2", t_seq(tcb)) < 0 ||
        push_pair(top, SGX_EXT_OID ".3", t_octets(pce_id, 2)) < 0 ||
        push_pair(top, SGX_EXT_OID ".4", t_octets(sim_fmspc, 6)) < 0 ||
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
        !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)SIM_ORG, -1, -1,
                                    0)) {
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

enum cert_kind { CERT_ROOT, CERT_CA, CERT_PCK, CERT_TCB };

static X509 *make_cert(enum cert_kind kind, const char *cn, EVP_PKEY *key, X509 *issuer,
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
    const char *bc = kind == CERT_ROOT ? "critical,CA:TRUE,pathlen:1"
                     : kind == CERT_CA ? "critical,CA:TRUE,pathlen:0"
                                       : "critical,CA:FALSE";
    const char *ku = (kind == CERT_ROOT || kind == CERT_CA)
                         ? "critical,keyCertSign,cRLSign"
                         : "critical,digitalSignature,nonRepudiation";
    if (add_ext(x, &ctx, NID_basic_constraints, bc) < 0 ||
        add_ext(x, &ctx, NID_key_usage, ku) < 0 ||
        add_ext(x, &ctx, NID_subject_key_identifier, "hash") < 0 ||
        add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") < 0)
        goto done;
    if (kind == CERT_PCK) {
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

/* An empty CRL issued by `issuer`, valid [now-1h, now+30d], DER. */
static int make_crl(X509 *issuer, EVP_PKEY *key, int64_t now, mk_buf *der, mk_error *err) {
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

/* ---------------------------------------------------------------- */
/* Construction                                                      */
/* ---------------------------------------------------------------- */

static mk_tdx_sim *sim_alloc(void) {
    mk_tdx_sim *s = calloc(1, sizeof *s);
    if (s) atomic_init(&s->refs, 1);
    return s;
}

static void sim_destroy(mk_tdx_sim *s) {
    EVP_PKEY_free(s->root_key);
    EVP_PKEY_free(s->pck_ca_key);
    EVP_PKEY_free(s->pck_key);
    EVP_PKEY_free(s->tcb_key);
    EVP_PKEY_free(s->att_key);
    X509_free(s->root);
    X509_free(s->pck_ca);
    X509_free(s->pck);
    X509_free(s->tcb);
    OPENSSL_free(s->root_der);
    free(s->pck_chain);
    free(s->tcb_chain);
    free(s->pck_ca_chain);
    free(s);
}

mk_tdx_sim *mk_tdx_sim_ref(mk_tdx_sim *sim) {
    if (sim) atomic_fetch_add(&sim->refs, 1);
    return sim;
}

void mk_tdx_sim_free(mk_tdx_sim *sim) {
    if (sim && atomic_fetch_sub(&sim->refs, 1) == 1) sim_destroy(sim);
}

/* Derived state: root DER, PEM chains, the signed QE report. */
static int sim_finish(mk_tdx_sim *s, mk_error *err) {
    int n = i2d_X509(s->root, &s->root_der);
    if (n <= 0) return mk_error_openssl(err, MK_ECRYPTO, "simulator: encoding the root");
    s->root_der_len = (size_t)n;
    s->pck_chain = pem_chain(s->pck, s->pck_ca, s->root, &s->pck_chain_len);
    s->tcb_chain = pem_chain(s->tcb, s->root, NULL, NULL);
    s->pck_ca_chain = pem_chain(s->pck_ca, s->root, NULL, NULL);
    if (!s->pck_chain || !s->tcb_chain || !s->pck_ca_chain)
        return mk_error_set(err, MK_ENOMEM, "simulator: out of memory");
    MK_TRY(pub_raw(s->att_key, s->att_pub, err));

    /* The QE report. */
    static const char qe_signer_label[] = "mosaik simulated TD quoting enclave signer";
    static const char qe_enclave_label[] = "mosaik simulated TD quoting enclave";
    uint8_t *r = s->qe_report;
    memset(r, 0, sizeof s->qe_report);
    memcpy(r + 0, sim_sgx_comps, 16); /* cpusvn */
    put_u64le(r + 48, 0x15);          /* attributes.flags: INIT | MODE64BIT | PROVISIONKEY */
    put_u64le(r + 56, 0xe7);          /* attributes.xfrm */
    mk_sha256(qe_enclave_label, sizeof qe_enclave_label - 1, r + 64);
    mk_sha256(qe_signer_label, sizeof qe_signer_label - 1, s->qe_mrsigner);
    memcpy(r + 128, s->qe_mrsigner, 32);
    put_u16le(r + 256, QE_ISVPRODID);
    put_u16le(r + 258, QE_ISVSVN);
    uint8_t hashed[64 + QE_AUTH_LEN];
    memcpy(hashed, s->att_pub, 64);
    for (int i = 0; i < QE_AUTH_LEN; i++)
        hashed[64 + i] = (uint8_t)i;
    mk_sha256(hashed, sizeof hashed, r + 320);
    return sign_raw(s->pck_key, r, sizeof s->qe_report, s->qe_report_sig, err);
}

int mk_tdx_sim_new(int64_t now, mk_tdx_sim **out, mk_error *err) {
    if (!out) return mk_error_set(err, MK_EINVAL, "simulator: NULL output");
    *out = NULL;
    mk_tdx_sim *s = sim_alloc();
    if (!s) return mk_error_set(err, MK_ENOMEM, "simulator: out of memory");
    s->root_key = gen_p256();
    s->pck_ca_key = gen_p256();
    s->pck_key = gen_p256();
    s->tcb_key = gen_p256();
    s->att_key = gen_p256();
    int rc = MK_ECRYPTO;
    if (!s->root_key || !s->pck_ca_key || !s->pck_key || !s->tcb_key || !s->att_key) {
        rc = mk_error_openssl(err, MK_ECRYPTO, "simulator: key generation");
        goto fail;
    }
    s->root = make_cert(CERT_ROOT, CN_ROOT, s->root_key, NULL, s->root_key, now);
    if (s->root)
        s->pck_ca = make_cert(CERT_CA, CN_PCK_CA, s->pck_ca_key, s->root, s->root_key, now);
    if (s->pck_ca) s->pck = make_cert(CERT_PCK, CN_PCK, s->pck_key, s->pck_ca, s->pck_ca_key, now);
    if (s->pck) s->tcb = make_cert(CERT_TCB, CN_TCB, s->tcb_key, s->root, s->root_key, now);
    if (!s->tcb) {
        rc = mk_error_openssl(err, MK_ECRYPTO, "simulator: certificate creation");
        goto fail;
    }
    rc = sim_finish(s, err);
    if (rc < 0) goto fail;
    *out = s;
    return 0;
fail:
    sim_destroy(s);
    return rc;
}

/* ---------------------------------------------------------------- */
/* Persistence                                                       */
/* ---------------------------------------------------------------- */

int mk_tdx_sim_save(const mk_tdx_sim *sim, const char *path, mk_error *err) {
    if (!sim || !path) return mk_error_set(err, MK_EINVAL, "simulator save: NULL argument");
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio) return mk_error_set(err, MK_ENOMEM, "out of memory");
    static const char banner[] =
        "# mosaik TDX SIMULATOR key material. NOT Intel, NOT real TDX: test PKI only.\n"
        "# Order: root key, root cert, PCK CA key, PCK CA cert, PCK key, PCK cert,\n"
        "# TCB signing key, TCB signing cert, attestation key.\n";
    EVP_PKEY *keys[5] = {sim->root_key, sim->pck_ca_key, sim->pck_key, sim->tcb_key, sim->att_key};
    X509 *certs[4] = {sim->root, sim->pck_ca, sim->pck, sim->tcb};
    int ok = BIO_write(bio, banner, (int)sizeof banner - 1) > 0;
    for (int i = 0; ok && i < 5; i++) {
        ok = PEM_write_bio_PrivateKey(bio, keys[i], NULL, NULL, 0, NULL, NULL) == 1;
        if (ok && i < 4) ok = PEM_write_bio_X509(bio, certs[i]) == 1;
    }
    int rc;
    char *data = NULL;
    long n = ok ? BIO_get_mem_data(bio, &data) : 0;
    if (!ok || n <= 0)
        rc = mk_error_openssl(err, MK_ECRYPTO, "simulator save: PEM encoding");
    else
        rc = mk_file_write(path, data, (size_t)n, 0600, err);
    BIO_free_all(bio);
    if (rc < 0) mk_error_prefix(err, rc, "simulator save");
    return rc;
}

int mk_tdx_sim_load(const char *path, mk_tdx_sim **out, mk_error *err) {
    if (!path || !out) return mk_error_set(err, MK_EINVAL, "simulator load: NULL argument");
    *out = NULL;
    mk_buf file = MK_BUF_INIT;
    int rc = mk_file_read(path, SIM_FILE_MAX, &file, err);
    if (rc < 0) {
        mk_buf_free(&file);
        return mk_error_prefix(err, rc, "simulator load");
    }
    mk_tdx_sim *s = sim_alloc();
    BIO *bio = s ? BIO_new_mem_buf(file.data, (int)file.len) : NULL;
    if (!bio) {
        rc = mk_error_set(err, MK_ENOMEM, "out of memory");
        goto done;
    }
    EVP_PKEY **keys[5] = {&s->root_key, &s->pck_ca_key, &s->pck_key, &s->tcb_key, &s->att_key};
    X509 **certs[4] = {&s->root, &s->pck_ca, &s->pck, &s->tcb};
    static const char *names[5] = {"root", "PCK CA", "PCK", "TCB signing", "attestation"};
    for (int i = 0; i < 5; i++) {
        *keys[i] = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        if (!*keys[i] || !EVP_PKEY_is_a(*keys[i], "EC")) {
            rc = mk_error_openssl(err, MK_EMALFORMED, "simulator load: missing EC key");
            mk_error_prefix(err, rc, "%s: %s key", path, names[i]);
            goto done;
        }
        if (i == 4) break;
        *certs[i] = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!*certs[i] || X509_check_private_key(*certs[i], *keys[i]) != 1) {
            rc =
                mk_error_openssl(err, MK_EMALFORMED, "certificate missing or not matching its key");
            mk_error_prefix(err, rc, "simulator load: %s: %s", path, names[i]);
            goto done;
        }
    }
    /* The chain must link: root self-signed, CA and TCB by root, PCK by CA. */
    if (X509_verify(s->root, s->root_key) != 1 || X509_verify(s->pck_ca, s->root_key) != 1 ||
        X509_verify(s->tcb, s->root_key) != 1 || X509_verify(s->pck, s->pck_ca_key) != 1) {
        rc =
            mk_error_set(err, MK_EMALFORMED, "simulator load: %s: certificates do not chain", path);
        goto done;
    }
    rc = sim_finish(s, err);
done:
    BIO_free(bio);
    mk_buf_wipe_free(&file);
    if (rc < 0) {
        if (s) sim_destroy(s);
        return rc;
    }
    *out = s;
    return 0;
}

int mk_tdx_sim_load_or_create(const char *path, int64_t now, mk_tdx_sim **out, mk_error *err) {
    if (!path || !out) return mk_error_set(err, MK_EINVAL, "simulator: NULL argument");
    if (access(path, F_OK) == 0) return mk_tdx_sim_load(path, out, err);
    mk_tdx_sim *s = NULL;
    MK_TRY(mk_tdx_sim_new(now, &s, err));
    /* Write to a private name, then link(): exactly one process creates
     * `path`; the others find it taken and load the winner's. */
    size_t plen = strlen(path) + 64;
    char *tmp = malloc(plen);
    if (!tmp) {
        mk_tdx_sim_free(s);
        return mk_error_set(err, MK_ENOMEM, "out of memory");
    }
    uint8_t rnd[8];
    char rhex[17];
    mk_random_bytes(rnd, sizeof rnd);
    mk_hex_encode(rnd, sizeof rnd, rhex);
    snprintf(tmp, plen, "%s.new.%d.%s", path, (int)getpid(), rhex);
    int rc = mk_tdx_sim_save(s, tmp, err);
    if (rc == 0) {
        if (link(tmp, path) == 0) {
            *out = s;
            s = NULL;
        } else if (errno == EEXIST) {
            rc = mk_tdx_sim_load(path, out, err);
        } else {
            rc =
                mk_error_set(err, MK_EIO, "simulator: cannot create %s: %s", path, strerror(errno));
        }
        unlink(tmp);
    }
    free(tmp);
    mk_tdx_sim_free(s);
    return rc;
}

void mk_tdx_sim_root_der(const mk_tdx_sim *sim, const uint8_t **der, size_t *len) {
    *der = sim->root_der;
    *len = sim->root_der_len;
}

void mk_tdx_sim_pck_chain_pem(const mk_tdx_sim *sim, const char **pem, size_t *len) {
    *pem = sim->pck_chain;
    *len = sim->pck_chain_len;
}

/* ---------------------------------------------------------------- */
/* The simulated TD and its quotes                                   */
/* ---------------------------------------------------------------- */

static const char sim_mr_td_label[] = "mosaik simulated TD";
static const char sim_mr_seam_label[] = "mosaik simulated TDX module";

void mk_tdx_sim_td_default(mk_tdx_sim_td *td) {
    memset(td, 0, sizeof *td);
    mk_sha384(sim_mr_td_label, sizeof sim_mr_td_label - 1, td->mr_td);
    td->td_attributes = MK_TDX_ATTR_SEPT_VE_DISABLE;
    td->xfam = 0x602e7;
    td->quote_version = 4;
    td->body_type = MK_TDX_BODY_TD10;
    memcpy(td->tee_tcb_svn, sim_tdx_comps, 16);
    memcpy(td->tee_tcb_svn2, sim_tdx_comps, 16);
}

void mk_tdx_sim_td_report(const mk_tdx_sim_td *td,
                          const uint8_t report_data[MK_TDX_REPORT_DATA_LEN],
                          mk_tdx_td_report *out) {
    memset(out, 0, sizeof *out);
    memcpy(out->tee_tcb_svn, td->tee_tcb_svn, 16);
    mk_sha384(sim_mr_seam_label, sizeof sim_mr_seam_label - 1, out->mr_seam);
    out->td_attributes = td->td_attributes;
    out->xfam = td->xfam;
    memcpy(out->mr_td, td->mr_td, 48);
    memcpy(out->mr_config_id, td->mr_config_id, 48);
    memcpy(out->mr_owner, td->mr_owner, 48);
    memcpy(out->mr_owner_config, td->mr_owner_config, 48);
    memcpy(out->rtmr, td->rtmr, sizeof out->rtmr);
    memcpy(out->report_data, report_data, 64);
    if (td->body_type == MK_TDX_BODY_TD15) {
        memcpy(out->tee_tcb_svn2, td->tee_tcb_svn2, 16);
        memcpy(out->mr_service_td, td->mr_service_td, 48);
    }
}

static int append_body(mk_buf *b, const mk_tdx_td_report *r, bool td15) {
    MK_TRY(mk_buf_append(b, r->tee_tcb_svn, 16));
    MK_TRY(mk_buf_append(b, r->mr_seam, 48));
    MK_TRY(mk_buf_append(b, r->mr_signer_seam, 48));
    MK_TRY(mk_buf_append_u64le(b, r->seam_attributes));
    MK_TRY(mk_buf_append_u64le(b, r->td_attributes));
    MK_TRY(mk_buf_append_u64le(b, r->xfam));
    MK_TRY(mk_buf_append(b, r->mr_td, 48));
    MK_TRY(mk_buf_append(b, r->mr_config_id, 48));
    MK_TRY(mk_buf_append(b, r->mr_owner, 48));
    MK_TRY(mk_buf_append(b, r->mr_owner_config, 48));
    MK_TRY(mk_buf_append(b, r->rtmr, sizeof r->rtmr));
    MK_TRY(mk_buf_append(b, r->report_data, 64));
    if (td15) {
        MK_TRY(mk_buf_append(b, r->tee_tcb_svn2, 16));
        MK_TRY(mk_buf_append(b, r->mr_service_td, 48));
    }
    return 0;
}

int mk_tdx_sim_quote(const mk_tdx_sim *sim, const mk_tdx_sim_td *td,
                     const uint8_t report_data[MK_TDX_REPORT_DATA_LEN], mk_buf *out,
                     mk_error *err) {
    if (!sim || !td || !report_data || !out)
        return mk_error_set(err, MK_EINVAL, "simulator quote: NULL argument");
    if (td->quote_version != 4 && td->quote_version != 5)
        return mk_error_set(err, MK_EUNSUPPORTED, "simulator quote: version %u (want 4 or 5)",
                            td->quote_version);
    if (td->body_type != MK_TDX_BODY_TD10 && td->body_type != MK_TDX_BODY_TD15)
        return mk_error_set(err, MK_EUNSUPPORTED, "simulator quote: body type %d",
                            (int)td->body_type);
    if (td->quote_version == 4 && td->body_type != MK_TDX_BODY_TD10)
        return mk_error_set(err, MK_EUNSUPPORTED,
                            "simulator quote: a TD 1.5 body needs a version 5 quote");
    bool td15 = td->body_type == MK_TDX_BODY_TD15;
    mk_tdx_td_report rep;
    mk_tdx_sim_td_report(td, report_data, &rep);

    mk_buf q = MK_BUF_INIT;
    mk_buf_init(&q, MK_TDX_QUOTE_MAX);
    static const char user_data[20] = "MOSAIK SIMULATED TDX";
    int rc;
    MK_GUARD(rc, mk_buf_append_u16le(&q, td->quote_version), fail);
    MK_GUARD(rc, mk_buf_append_u16le(&q, 2), fail); /* ECDSA-256-with-P-256 */
    MK_GUARD(rc, mk_buf_append_u32le(&q, MK_TDX_TEE_TYPE), fail);
    MK_GUARD(rc, mk_buf_append_u32le(&q, 0), fail);
    MK_GUARD(rc, mk_buf_append(&q, intel_qe_vendor_id, 16), fail);
    MK_GUARD(rc, mk_buf_append(&q, user_data, 20), fail);
    if (td->quote_version == 5) {
        MK_GUARD(rc, mk_buf_append_u16le(&q, (uint16_t)td->body_type), fail);
        MK_GUARD(rc, mk_buf_append_u32le(&q, td15 ? 648 : 584), fail);
    }
    MK_GUARD(rc, append_body(&q, &rep, td15), fail);
    uint8_t sig[64];
    MK_GUARD(rc, sign_raw(sim->att_key, q.data, q.len, sig, err), fail_err);

    size_t chain_len = sim->pck_chain_len + 1; /* with its NUL, as real quotes do */
    size_t cert_data = 384 + 64 + 2 + QE_AUTH_LEN + 2 + 4 + chain_len;
    size_t sig_data = 64 + 64 + 2 + 4 + cert_data;
    uint8_t auth[QE_AUTH_LEN];
    for (int i = 0; i < QE_AUTH_LEN; i++)
        auth[i] = (uint8_t)i;
    MK_GUARD(rc, mk_buf_append_u32le(&q, (uint32_t)sig_data), fail);
    MK_GUARD(rc, mk_buf_append(&q, sig, 64), fail);
    MK_GUARD(rc, mk_buf_append(&q, sim->att_pub, 64), fail);
    MK_GUARD(rc, mk_buf_append_u16le(&q, 6), fail);
    MK_GUARD(rc, mk_buf_append_u32le(&q, (uint32_t)cert_data), fail);
    MK_GUARD(rc, mk_buf_append(&q, sim->qe_report, 384), fail);
    MK_GUARD(rc, mk_buf_append(&q, sim->qe_report_sig, 64), fail);
    MK_GUARD(rc, mk_buf_append_u16le(&q, QE_AUTH_LEN), fail);
    MK_GUARD(rc, mk_buf_append(&q, auth, QE_AUTH_LEN), fail);
    MK_GUARD(rc, mk_buf_append_u16le(&q, 5), fail);
    MK_GUARD(rc, mk_buf_append_u32le(&q, (uint32_t)chain_len), fail);
    MK_GUARD(rc, mk_buf_append(&q, sim->pck_chain, chain_len), fail);

    mk_buf_free(out);
    *out = q;
    return 0;
fail:
    mk_error_set(err, rc, "simulator quote: %s", mk_strerror(rc));
fail_err:
    mk_buf_free(&q);
    return rc;
}

/* ---------------------------------------------------------------- */
/* Collateral                                                        */
/* ---------------------------------------------------------------- */

static void hex_upper(const uint8_t *p, size_t n, char *out) {
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = 0;
}

static void append_svns(mk_buf *b, const uint8_t svn[16]) {
    mk_buf_append_str(b, "[");
    for (int i = 0; i < 16; i++)
        mk_buf_printf(b, "%s{\"svn\":%u}", i ? "," : "", svn[i]);
    mk_buf_append_str(b, "]");
}

static void append_level(mk_buf *b, const uint8_t sgx[16], int pcesvn, const uint8_t tdx[16],
                         const char *date, const char *status, const char *advisory) {
    mk_buf_append_str(b, "{\"tcb\":{\"sgxtcbcomponents\":");
    append_svns(b, sgx);
    mk_buf_printf(b, ",\"pcesvn\":%d,\"tdxtcbcomponents\":", pcesvn);
    append_svns(b, tdx);
    mk_buf_printf(b, "},\"tcbDate\":\"%s\",\"tcbStatus\":\"%s\"", date, status);
    if (advisory) mk_buf_printf(b, ",\"advisoryIDs\":[\"%s\"]", advisory);
    mk_buf_append_str(b, "}");
}

static int tcb_info_text(int64_t now, mk_buf *b) {
    char issue[MK_RFC3339_LEN], next[MK_RFC3339_LEN], fmspc[13], zeros48[97];
    mk_time_format_rfc3339(now - 3600, issue);
    mk_time_format_rfc3339(now + 30 * 86400, next);
    hex_upper(sim_fmspc, 6, fmspc);
    memset(zeros48, '0', 96);
    zeros48[96] = 0;
    mk_buf_printf(b,
                  "{\"id\":\"TDX\",\"version\":3,\"issueDate\":\"%s\",\"nextUpdate\":\"%s\","
                  "\"fmspc\":\"%s\",\"pceId\":\"0000\",\"tcbType\":0,"
                  "\"tcbEvaluationDataNumber\":1,"
                  "\"tdxModule\":{\"mrsigner\":\"%s\",\"attributes\":\"0000000000000000\","
                  "\"attributesMask\":\"FFFFFFFFFFFFFFFF\"},"
                  "\"tdxModuleIdentities\":[{\"id\":\"TDX_01\",\"mrsigner\":\"%s\","
                  "\"attributes\":\"0000000000000000\",\"attributesMask\":\"FFFFFFFFFFFFFFFF\","
                  "\"tcbLevels\":[{\"tcb\":{\"isvsvn\":4},\"tcbDate\":\"2024-03-13T00:00:00Z\","
                  "\"tcbStatus\":\"UpToDate\"},{\"tcb\":{\"isvsvn\":2},"
                  "\"tcbDate\":\"2023-08-09T00:00:00Z\",\"tcbStatus\":\"OutOfDate\"}]}],"
                  "\"tcbLevels\":[",
                  issue, next, fmspc, zeros48, zeros48);
    append_level(b, sim_sgx_comps, SIM_PCESVN, sim_tdx_comps, "2024-03-13T00:00:00Z", "UpToDate",
                 NULL);
    mk_buf_append_str(b, ",");
    append_level(b, old_sgx_comps, OLD_PCESVN, old_tdx_comps, "2018-01-04T00:00:00Z", "OutOfDate",
                 "MOSAIK-SIM-SA-00001");
    return mk_buf_append_str(b, "]}");
}

static int qe_identity_text(const mk_tdx_sim *sim, int64_t now, mk_buf *b) {
    char issue[MK_RFC3339_LEN], next[MK_RFC3339_LEN], mrsigner[65];
    mk_time_format_rfc3339(now - 3600, issue);
    mk_time_format_rfc3339(now + 30 * 86400, next);
    hex_upper(sim->qe_mrsigner, 32, mrsigner);
    return mk_buf_printf(
        b,
        "{\"id\":\"TD_QE\",\"version\":2,\"issueDate\":\"%s\",\"nextUpdate\":\"%s\","
        "\"tcbEvaluationDataNumber\":1,\"miscselect\":\"00000000\","
        "\"miscselectMask\":\"FFFFFFFF\",\"attributes\":\"11000000000000000000000000000000\","
        "\"attributesMask\":\"FBFFFFFFFFFFFFFF0000000000000000\",\"mrsigner\":\"%s\","
        "\"isvprodid\":%d,\"tcbLevels\":[{\"tcb\":{\"isvsvn\":4},"
        "\"tcbDate\":\"2024-03-13T00:00:00Z\",\"tcbStatus\":\"UpToDate\"},"
        "{\"tcb\":{\"isvsvn\":0},\"tcbDate\":\"2021-11-10T00:00:00Z\","
        "\"tcbStatus\":\"OutOfDate\"}]}",
        issue, next, mrsigner, QE_ISVPRODID);
}

/* Sets key to a new JSON string of n bytes; false on failure. */
static bool set_str(json_t *o, const char *key, const char *s, size_t n) {
    json_t *v = json_stringn(s, n);
    return v && json_object_set_new(o, key, v) == 0;
}

static bool set_hex(json_t *o, const char *key, const uint8_t *p, size_t n) {
    char *h = malloc(2 * n + 1);
    if (!h) return false;
    mk_hex_encode(p, n, h);
    bool ok = set_str(o, key, h, 2 * n);
    free(h);
    return ok;
}

int mk_tdx_sim_collateral_json(const mk_tdx_sim *sim, int64_t now, mk_buf *out, mk_error *err) {
    if (!sim || !out) return mk_error_set(err, MK_EINVAL, "simulator collateral: NULL argument");
    mk_buf tcb = MK_BUF_INIT, qe = MK_BUF_INIT, pck_crl = MK_BUF_INIT, root_crl = MK_BUF_INIT;
    json_t *o = NULL;
    char *text = NULL;
    uint8_t tcb_sig[64], qe_sig[64];
    int rc;
    if (tcb_info_text(now, &tcb) < 0 || qe_identity_text(sim, now, &qe) < 0) {
        rc = mk_error_set(err, MK_ENOMEM, "out of memory");
        goto done;
    }
    MK_GUARD(rc, sign_raw(sim->tcb_key, tcb.data, tcb.len, tcb_sig, err), done);
    MK_GUARD(rc, sign_raw(sim->tcb_key, qe.data, qe.len, qe_sig, err), done);
    MK_GUARD(rc, make_crl(sim->pck_ca, sim->pck_ca_key, now, &pck_crl, err), done);
    MK_GUARD(rc, make_crl(sim->root, sim->root_key, now, &root_crl, err), done);
    o = json_object();
    bool ok = o &&
              set_str(o, "pck_crl_issuer_chain", sim->pck_ca_chain, strlen(sim->pck_ca_chain)) &&
              set_hex(o, "root_ca_crl", root_crl.data, root_crl.len) &&
              set_hex(o, "pck_crl", pck_crl.data, pck_crl.len) &&
              set_str(o, "tcb_info_issuer_chain", sim->tcb_chain, strlen(sim->tcb_chain)) &&
              set_str(o, "tcb_info", (const char *)tcb.data, tcb.len) &&
              set_hex(o, "tcb_info_signature", tcb_sig, 64) &&
              set_str(o, "qe_identity_issuer_chain", sim->tcb_chain, strlen(sim->tcb_chain)) &&
              set_str(o, "qe_identity", (const char *)qe.data, qe.len) &&
              set_hex(o, "qe_identity_signature", qe_sig, 64);
    if (ok) text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text) {
        rc = mk_error_set(err, MK_ENOMEM, "simulator collateral: JSON encoding failed");
        goto done;
    }
    mk_buf_reset(out);
    rc = mk_buf_append(out, text, strlen(text));
    if (rc < 0) mk_error_set(err, rc, "simulator collateral: %s", mk_strerror(rc));
done:
    free(text);
    json_decref(o);
    mk_buf_free(&tcb);
    mk_buf_free(&qe);
    mk_buf_free(&pck_crl);
    mk_buf_free(&root_crl);
    return rc;
}

int mk_tdx_sim_collateral(const mk_tdx_sim *sim, int64_t now, mk_tdx_collateral **out,
                          mk_error *err) {
    if (!out) return mk_error_set(err, MK_EINVAL, "simulator collateral: NULL output");
    *out = NULL;
    mk_buf json = MK_BUF_INIT;
    int rc = mk_tdx_sim_collateral_json(sim, now, &json, err);
    if (rc == 0) {
        rc = mk_tdx_collateral_from_bundle((const char *)json.data, json.len, out, err);
        if (rc < 0) mk_error_prefix(err, rc, "simulator collateral");
    }
    mk_buf_free(&json);
    return rc;
}
