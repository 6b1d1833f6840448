/*
 * tickets/jwt_key.c — JWT algorithms and keys.
 *
 * Algorithms: HS256/384/512 (HMAC-SHA-2), ES256 (P-256 + SHA-256), ES384
 * (P-384 + SHA-384), EdDSA (Ed25519), by their JOSE names (RFC 7518,
 * RFC 8037), exact and case-sensitive; "none" is not one of them.
 *
 * Keys. A mk_jwt_key is bound to one algorithm when it is made, and holds
 * the material in the form the crypto layer wants: the HMAC secret (at
 * least the hash length, RFC 7518 §3.2, at most MK_JWT_MAX_HS_KEY), an
 * OpenSSL EC public key (plus the private scalar for signing keys), or the
 * raw Ed25519 key. ES public keys are also kept as canonical raw X||Y (read
 * back from OpenSSL, so a compressed input and its uncompressed twin are the
 * same key) for validator signatures. A public copy of an HMAC key is the
 * key itself (HMAC has no public half).
 *
 * Signatures are the JOSE forms: HMAC output, raw r||s for ECDSA (RFC 7518
 * §3.4), 64 bytes for Ed25519. Verification first requires the algorithm's
 * exact signature length; HMACs are compared in constant time.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "crypto/ossl.h"
#include "mosaik/encoding.h"
#include "tickets/jwt_internal.h"

static const char *const alg_names[] = {NULL, "HS256", "HS384", "HS512", "ES256", "ES384", "EdDSA"};

const char *mk_jwt_alg_name(mk_jwt_alg alg) {
    if (alg < MK_JWT_HS256 || alg > MK_JWT_EDDSA) return NULL;
    return alg_names[alg];
}

int mk_jwt_alg_parse(const char *name, mk_jwt_alg *out) {
    for (int a = MK_JWT_HS256; a <= MK_JWT_EDDSA; a++) {
        if (name && !strcmp(name, alg_names[a])) {
            *out = (mk_jwt_alg)a;
            return 0;
        }
    }
    return MK_EUNSUPPORTED;
}

bool mk_jwt_alg_is_hs(mk_jwt_alg a) {
    return a == MK_JWT_HS256 || a == MK_JWT_HS384 || a == MK_JWT_HS512;
}
bool mk_jwt_alg_is_es(mk_jwt_alg a) {
    return a == MK_JWT_ES256 || a == MK_JWT_ES384;
}

mk_hash_alg mk_jwt_alg_hash(mk_jwt_alg a) {
    switch (a) {
    case MK_JWT_HS384:
    case MK_JWT_ES384:
        return MK_SHA384;
    case MK_JWT_HS512:
        return MK_SHA512;
    default:
        return MK_SHA256;
    }
}

size_t mk_jwt_alg_sig_len(mk_jwt_alg a) {
    switch (a) {
    case MK_JWT_HS256:
        return 32;
    case MK_JWT_HS384:
        return 48;
    case MK_JWT_HS512:
        return 64;
    case MK_JWT_ES256:
        return 64;
    case MK_JWT_ES384:
        return 96;
    case MK_JWT_EDDSA:
        return 64;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Keys                                                                */
/* ------------------------------------------------------------------ */

void mk_jwt_key_free(mk_jwt_key *k) {
    if (!k) return;
    if (k->secret) {
        mk_wipe(k->secret, k->secret_len);
        free(k->secret);
    }
    mk_pubkey_free(k->pub);
    mk_privkey_free(k->ecpriv);
    mk_wipe(k, sizeof *k);
    free(k);
}

static mk_jwt_key *key_alloc(mk_jwt_alg alg) {
    mk_jwt_key *k = calloc(1, sizeof *k);
    if (k) k->alg = alg;
    return k;
}

