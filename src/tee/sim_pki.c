/*
 * tee/sim_pki.c — the test PKI every platform's simulator is made of:
 * EC keys, certificates and CRLs made with OpenSSL's X509 APIs, raw ECDSA
 * signatures. A platform's simulator (TDX: tee/tdx/sim*.c) chooses the
 * names, the shape of its chain and its private extensions (TDX's SGX
 * extension of a PCK certificate; SNP's TCB and hwID extensions of a
 * VCEK); what is the same for all of them is here.
 *
 * Certificates: version 3, a random positive 128-bit serial, valid from a
 * day before `now` for `years` (default 10); subject CN and O (the O says
 * the certificate is simulated, so no one mistakes it for a vendor's);
 * basicConstraints critical (roots and CAs with their path length, leaves
 * CA:FALSE); keyUsage critical (CAs keyCertSign and cRLSign, leaves
 * digitalSignature and nonRepudiation); subject and authority key
 * identifiers; then the caller's extensions, non-critical, in order. The
 * issuer signs with ECDSA and the digest that matches its key (SHA-256 for
 * P-256, SHA-384 for P-384). CRLs: version 2, CRL number 1, empty, valid
 * from an hour before `now` for 30 days, signed the same way.
 *
 * A simulator's state file is published once (mk_tee_sim_publish): saved
 * under a private name, then link()ed to its path, which fails with EEXIST
 * for every process but the first, so racing processes (the demo's nodes)
 * all end up with the same simulator.
 *
 * Simulator keys and certificates are test material: they are generated
 * on the machine, trusted by no verifier unless told to (a verifier's
 * explicit simulator root), and never a fallback for real hardware.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/ossl.h"
#include "mosaik/crypto.h"
#include "mosaik/encoding.h"
#include "tee/tee_internal.h"

#define DEFAULT_YEARS 10

/* ---------------------------------------------------------------- */
/* Keys, signatures, PEM                                             */
/* ---------------------------------------------------------------- */

EVP_PKEY *mk_tee_sim_keygen(const char *curve) {
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
}

/* The digest an EC key of this size signs with. */
static const EVP_MD *md_for(EVP_PKEY *key) {
    return EVP_PKEY_get_bits(key) > 256 ? EVP_sha384() : EVP_sha256();
}

int mk_tee_sim_sign(EVP_PKEY *key, mk_hash_alg alg, const void *msg, size_t len, uint8_t *sig,
                    size_t n, mk_error *err) {
    const EVP_MD *md = alg == MK_SHA384   ? EVP_sha384()
                       : alg == MK_SHA512 ? EVP_sha512()
                                          : EVP_sha256();
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t der[160];
    size_t dlen = sizeof der;
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, md, NULL, key) == 1 &&
             EVP_DigestSign(ctx, der, &dlen, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) return mk_error_openssl(err, MK_ECRYPTO, "simulator: ECDSA signing");
    if (mk_ecdsa_sig_der_to_raw(der, dlen, n, sig) < 0)
        return mk_error_set(err, MK_ECRYPTO, "simulator: cannot convert ECDSA signature");
    return 0;
}

