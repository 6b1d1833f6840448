/*
 * crypto/crypto.c — thin wrappers over OpenSSL 3.
 *
 * Hashes use EVP_Digest with fetched (cached) EVP_MD objects, because
 * implicit fetching by name on every call is a measurable cost in
 * OpenSSL 3. ECDSA public keys are built from raw points through
 * EVP_PKEY_fromdata (OSSL_PKEY_PARAM_PUB_KEY), so the point is validated by
 * OpenSSL. Raw r||s signatures are converted to DER ECDSA-Sig-Value for
 * EVP_DigestVerify; non-canonical values (r or s zero or >= n) are refused
 * by OpenSSL's verification itself.
 */
#include "crypto/ossl.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include "mosaik/bytes.h"

static EVP_MD *md_cache[4];
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_init(void) {
    md_cache[MK_SHA256] = EVP_MD_fetch(NULL, "SHA256", NULL);
    md_cache[MK_SHA384] = EVP_MD_fetch(NULL, "SHA384", NULL);
    md_cache[MK_SHA512] = EVP_MD_fetch(NULL, "SHA512", NULL);
}

static const EVP_MD *md_of(mk_hash_alg alg) {
    pthread_once(&md_once, md_init);
    if (alg < MK_SHA256 || alg > MK_SHA512) return NULL;
    return md_cache[alg];
}

size_t mk_hash_len(mk_hash_alg alg) {
    switch (alg) {
    case MK_SHA256:
        return 32;
    case MK_SHA384:
        return 48;
    case MK_SHA512:
        return 64;
    }
    return 0;
}

int mk_hash(mk_hash_alg alg, const void *data, size_t len, uint8_t *out) {
    const EVP_MD *md = md_of(alg);
    if (!md) return MK_EINVAL;
    return EVP_Digest(data, len, out, NULL, md, NULL) == 1 ? 0 : MK_ECRYPTO;
}

void mk_sha256(const void *data, size_t len, uint8_t out[MK_SHA256_LEN]) {
    mk_hash(MK_SHA256, data, len, out);
}
void mk_sha384(const void *data, size_t len, uint8_t out[MK_SHA384_LEN]) {
    mk_hash(MK_SHA384, data, len, out);
}
void mk_sha512(const void *data, size_t len, uint8_t out[MK_SHA512_LEN]) {
    mk_hash(MK_SHA512, data, len, out);
}

struct mk_hash_ctx {
    EVP_MD_CTX *ctx;
    const EVP_MD *md;
};

int mk_hash_new(mk_hash_alg alg, mk_hash_ctx **out) {
    *out = NULL;
    const EVP_MD *md = md_of(alg);
    if (!md) return MK_EINVAL;
    mk_hash_ctx *c = calloc(1, sizeof *c);
    if (!c) return MK_ENOMEM;
    c->md = md;
    c->ctx = EVP_MD_CTX_new();
    if (!c->ctx || EVP_DigestInit_ex(c->ctx, md, NULL) != 1) {
        mk_hash_free(c);
        return MK_ECRYPTO;
    }
    *out = c;
    return 0;
}

int mk_hash_update(mk_hash_ctx *c, const void *data, size_t len) {
    return EVP_DigestUpdate(c->ctx, data, len) == 1 ? 0 : MK_ECRYPTO;
}

int mk_hash_final(mk_hash_ctx *c, uint8_t *out) {
    if (EVP_DigestFinal_ex(c->ctx, out, NULL) != 1) return MK_ECRYPTO;
    return EVP_DigestInit_ex(c->ctx, c->md, NULL) == 1 ? 0 : MK_ECRYPTO;
}

void mk_hash_free(mk_hash_ctx *c) {
    if (!c) return;
    EVP_MD_CTX_free(c->ctx);
    free(c);
}

int mk_hmac(mk_hash_alg alg, const void *key, size_t klen, const void *data, size_t len,
            uint8_t *out) {
    const EVP_MD *md = md_of(alg);
    if (!md || klen > INT32_MAX) return MK_EINVAL;
    unsigned int olen = 0;
    static const uint8_t empty = 0;
    if (!HMAC(md, klen ? key : &empty, (int)klen, data, len, out, &olen)) return MK_ECRYPTO;
    return 0;
}