int mk_jwt_key_hs(mk_jwt_alg alg, const void *secret, size_t len, mk_jwt_key **out, mk_error *err) {
    if (!mk_jwt_alg_is_hs(alg))
        return mk_error_set(err, MK_EINVAL, "JWT key: %s is not an HMAC algorithm",
                            mk_jwt_alg_name(alg) ? mk_jwt_alg_name(alg) : "?");
    size_t min = mk_hash_len(mk_jwt_alg_hash(alg));
    if (len < min)
        return mk_error_set(err, MK_EINVAL,
                            "JWT key: %s secret is %zu bytes, at least %zu required (RFC 7518 "
                            "§3.2)",
                            alg_names[alg], len, min);
    if (len > MK_JWT_MAX_HS_KEY)
        return mk_error_set(err, MK_ETOOBIG, "JWT key: secret of %zu bytes exceeds %d", len,
                            MK_JWT_MAX_HS_KEY);
    mk_jwt_key *k = key_alloc(alg);
    if (!k || !(k->secret = malloc(len))) {
        free(k);
        return mk_error_set(err, MK_ENOMEM, "out of memory");
    }
    memcpy(k->secret, secret, len);
    k->secret_len = len;
    k->priv = true;
    *out = k;
    return 0;
}

static mk_curve curve_of(mk_jwt_alg a) {
    return a == MK_JWT_ES384 ? MK_P384 : MK_P256;
}

static size_t coord_of(mk_jwt_alg a) {
    return a == MK_JWT_ES384 ? 48 : 32;
}