int mk_tee_sim_pub_raw(EVP_PKEY *key, uint8_t *out, size_t n, mk_error *err) {
    uint8_t buf[1 + 2 * 66];
    size_t got = 0;
    if (n > 66 || EVP_PKEY_get_octet_string_param(key, "pub", buf, sizeof buf, &got) != 1 ||
        got != 1 + 2 * n || buf[0] != 0x04)
        return mk_error_set(err, MK_ECRYPTO,
                            "simulator: key is not an uncompressed EC key of %zu-byte coordinates",
                            n);
    memcpy(out, buf + 1, 2 * n);
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

char *mk_tee_sim_pem_chain(X509 *a, X509 *b, X509 *c, size_t *len) {
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
/* Certificates and CRLs                                             */
/* ---------------------------------------------------------------- */

static X509_NAME *sim_name(const char *cn, const char *org) {
    X509_NAME *n = X509_NAME_new();
    if (!n) return NULL;
    if (!X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) ||
        !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)org, -1, -1, 0)) {
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

/* One of the caller's extensions: its DER value under its OID. */
static int add_raw_ext(X509 *x, const mk_tee_sim_ext *ext) {
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    ASN1_OBJECT *obj = OBJ_txt2obj(ext->oid, 1);
    X509_EXTENSION *e = NULL;
    if (os && obj && ASN1_OCTET_STRING_set(os, ext->der, (int)ext->len))
        e = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
    int added = e && X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    ASN1_OBJECT_free(obj);
    ASN1_OCTET_STRING_free(os);
    return added ? 0 : MK_ECRYPTO;
}

/* The standard extensions of the kind. */
static int add_std_exts(X509 *x, X509 *issuer, const mk_tee_sim_cert_spec *s) {
    char bc[64];
    if (s->kind == MK_TEE_SIM_LEAF)
        snprintf(bc, sizeof bc, "critical,CA:FALSE");
    else
        snprintf(bc, sizeof bc, "critical,CA:TRUE,pathlen:%d", s->pathlen);
    const char *ku = s->kind == MK_TEE_SIM_LEAF ? "critical,digitalSignature,nonRepudiation"
                                                : "critical,keyCertSign,cRLSign";
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    if (add_ext(x, &ctx, NID_basic_constraints, bc) < 0 ||
        add_ext(x, &ctx, NID_key_usage, ku) < 0 ||
        add_ext(x, &ctx, NID_subject_key_identifier, "hash") < 0 ||
        add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") < 0)
        return MK_ECRYPTO;
    return 0;
}

X509 *mk_tee_sim_cert(const mk_tee_sim_cert_spec *s, EVP_PKEY *key, X509 *issuer,
                      EVP_PKEY *issuer_key) {
    if (!s || !s->cn || !s->org || !key || !issuer_key || (s->n_ext && !s->ext)) return NULL;
    X509 *x = X509_new();
    X509_NAME *name = sim_name(s->cn, s->org);
    BIGNUM *bn = NULL;
    uint8_t serial[16];
    bool ok = false;
    if (!x || !name || mk_random_bytes(serial, sizeof serial) < 0) goto done;
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    bn = BN_bin2bn(serial, sizeof serial, NULL);
    int years = s->years > 0 ? s->years : DEFAULT_YEARS;
    int64_t nb = s->now - 86400, na = s->now + (int64_t)years * 365 * 86400;
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
        !X509_set_version(x, X509_VERSION_3) ||
        !ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) ||
        !ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na) || !X509_set_subject_name(x, name) ||
        !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) ||
        !X509_set_pubkey(x, key) || add_std_exts(x, issuer, s) < 0)
        goto done;
    for (size_t i = 0; i < s->n_ext; i++)
        if (add_raw_ext(x, &s->ext[i]) < 0) goto done;
    if (X509_sign(x, issuer_key, md_for(issuer_key)) <= 0) goto done;
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

int mk_tee_sim_crl(X509 *issuer, EVP_PKEY *key, int64_t now, mk_buf *der, mk_error *err) {
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
        X509_CRL_sign(crl, key, md_for(key)) <= 0)
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

int mk_tee_sim_publish(const char *path,
                       int (*save)(const void *ctx, const char *tmp, mk_error *err),
                       const void *ctx, mk_error *err) {
    size_t plen = strlen(path) + 64;
    char *tmp = malloc(plen);
    if (!tmp) return mk_error_set(err, MK_ENOMEM, "out of memory");
    uint8_t rnd[8];
    char rhex[17];
    mk_random_bytes(rnd, sizeof rnd);
    mk_hex_encode(rnd, sizeof rnd, rhex);
    snprintf(tmp, plen, "%s.new.%d.%s", path, (int)getpid(), rhex);
    int rc = save(ctx, tmp, err);
    if (rc == 0) {
        if (link(tmp, path) == 0)
            rc = 0;
        else if (errno == EEXIST)
            rc = 1;
        else
            rc =
                mk_error_set(err, MK_EIO, "simulator: cannot create %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return rc;
}