int mk_error_openssl(mk_error *err, int code, const char *what) {
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e) ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    if (buf[0]) return mk_error_set(err, code, "%s: %s", what, buf);
    return mk_error_set(err, code, "%s", what);
}

/* ---- public keys ---- */

struct mk_pubkey {
    EVP_PKEY *pkey;
    size_t coord; /* EC coordinate size, 0 for Ed25519 */
};

static const char *curve_name(mk_curve c) {
    return c == MK_P256 ? "prime256v1" : c == MK_P384 ? "secp384r1" : NULL;
}

static size_t curve_coord(mk_curve c) {
    return c == MK_P256 ? 32 : c == MK_P384 ? 48 : 0;
}

/* The one EC key builder: an EVP_PKEY on `curve` from its SEC1 public point
 * and, for a key pair, the private scalar, through EVP_PKEY_fromdata (so
 * OpenSSL validates the point). A public point OpenSSL refuses is
 * MK_EMALFORMED; every other failure MK_ECRYPTO. */
static int ec_pkey_from_params(mk_curve curve, const BIGNUM *priv, const uint8_t *pub,
                               size_t publen, EVP_PKEY **out) {
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    int rc = MK_ECRYPTO;
    if (!bld ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curve_name(curve), 0) ||
        (priv && !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv)) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, publen))
        goto done;
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1) goto done;
    if (EVP_PKEY_fromdata(ctx, out, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) != 1) {
        if (!priv) rc = MK_EMALFORMED;
        goto done;
    }
    rc = 0;
done:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return rc;
}

int mk_pubkey_from_ec(mk_curve curve, const uint8_t *point, size_t len, mk_pubkey **out,
                      mk_error *err) {
    size_t n = curve_coord(curve);
    if (!n) return mk_error_set(err, MK_EINVAL, "unknown curve");
    uint8_t sec1[1 + 96];
    size_t slen;
    if (len == 2 * n) {
        sec1[0] = 0x04;
        memcpy(sec1 + 1, point, len);
        slen = len + 1;
    } else if ((len == 2 * n + 1 && point[0] == 0x04) ||
               (len == n + 1 && (point[0] == 0x02 || point[0] == 0x03))) {
        memcpy(sec1, point, len);
        slen = len;
    } else {
        return mk_error_set(err, MK_EMALFORMED, "EC public key: bad length %zu", len);
    }
    EVP_PKEY *pkey = NULL;
    int rc = ec_pkey_from_params(curve, NULL, sec1, slen, &pkey);
    if (rc == 0) {
        mk_pubkey *k = calloc(1, sizeof *k);
        if (k) {
            k->pkey = pkey;
            k->coord = n;
            *out = k;
            return 0;
        }
        EVP_PKEY_free(pkey);
        rc = MK_ENOMEM;
    }
    return mk_error_openssl(err, rc, "EC public key: invalid point");
}

int mk_pubkey_from_ed25519(const uint8_t pk[32], mk_pubkey **out, mk_error *err) {
    EVP_PKEY *p = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, 32);
    if (!p) return mk_error_openssl(err, MK_EMALFORMED, "Ed25519 public key");
    mk_pubkey *k = calloc(1, sizeof *k);
    if (!k) {
        EVP_PKEY_free(p);
        return MK_ENOMEM;
    }
    k->pkey = p;
    *out = k;
    return 0;
}

/* EC coordinate size of a key (32 for P-256, 48 for P-384), 0 when it is
 * not an EC key. */
static size_t evp_coord(const EVP_PKEY *p) {
    if (!EVP_PKEY_is_a(p, "EC")) return 0;
    return (size_t)(EVP_PKEY_get_bits(p) + 7) / 8;
}

int mk_pubkey_from_evp(EVP_PKEY *p, mk_pubkey **out) {
    mk_pubkey *k = calloc(1, sizeof *k);
    if (!k) return MK_ENOMEM;
    if (EVP_PKEY_up_ref(p) != 1) {
        free(k);
        return MK_ECRYPTO;
    }
    k->pkey = p;
    k->coord = evp_coord(p);
    *out = k;
    return 0;
}