/* Read the public point back from OpenSSL as raw X||Y. */
static int ec_canonical(mk_jwt_key *k) {
    EVP_PKEY *p = mk_pubkey_evp(k->pub);
    BIGNUM *x = NULL, *y = NULL;
    size_t n = coord_of(k->alg);
    int rc = MK_ECRYPTO;
    if (EVP_PKEY_get_bn_param(p, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
        EVP_PKEY_get_bn_param(p, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1 &&
        BN_bn2binpad(x, k->raw, (int)n) == (int)n &&
        BN_bn2binpad(y, k->raw + n, (int)n) == (int)n) {
        k->raw_len = 2 * n;
        rc = 0;
    }
    BN_free(x);
    BN_free(y);
    return rc;
}

int mk_jwt_key_es_public(mk_jwt_alg alg, const uint8_t *point, size_t len, mk_jwt_key **out,
                         mk_error *err) {
    if (!mk_jwt_alg_is_es(alg))
        return mk_error_set(err, MK_EINVAL, "JWT key: not an ECDSA algorithm");
    mk_jwt_key *k = key_alloc(alg);
    if (!k) return mk_error_set(err, MK_ENOMEM, "out of memory");
    int rc = mk_pubkey_from_ec(curve_of(alg), point, len, &k->pub, err);
    if (rc == 0 && ec_canonical(k) < 0) rc = mk_error_set(err, MK_ECRYPTO, "EC key: no point");
    if (rc < 0) {
        mk_jwt_key_free(k);
        mk_error_prefix(err, rc, "JWT %s key", alg_names[alg]);
        return rc;
    }
    *out = k;
    return 0;
}

int mk_jwt_key_es_public_hex(mk_jwt_alg alg, const char *hex, mk_jwt_key **out, mk_error *err) {
    mk_buf b;
    mk_buf_init(&b, 256);
    int rc = mk_hex_decode(hex, strlen(hex), &b, err);
    if (rc == 0)
        rc = mk_jwt_key_es_public(alg, b.data, b.len, out, err);
    else
        mk_error_prefix(err, rc, "JWT key");
    mk_buf_free(&b);
    return rc;
}

static int es_private_finish(mk_jwt_key *k, mk_jwt_key **out, mk_error *err) {
    uint8_t raw[96];
    size_t n = 0;
    int rc = mk_privkey_public_raw(k->ecpriv, raw, &n);
    if (rc == 0) rc = mk_pubkey_from_ec(curve_of(k->alg), raw, n, &k->pub, err);
    if (rc == 0) rc = ec_canonical(k);
    if (rc < 0) {
        mk_jwt_key_free(k);
        return mk_error_set(err, MK_ECRYPTO, "JWT key: cannot derive the public key");
    }
    k->priv = true;
    *out = k;
    return 0;
}

int mk_jwt_key_es_private(mk_jwt_alg alg, const uint8_t *scalar, size_t len, mk_jwt_key **out,
                          mk_error *err) {
    if (!mk_jwt_alg_is_es(alg))
        return mk_error_set(err, MK_EINVAL, "JWT key: not an ECDSA algorithm");
    if (len != coord_of(alg))
        return mk_error_set(err, MK_EINVAL, "JWT key: %s private key must be %zu bytes, not %zu",
                            alg_names[alg], coord_of(alg), len);
    mk_jwt_key *k = key_alloc(alg);
    if (!k) return mk_error_set(err, MK_ENOMEM, "out of memory");
    int rc = mk_ec_from_scalar(curve_of(alg), scalar, len, &k->ecpriv, err);
    if (rc < 0) {
        mk_jwt_key_free(k);
        mk_error_prefix(err, rc, "JWT key");
        return rc;
    }
    memcpy(k->scalar, scalar, len);
    return es_private_finish(k, out, err);
}

int mk_jwt_key_es_generate(mk_jwt_alg alg, mk_jwt_key **out, mk_error *err) {
    if (!mk_jwt_alg_is_es(alg))
        return mk_error_set(err, MK_EINVAL, "JWT key: not an ECDSA algorithm");
    mk_jwt_key *k = key_alloc(alg);
    if (!k) return mk_error_set(err, MK_ENOMEM, "out of memory");
    BIGNUM *d = NULL;
    int n = (int)coord_of(alg);
    if (mk_ec_generate(curve_of(alg), &k->ecpriv) < 0 ||
        EVP_PKEY_get_bn_param(mk_privkey_evp(k->ecpriv), OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1 ||
        BN_bn2binpad(d, k->scalar, n) != n) {
        BN_clear_free(d);
        mk_jwt_key_free(k);
        return mk_error_set(err, MK_ECRYPTO, "JWT key: EC key generation failed");
    }
    BN_clear_free(d);
    return es_private_finish(k, out, err);
}

int mk_jwt_key_ed25519_public(const uint8_t pk[32], mk_jwt_key **out, mk_error *err) {
    mk_pubkey *check = NULL;
    MK_TRY(mk_pubkey_from_ed25519(pk, &check, err)); /* OpenSSL validates the encoding */
    mk_pubkey_free(check);
    mk_jwt_key *k = key_alloc(MK_JWT_EDDSA);
    if (!k) return mk_error_set(err, MK_ENOMEM, "out of memory");
    memcpy(k->ed.public_key, pk, 32);
    *out = k;
    return 0;
}

int mk_jwt_key_ed25519_private(const uint8_t seed[32], mk_jwt_key **out, mk_error *err) {
    mk_jwt_key *k = key_alloc(MK_JWT_EDDSA);
    if (!k) return mk_error_set(err, MK_ENOMEM, "out of memory");
    if (mk_ed25519_from_secret(seed, &k->ed) < 0) {
        mk_jwt_key_free(k);
        return mk_error_set(err, MK_ECRYPTO, "JWT key: invalid Ed25519 secret");
    }
    k->priv = true;
    *out = k;
    return 0;
}

int mk_jwt_key_from_bytes(mk_jwt_alg alg, bool private_key, const uint8_t *bytes, size_t len,
                          mk_jwt_key **out, mk_error *err) {
    if (mk_jwt_alg_is_hs(alg)) return mk_jwt_key_hs(alg, bytes, len, out, err);
    if (mk_jwt_alg_is_es(alg))
        return private_key ? mk_jwt_key_es_private(alg, bytes, len, out, err)
                           : mk_jwt_key_es_public(alg, bytes, len, out, err);
    if (alg == MK_JWT_EDDSA) {
        if (len != 32)
            return mk_error_set(err, MK_EINVAL, "JWT key: Ed25519 key must be 32 bytes, not %zu",
                                len);
        return private_key ? mk_jwt_key_ed25519_private(bytes, out, err)
                           : mk_jwt_key_ed25519_public(bytes, out, err);
    }
    return mk_error_set(err, MK_EUNSUPPORTED, "JWT key: unknown algorithm");
}

int mk_jwt_key_public(const mk_jwt_key *k, mk_jwt_key **out, mk_error *err) {
    if (mk_jwt_alg_is_hs(k->alg)) return mk_jwt_key_hs(k->alg, k->secret, k->secret_len, out, err);
    if (mk_jwt_alg_is_es(k->alg)) return mk_jwt_key_es_public(k->alg, k->raw, k->raw_len, out, err);
    return mk_jwt_key_ed25519_public(k->ed.public_key, out, err);
}

int mk_jwt_key_copy(const mk_jwt_key *k, mk_jwt_key **out, mk_error *err) {
    if (!k->priv || mk_jwt_alg_is_hs(k->alg)) return mk_jwt_key_public(k, out, err);
    if (mk_jwt_alg_is_es(k->alg))
        return mk_jwt_key_es_private(k->alg, k->scalar, coord_of(k->alg), out, err);
    return mk_jwt_key_ed25519_private(k->ed.secret, out, err);
}

mk_jwt_alg mk_jwt_key_alg(const mk_jwt_key *k) {
    return k->alg;
}

bool mk_jwt_key_can_sign(const mk_jwt_key *k) {
    return k->priv;
}

int mk_jwt_key_public_bytes(const mk_jwt_key *k, uint8_t *out, size_t cap, size_t *len) {
    const uint8_t *src;
    size_t n;
    if (mk_jwt_alg_is_es(k->alg)) {
        src = k->raw;
        n = k->raw_len;
    } else if (k->alg == MK_JWT_EDDSA) {
        src = k->ed.public_key;
        n = 32;
    } else {
        return MK_EINVAL;
    }
    if (cap < n) return MK_ETOOBIG;
    memcpy(out, src, n);
    *len = n;
    return 0;
}

int mk_jwt_key_sign(const mk_jwt_key *k, const void *msg, size_t len, uint8_t *sig, size_t *siglen,
                    mk_error *err) {
    const char *name = alg_names[k->alg];
    if (!k->priv) return mk_error_set(err, MK_EINVAL, "JWT: %s key cannot sign (public)", name);
    int rc;
    if (mk_jwt_alg_is_hs(k->alg)) {
        rc = mk_hmac(mk_jwt_alg_hash(k->alg), k->secret, k->secret_len, msg, len, sig);
        *siglen = mk_jwt_alg_sig_len(k->alg);
    } else if (mk_jwt_alg_is_es(k->alg)) {
        rc = mk_ecdsa_sign_raw(k->ecpriv, mk_jwt_alg_hash(k->alg), msg, len, sig, siglen);
    } else {
        rc = mk_ed25519_sign(&k->ed, msg, len, sig);
        *siglen = 64;
    }
    if (rc < 0) return mk_error_set(err, rc, "JWT: %s signing failed", name);
    return 0;
}

int mk_jwt_key_verify(const mk_jwt_key *k, const void *msg, size_t len, const uint8_t *sig,
                      size_t siglen, mk_error *err) {
    size_t want = mk_jwt_alg_sig_len(k->alg);
    if (siglen != want)
        return mk_error_set(err, MK_EBADSIG, "signature is %zu bytes, %s needs %zu", siglen,
                            alg_names[k->alg], want);
    if (mk_jwt_alg_is_hs(k->alg)) {
        uint8_t mac[MK_SHA512_LEN];
        int rc = mk_hmac(mk_jwt_alg_hash(k->alg), k->secret, k->secret_len, msg, len, mac);
        if (rc < 0) return mk_error_set(err, rc, "HMAC failed");
        bool ok = mk_ct_equal(mac, sig, want);
        mk_wipe(mac, sizeof mac);
        return ok ? 0 : mk_error_set(err, MK_EBADSIG, "signature does not verify");
    }
    if (mk_jwt_alg_is_es(k->alg))
        return mk_ecdsa_verify_raw(k->pub, mk_jwt_alg_hash(k->alg), msg, len, sig, siglen, err);
    int rc = mk_ed25519_verify(k->ed.public_key, msg, len, sig);
    if (rc == MK_EBADSIG) return mk_error_set(err, rc, "signature does not verify");
    if (rc < 0) return mk_error_set(err, rc, "Ed25519 verification failed");
    return 0;
}