EVP_PKEY *mk_pubkey_evp(const mk_pubkey *k) {
    return k->pkey;
}

void mk_pubkey_free(mk_pubkey *k) {
    if (!k) return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

int mk_ecdsa_sig_raw_to_der(const uint8_t *raw, size_t n, uint8_t **der, size_t *dlen) {
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)n, NULL), *s = BN_bin2bn(raw + n, (int)n, NULL);
    if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
        ECDSA_SIG_free(sig);
        BN_free(r);
        BN_free(s);
        return MK_ENOMEM;
    }
    unsigned char *p = NULL;
    int l = i2d_ECDSA_SIG(sig, &p);
    ECDSA_SIG_free(sig);
    if (l <= 0) return MK_ECRYPTO;
    *der = p;
    *dlen = (size_t)l;
    return 0;
}

int mk_ecdsa_sig_der_to_raw(const uint8_t *der, size_t dlen, size_t n, uint8_t *raw) {
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
    if (!sig) return MK_EMALFORMED;
    int rc = 0;
    if (p != der + dlen || BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, (int)n) < 0 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + n, (int)n) < 0)
        rc = MK_EMALFORMED;
    ECDSA_SIG_free(sig);
    return rc;
}

static int verify_der(const mk_pubkey *key, const EVP_MD *md, const void *msg, size_t len,
                      const uint8_t *der, size_t dlen, mk_error *err) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) return mk_error_set(err, MK_ENOMEM, "out of memory");
    int rc = MK_ECRYPTO;
    if (EVP_DigestVerifyInit_ex(ctx, NULL, md ? EVP_MD_get0_name(md) : NULL, NULL, NULL, key->pkey,
                                NULL) != 1) {
        mk_error_openssl(err, MK_ECRYPTO, "signature verification setup");
        goto done;
    }
    int v = EVP_DigestVerify(ctx, der, dlen, msg, len);
    if (v == 1) {
        rc = 0;
    } else {
        ERR_clear_error();
        rc = mk_error_set(err, MK_EBADSIG, "signature does not verify");
    }
done:
    EVP_MD_CTX_free(ctx);
    return rc;
}

int mk_ecdsa_verify_raw(const mk_pubkey *key, mk_hash_alg alg, const void *msg, size_t len,
                        const uint8_t *sig, size_t siglen, mk_error *err) {
    if (!key->coord || siglen != 2 * key->coord)
        return mk_error_set(err, MK_EMALFORMED, "ECDSA signature: bad length %zu", siglen);
    const EVP_MD *md = md_of(alg);
    if (!md) return mk_error_set(err, MK_EINVAL, "unknown hash");
    uint8_t *der;
    size_t dlen;
    int rc = mk_ecdsa_sig_raw_to_der(sig, key->coord, &der, &dlen);
    if (rc < 0) return mk_error_set(err, rc, "ECDSA signature: cannot encode");
    rc = verify_der(key, md, msg, len, der, dlen, err);
    OPENSSL_free(der);
    return rc;
}

int mk_ecdsa_verify_digest_evp(EVP_PKEY *pkey, const uint8_t *digest, size_t dlen_in,
                               const uint8_t *sig, size_t siglen, mk_error *err) {
    if (!pkey) return mk_error_set(err, MK_EINVAL, "ECDSA: no key");
    size_t coord = evp_coord(pkey);
    if (!coord || siglen != 2 * coord)
        return mk_error_set(err, MK_EMALFORMED, "ECDSA signature: bad length %zu", siglen);
    /* The digest must be SHA-256 for P-256 and SHA-384 for P-384: a shorter
     * one would be accepted by OpenSSL and weaken the signature. */
    if (dlen_in != coord)
        return mk_error_set(err, MK_EINVAL, "ECDSA digest: %zu bytes for a %zu-byte curve", dlen_in,
                            coord);
    uint8_t *der;
    size_t dlen;
    int rc = mk_ecdsa_sig_raw_to_der(sig, coord, &der, &dlen);
    if (rc < 0) return mk_error_set(err, rc, "ECDSA signature: cannot encode");
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
    if (!ctx || EVP_PKEY_verify_init(ctx) != 1) {
        rc = mk_error_openssl(err, MK_ECRYPTO, "signature verification setup");
    } else if (EVP_PKEY_verify(ctx, der, dlen, digest, dlen_in) == 1) {
        rc = 0;
    } else {
        ERR_clear_error();
        rc = mk_error_set(err, MK_EBADSIG, "signature does not verify");
    }
    EVP_PKEY_CTX_free(ctx);
    OPENSSL_free(der);
    return rc;
}

int mk_ecdsa_verify_digest_raw(const mk_pubkey *key, const uint8_t *digest, size_t dlen,
                               const uint8_t *sig, size_t siglen, mk_error *err) {
    /* key->coord is evp_coord(key->pkey) for every way a key is made. */
    return mk_ecdsa_verify_digest_evp(key->pkey, digest, dlen, sig, siglen, err);
}

/* ---- private keys ---- */

struct mk_privkey {
    EVP_PKEY *pkey;
    size_t coord;
};

int mk_ec_generate(mk_curve curve, mk_privkey **out) {
    const char *name = curve_name(curve);
    if (!name) return MK_EINVAL;
    EVP_PKEY *p = EVP_PKEY_Q_keygen(NULL, NULL, "EC", name);
    if (!p) return MK_ECRYPTO;
    mk_privkey *k = calloc(1, sizeof *k);
    if (!k) {
        EVP_PKEY_free(p);
        return MK_ENOMEM;
    }
    k->pkey = p;
    k->coord = curve_coord(curve);
    *out = k;
    return 0;
}

int mk_ec_from_scalar(mk_curve curve, const uint8_t *d, size_t len, mk_privkey **out,
                      mk_error *err) {
    size_t n = curve_coord(curve);
    if (!n || len != n) return mk_error_set(err, MK_EINVAL, "EC private key: bad length");
    int nid = curve == MK_P256 ? NID_X9_62_prime256v1 : NID_secp384r1;
    EC_GROUP *grp = EC_GROUP_new_by_curve_name(nid);
    BIGNUM *bn = BN_bin2bn(d, (int)len, NULL);
    EC_POINT *pub = grp ? EC_POINT_new(grp) : NULL;
    unsigned char pubbuf[1 + 96];
    size_t publen = 0;
    int rc = MK_ECRYPTO;
    EVP_PKEY *pkey = NULL;
    if (!grp || !bn || !pub || BN_is_zero(bn) || BN_cmp(bn, EC_GROUP_get0_order(grp)) >= 0) {
        rc = MK_EINVAL;
        goto done;
    }
    if (EC_POINT_mul(grp, pub, bn, NULL, NULL, NULL) != 1) goto done;
    publen =
        EC_POINT_point2oct(grp, pub, POINT_CONVERSION_UNCOMPRESSED, pubbuf, sizeof pubbuf, NULL);
    if (!publen || (rc = ec_pkey_from_params(curve, bn, pubbuf, publen, &pkey)) < 0) {
        rc = MK_ECRYPTO;
        goto done;
    }
    mk_privkey *k = calloc(1, sizeof *k);
    if (!k) {
        rc = MK_ENOMEM;
        goto done;
    }
    k->pkey = pkey;
    k->coord = n;
    pkey = NULL;
    *out = k;
    rc = 0;
done:
    if (rc < 0) mk_error_openssl(err, rc, "EC private key");
    EVP_PKEY_free(pkey);
    EC_POINT_free(pub);
    BN_clear_free(bn);
    EC_GROUP_free(grp);
    return rc;
}

int mk_ecdsa_sign_raw(const mk_privkey *key, mk_hash_alg alg, const void *msg, size_t len,
                      uint8_t *sig, size_t *siglen) {
    const EVP_MD *md = md_of(alg);
    if (!md) return MK_EINVAL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) return MK_ENOMEM;
    int rc = MK_ECRYPTO;
    unsigned char der[160];
    size_t dlen = sizeof der;
    if (EVP_DigestSignInit_ex(ctx, NULL, EVP_MD_get0_name(md), NULL, NULL, key->pkey, NULL) == 1 &&
        EVP_DigestSign(ctx, der, &dlen, msg, len) == 1 &&
        mk_ecdsa_sig_der_to_raw(der, dlen, key->coord, sig) == 0) {
        *siglen = 2 * key->coord;
        rc = 0;
    }
    EVP_MD_CTX_free(ctx);
    return rc;
}

int mk_privkey_public_raw(const mk_privkey *key, uint8_t *out, size_t *len) {
    unsigned char buf[1 + 96];
    size_t blen = 0;
    if (EVP_PKEY_get_octet_string_param(key->pkey, OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof buf,
                                        &blen) != 1 ||
        blen != 1 + 2 * key->coord || buf[0] != 0x04)
        return MK_ECRYPTO;
    memcpy(out, buf + 1, blen - 1);
    *len = blen - 1;
    return 0;
}

int mk_privkey_public(const mk_privkey *key, mk_pubkey **out) {
    uint8_t raw[96];
    size_t n;
    MK_TRY(mk_privkey_public_raw(key, raw, &n));
    return mk_pubkey_from_ec(key->coord == 32 ? MK_P256 : MK_P384, raw, n, out, NULL);
}

EVP_PKEY *mk_privkey_evp(const mk_privkey *k) {
    return k->pkey;
}

void mk_privkey_free(mk_privkey *k) {
    if (!k) return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

/* ---- Ed25519 ---- */

int mk_ed25519_from_secret(const uint8_t secret[32], mk_ed25519_key *out) {
    EVP_PKEY *p = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, secret, 32);
    if (!p) return MK_ECRYPTO;
    size_t n = 32;
    int ok = EVP_PKEY_get_raw_public_key(p, out->public_key, &n) == 1 && n == 32;
    EVP_PKEY_free(p);
    if (!ok) return MK_ECRYPTO;
    memmove(out->secret, secret, 32);
    return 0;
}

int mk_ed25519_generate(mk_ed25519_key *out) {
    uint8_t seed[32];
    MK_TRY(mk_random_bytes(seed, sizeof seed));
    int rc = mk_ed25519_from_secret(seed, out);
    OPENSSL_cleanse(seed, sizeof seed);
    return rc;
}

int mk_ed25519_sign(const mk_ed25519_key *key, const void *msg, size_t len, uint8_t sig[64]) {
    EVP_PKEY *p = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, key->secret, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = MK_ECRYPTO;
    size_t slen = 64;
    if (p && ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, p) == 1 &&
        EVP_DigestSign(ctx, sig, &slen, msg, len) == 1 && slen == 64)
        rc = 0;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(p);
    return rc;
}

int mk_ed25519_verify(const uint8_t pk[32], const void *msg, size_t len, const uint8_t sig[64]) {
    EVP_PKEY *p = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = MK_ECRYPTO;
    if (p && ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, p) == 1)
        rc = EVP_DigestVerify(ctx, sig, 64, msg, len) == 1 ? 0 : MK_EBADSIG;
    ERR_clear_error();
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(p);
    return rc;
}

void mk_ed25519_wipe(mk_ed25519_key *key) {
    OPENSSL_cleanse(key->secret, sizeof key->secret);
}

int mk_random_bytes(void *out, size_t n) {
    if (n > INT32_MAX) return MK_EINVAL;
    return RAND_bytes(out, (int)n) == 1 ? 0 : MK_ECRYPTO;
}

uint64_t mk_random_below(uint64_t bound) {
    if (bound <= 1) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound, v;
    do {
        if (mk_random_bytes(&v, sizeof v) < 0) return 0;
    } while (v >= limit);
    return v % bound;
}

bool mk_ct_equal(const void *a, const void *b, size_t n) {
    return CRYPTO_memcmp(a, b, n) == 0;
}

void mk_wipe(void *p, size_t n) {
    OPENSSL_cleanse(p, n);
}
