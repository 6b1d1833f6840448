/*
 * tickets/jwt.c — JWT keys, JWS verification, claim decoding and the JWT
 * ticket validator (issuing is in jwt_issue.c).
 *
 * Keys. A mk_jwt_key is bound to one algorithm when it is made, and holds
 * the material in the form the crypto layer wants: the HMAC secret, an
 * OpenSSL EC public key (plus the private scalar for signing keys), or the
 * raw Ed25519 key. ES public keys are also kept as canonical raw X||Y (read
 * back from OpenSSL, so a compressed input and its uncompressed twin are the
 * same key) for validator signatures.
 *
 * Verification (mk_jws_verify). The token is split with the bounds-checked
 * reader into exactly three segments, each strictly base64url-decoded; the
 * header is parsed with jansson (duplicates refused, depth limited) and its
 * "alg" chooses the keys of *that* algorithm among the configured ones.
 * Because the algorithm belongs to the key and not to the token, the
 * classic confusions cannot happen: "none" has no key, an HS256 header
 * never reaches an EC public key used as an HMAC secret, an ES384 header
 * never reaches a P-256 key. The signature's length must be the
 * algorithm's before any key is tried; HMACs are compared in constant time.
 * The payload is parsed only after the signature verified.
 *
 * Claims (mk_jwt_decode). Registered claims are type-checked: exp/nbf/iat
 * are NumericDates in [0, 253402300799] (fractions truncated down), iss,
 * sub and jti strings, aud a string or an array of strings.
 *
 * Validator. The policy checks, in order: exp (missing refused unless
 * allowed; expired when now >= exp + skew), nbf (now + skew < nbf),
 * iat (iat > now + skew), max_age (requires iat; now > iat + max_age +
 * skew), max_lifetime (exp - iat, or exp - now without iat), iss, aud, sub,
 * required claims. All time arithmetic is on bounded values (dates <
 * 2^38, skew <= 86400, limits <= 2^40) so nothing overflows, whatever `now`
 * the caller gives. The expiration is exp, or iat + max_age when earlier.
 *
 * Validator signature: an mk_id_derive chain starting at the class id over
 * labelled, length-prefixed sections — keys (sorted, de-duplicated entries
 * of alg name + public material; an HMAC secret as HMAC(secret, label)),
 * issuers and audiences (sorted, de-duplicated), the subject rule, the
 * required claims (sorted by name, values as compact JSON with sorted
 * keys), and the numeric options.
 */
#include "mosaik/jwt.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "crypto/ossl.h"
#include "mosaik/bytes.h"
#include "mosaik/clock.h"
#include "mosaik/crypto.h"
#include "mosaik/encoding.h"

#define MAX_DATE INT64_C(253402300799) /* 9999-12-31T23:59:59Z */
#define MAX_SKEW 86400
#define MAX_LIMIT (INT64_C(1) << 40)

void mk_jwt_class(mk_id *out) {
    mk_id_from_name(out, MK_JWT_CLASS_NAME);
}

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

static bool is_hs(mk_jwt_alg a) {
    return a == MK_JWT_HS256 || a == MK_JWT_HS384 || a == MK_JWT_HS512;
}
static bool is_es(mk_jwt_alg a) {
    return a == MK_JWT_ES256 || a == MK_JWT_ES384;
}

static mk_hash_alg hash_of(mk_jwt_alg a) {
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

/* Signature length an algorithm produces. */
static size_t sig_len_of(mk_jwt_alg a) {
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

/* ---- keys ---- */

struct mk_jwt_key {
    mk_jwt_alg alg;
    bool priv;
    uint8_t *secret; /* HS: the secret */
    size_t secret_len;
    mk_pubkey *pub;     /* ES */
    mk_privkey *ecpriv; /* ES signing keys */
    uint8_t scalar[48]; /* ES signing keys: the scalar (for copies) */
    uint8_t raw[96];    /* ES: canonical X||Y */
    size_t raw_len;
    mk_ed25519_key ed; /* EdDSA: public_key always, secret if priv */
};

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
    if (!is_hs(alg))
        return mk_error_set(err, MK_EINVAL, "JWT key: %s is not an HMAC algorithm",
                            mk_jwt_alg_name(alg) ? mk_jwt_alg_name(alg) : "?");
    size_t min = mk_hash_len(hash_of(alg));
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
    if (!is_es(alg)) return mk_error_set(err, MK_EINVAL, "JWT key: not an ECDSA algorithm");
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
    if (!is_es(alg)) return mk_error_set(err, MK_EINVAL, "JWT key: not an ECDSA algorithm");
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
    if (!is_es(alg)) return mk_error_set(err, MK_EINVAL, "JWT key: not an ECDSA algorithm");
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
    if (is_hs(alg)) return mk_jwt_key_hs(alg, bytes, len, out, err);
    if (is_es(alg))
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
    if (is_hs(k->alg)) return mk_jwt_key_hs(k->alg, k->secret, k->secret_len, out, err);
    if (is_es(k->alg)) return mk_jwt_key_es_public(k->alg, k->raw, k->raw_len, out, err);
    return mk_jwt_key_ed25519_public(k->ed.public_key, out, err);
}

int mk_jwt_key_copy(const mk_jwt_key *k, mk_jwt_key **out, mk_error *err) {
    if (!k->priv || is_hs(k->alg)) return mk_jwt_key_public(k, out, err);
    if (is_es(k->alg)) return mk_jwt_key_es_private(k->alg, k->scalar, coord_of(k->alg), out, err);
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
    if (is_es(k->alg)) {
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
    if (is_hs(k->alg)) {
        rc = mk_hmac(hash_of(k->alg), k->secret, k->secret_len, msg, len, sig);
        *siglen = sig_len_of(k->alg);
    } else if (is_es(k->alg)) {
        rc = mk_ecdsa_sign_raw(k->ecpriv, hash_of(k->alg), msg, len, sig, siglen);
    } else {
        rc = mk_ed25519_sign(&k->ed, msg, len, sig);
        *siglen = 64;
    }
    if (rc < 0) return mk_error_set(err, rc, "JWT: %s signing failed", name);
    return 0;
}

int mk_jwt_key_verify(const mk_jwt_key *k, const void *msg, size_t len, const uint8_t *sig,
                      size_t siglen, mk_error *err) {
    size_t want = sig_len_of(k->alg);
    if (siglen != want)
        return mk_error_set(err, MK_EBADSIG, "signature is %zu bytes, %s needs %zu", siglen,
                            alg_names[k->alg], want);
    if (is_hs(k->alg)) {
        uint8_t mac[MK_SHA512_LEN];
        int rc = mk_hmac(hash_of(k->alg), k->secret, k->secret_len, msg, len, mac);
        if (rc < 0) return mk_error_set(err, rc, "HMAC failed");
        bool ok = mk_ct_equal(mac, sig, want);
        mk_wipe(mac, sizeof mac);
        return ok ? 0 : mk_error_set(err, MK_EBADSIG, "signature does not verify");
    }
    if (is_es(k->alg))
        return mk_ecdsa_verify_raw(k->pub, hash_of(k->alg), msg, len, sig, siglen, err);
    int rc = mk_ed25519_verify(k->ed.public_key, msg, len, sig);
    if (rc == MK_EBADSIG) return mk_error_set(err, rc, "signature does not verify");
    if (rc < 0) return mk_error_set(err, rc, "Ed25519 verification failed");
    return 0;
}

/* ---- decoding ---- */

static bool depth_ok(json_t *v, int depth) {
    if (depth > MK_JWT_MAX_JSON_DEPTH) return false;
    const char *k;
    json_t *x;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach(v, k, x) {
            if (!depth_ok(x, depth + 1)) return false;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x) {
            if (!depth_ok(x, depth + 1)) return false;
        }
    }
    return true;
}

/* Parse a JSON object from decoded segment bytes. */
static int parse_object(const char *what, const mk_buf *b, json_t **out, mk_error *err) {
    json_error_t je;
    json_t *j = json_loadb((const char *)b->data, b->len, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return mk_error_set(err, MK_EMALFORMED, "%s: malformed JSON: %s (column %d)", what, je.text,
                            je.column);
    if (!json_is_object(j)) {
        json_decref(j);
        return mk_error_set(err, MK_EMALFORMED, "%s: not a JSON object", what);
    }
    if (!depth_ok(j, 1)) {
        json_decref(j);
        return mk_error_set(err, MK_ETOOBIG, "%s: JSON nested deeper than %d", what,
                            MK_JWT_MAX_JSON_DEPTH);
    }
    *out = j;
    return 0;
}

/* Split into three segments with the reader; views point into token. */
static int split3(const char *token, size_t len, const uint8_t *seg[3], size_t seglen[3],
                  mk_error *err) {
    mk_reader r;
    mk_reader_init(&r, token, len);
    size_t start = 0, n = 0, count = 0;
    size_t dots[2] = {0, 0};
    uint8_t c;
    while (mk_read_u8(&r, &c) == 0) {
        if (c != '.') continue;
        if (count < 2) dots[count] = mk_reader_offset(&r) - 1;
        count++;
    }
    if (count != 2)
        return mk_error_set(
            err, MK_EMALFORMED,
            "not a compact JWS: %zu segments, expected 3 (header.payload.signature)", count + 1);
    mk_reader_init(&r, token, len);
    for (int i = 0; i < 3; i++) {
        n = (i < 2 ? dots[i] : len) - start;
        MK_TRY(mk_read_view(&r, n, &seg[i]));
        seglen[i] = n;
        if (i < 2) MK_TRY(mk_read_skip(&r, 1));
        start += n + 1;
    }
    return 0;
}

static void configured_algs(const mk_jwt_key *const *keys, size_t nkeys, char *out, size_t cap) {
    out[0] = '\0';
    size_t used = 0;
    for (int a = MK_JWT_HS256; a <= MK_JWT_EDDSA; a++) {
        bool have = false;
        for (size_t i = 0; i < nkeys; i++)
            have |= keys[i] && keys[i]->alg == (mk_jwt_alg)a;
        if (!have) continue;
        int w = snprintf(out + used, cap - used, "%s%s", used ? ", " : "", alg_names[a]);
        if (w < 0 || (size_t)w >= cap - used) break;
        used += (size_t)w;
    }
    if (!used) snprintf(out, cap, "none");
}

/* Steps 1-5; on success the payload is appended and, if hdr_out, the parsed
 * header handed over. */
static int jws_core(const char *token, size_t len, const mk_jwt_key *const *keys, size_t nkeys,
                    mk_jwt_alg *alg_out, mk_buf *payload, json_t **hdr_out, mk_error *err) {
    if (len > MK_JWT_MAX_TOKEN)
        return mk_error_set(err, MK_ETOOBIG, "token is %zu bytes, more than the %d allowed", len,
                            MK_JWT_MAX_TOKEN);
    const uint8_t *seg[3];
    size_t seglen[3];
    MK_TRY(split3(token, len, seg, seglen, err));
    static const char *const names[3] = {"header", "payload", "signature"};
    mk_buf dec[3];
    for (int i = 0; i < 3; i++)
        mk_buf_init(&dec[i], MK_JWT_MAX_TOKEN);
    json_t *hdr = NULL;
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        rc = mk_base64url_decode((const char *)seg[i], seglen[i], &dec[i], err);
        if (rc < 0) mk_error_prefix(err, rc, "%s", names[i]);
    }
    if (rc == 0) rc = parse_object("header", &dec[0], &hdr, err);
    if (rc < 0) goto done;

    json_t *a = json_object_get(hdr, "alg");
    if (!json_is_string(a)) {
        rc = mk_error_set(err, MK_EMALFORMED, "header: \"alg\" missing or not a string");
        goto done;
    }
    const char *an = json_string_value(a);
    if (!strcmp(an, "none")) {
        rc = mk_error_set(err, MK_EUNSUPPORTED, "alg \"none\" (unsecured JWS) is never accepted");
        goto done;
    }
    if (json_object_get(hdr, "crit")) {
        rc = mk_error_set(err, MK_EUNSUPPORTED,
                          "header: \"crit\" names extensions this verifier does not understand");
        goto done;
    }
    mk_jwt_alg alg;
    char have[64];
    configured_algs(keys, nkeys, have, sizeof have);
    if (mk_jwt_alg_parse(an, &alg) < 0) {
        rc = mk_error_set(err, MK_EUNSUPPORTED, "alg \"%.32s\" is not supported (configured: %s)",
                          an, have);
        goto done;
    }
    size_t candidates = 0;
    for (size_t i = 0; i < nkeys; i++)
        candidates += keys[i] && keys[i]->alg == alg;
    if (!candidates) {
        rc = mk_error_set(err, MK_EPOLICY,
                          "alg %s not accepted: no %s key configured (configured: %s)", an, an,
                          have);
        goto done;
    }
    if (dec[2].len != sig_len_of(alg)) {
        rc = mk_error_set(err, MK_EBADSIG, "signature is %zu bytes, %s needs %zu", dec[2].len, an,
                          sig_len_of(alg));
        goto done;
    }
    /* Signing input: the ASCII bytes "header.payload". */
    size_t input_len = seglen[0] + 1 + seglen[1];
    bool ok = false;
    for (size_t i = 0; i < nkeys && !ok; i++) {
        if (!keys[i] || keys[i]->alg != alg) continue;
        ok = mk_jwt_key_verify(keys[i], token, input_len, dec[2].data, dec[2].len, NULL) == 0;
    }
    if (!ok) {
        if (candidates == 1)
            rc = mk_error_set(err, MK_EBADSIG,
                              "signature does not verify with the configured %s key", an);
        else
            rc = mk_error_set(err, MK_EBADSIG,
                              "signature does not verify with any of the %zu configured %s keys",
                              candidates, an);
        goto done;
    }
    rc = mk_buf_append(payload, dec[1].data, dec[1].len);
    if (rc < 0) {
        mk_error_set(err, rc, "payload too large");
        goto done;
    }
    if (alg_out) *alg_out = alg;
    if (hdr_out) {
        *hdr_out = hdr;
        hdr = NULL;
    }
done:
    json_decref(hdr);
    for (int i = 0; i < 3; i++)
        mk_buf_free(&dec[i]);
    return rc;
}

int mk_jws_verify(const char *token, size_t len, const mk_jwt_key *const *keys, size_t nkeys,
                  mk_jwt_alg *alg, mk_buf *payload, mk_error *err) {
    return jws_core(token, len, keys, nkeys, alg, payload, NULL, err);
}

static int numeric_date(json_t *claims, const char *name, bool *has, int64_t *out, mk_error *err) {
    json_t *v = json_object_get(claims, name);
    *has = false;
    if (!v) return 0;
    int64_t t;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || i > MAX_DATE)
            return mk_error_set(err, MK_EMALFORMED, "claim \"%s\" out of range", name);
        t = (int64_t)i;
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0 && d <= (double)MAX_DATE))
            return mk_error_set(err, MK_EMALFORMED, "claim \"%s\" out of range", name);
        t = (int64_t)d; /* truncation towards zero = floor for d >= 0 */
    } else {
        return mk_error_set(err, MK_EMALFORMED, "claim \"%s\" is not a NumericDate", name);
    }
    *has = true;
    *out = t;
    return 0;
}

static int string_claim(json_t *claims, const char *name, const char **out, mk_error *err) {
    json_t *v = json_object_get(claims, name);
    *out = NULL;
    if (!v) return 0;
    if (!json_is_string(v))
        return mk_error_set(err, MK_EMALFORMED, "claim \"%s\" is not a string", name);
    *out = json_string_value(v);
    return 0;
}

void mk_jwt_free(mk_jwt *j) {
    if (!j) return;
    json_decref(j->header);
    json_decref(j->claims);
    memset(j, 0, sizeof *j);
}

int mk_jwt_decode(const char *token, size_t len, const mk_jwt_key *const *keys, size_t nkeys,
                  mk_jwt *out, mk_error *err) {
    memset(out, 0, sizeof *out);
    mk_buf payload;
    mk_buf_init(&payload, MK_JWT_MAX_TOKEN);
    int rc = jws_core(token, len, keys, nkeys, &out->alg, &payload, &out->header, err);
    if (rc == 0) rc = parse_object("claims", &payload, &out->claims, err);
    mk_buf_free(&payload);
    json_t *c = out->claims;
    if (rc == 0) rc = numeric_date(c, "exp", &out->has_exp, &out->exp, err);
    if (rc == 0) rc = numeric_date(c, "nbf", &out->has_nbf, &out->nbf, err);
    if (rc == 0) rc = numeric_date(c, "iat", &out->has_iat, &out->iat, err);
    if (rc == 0) rc = string_claim(c, "iss", &out->iss, err);
    if (rc == 0) rc = string_claim(c, "sub", &out->sub, err);
    if (rc == 0) rc = string_claim(c, "jti", &out->jti, err);
    if (rc == 0) {
        json_t *aud = json_object_get(c, "aud");
        if (aud && !json_is_string(aud)) {
            size_t i;
            json_t *x;
            if (!json_is_array(aud))
                rc = mk_error_set(err, MK_EMALFORMED,
                                  "claim \"aud\" is neither a string nor an array");
            else
                json_array_foreach(aud, i, x) {
                    if (!json_is_string(x)) {
                        rc = mk_error_set(err, MK_EMALFORMED,
                                          "claim \"aud\" has a member that is not a string");
                        break;
                    }
                }
        }
    }
    if (rc < 0) mk_jwt_free(out);
    return rc;
}

size_t mk_jwt_audience_count(const mk_jwt *j) {
    json_t *aud = j->claims ? json_object_get(j->claims, "aud") : NULL;
    if (json_is_string(aud)) return 1;
    if (json_is_array(aud)) return json_array_size(aud);
    return 0;
}

const char *mk_jwt_audience(const mk_jwt *j, size_t i) {
    json_t *aud = j->claims ? json_object_get(j->claims, "aud") : NULL;
    if (json_is_string(aud)) return i == 0 ? json_string_value(aud) : NULL;
    return json_string_value(json_array_get(aud, i));
}

/* ---- the validator ---- */

typedef struct req_claim {
    char *name;
    json_t *value;
    char *canon; /* compact JSON with sorted keys */
} req_claim;

typedef struct jwt_validator {
    mk_jwt_key **keys;
    size_t nkeys;
    char **issuers;
    size_t n_issuers;
    char **audiences;
    size_t n_audiences;
    mk_jwt_subject_mode subject_mode;
    char *subject;
    req_claim *claims;
    size_t n_claims;
    bool allow_non_expiring;
    int64_t max_lifetime, max_age, skew;
    mk_id signature;
} jwt_validator;

void mk_jwt_validator_opts_init(mk_jwt_validator_opts *o) {
    memset(o, 0, sizeof *o);
    o->subject_mode = MK_JWT_SUB_PEER;
    o->clock_skew = MK_JWT_DEFAULT_SKEW;
}

static void state_free(jwt_validator *s) {
    if (!s) return;
    for (size_t i = 0; i < s->nkeys; i++)
        mk_jwt_key_free(s->keys[i]);
    free(s->keys);
    for (size_t i = 0; i < s->n_issuers; i++)
        free(s->issuers[i]);
    free(s->issuers);
    for (size_t i = 0; i < s->n_audiences; i++)
        free(s->audiences[i]);
    free(s->audiences);
    free(s->subject);
    for (size_t i = 0; i < s->n_claims; i++) {
        free(s->claims[i].name);
        json_decref(s->claims[i].value);
        free(s->claims[i].canon);
    }
    free(s->claims);
    free(s);
}

static void v_destroy(mk_validator *v) {
    state_free(v->state);
    v->state = NULL;
}

static void v_class(const mk_validator *v, mk_id *out) {
    (void)v;
    mk_jwt_class(out);
}

static void v_signature(const mk_validator *v, mk_id *out) {
    *out = ((const jwt_validator *)v->state)->signature;
}

static void fmt_time(int64_t t, char out[MK_RFC3339_LEN]) {
    mk_time_format_rfc3339(t, out);
}

static bool in_list(char *const *list, size_t n, const char *s) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], s)) return true;
    return false;
}

/* "a", "b", … (truncated) for reasons. */
static void join_list(char *const *list, size_t n, char *out, size_t cap) {
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(out + used, cap - used, "%s\"%.64s\"", i ? ", " : "", list[i]);
        if (w < 0 || (size_t)w >= cap - used) {
            if (cap > 4) memcpy(out + cap - 4, "...", 4);
            return;
        }
        used += (size_t)w;
    }
}

static int check_policy(const jwt_validator *s, const mk_jwt *j, const mk_peer_view *peer,
                        int64_t now, mk_expiration *expires, mk_error *err) {
    char t1[MK_RFC3339_LEN], t2[MK_RFC3339_LEN], list[256];
    int64_t skew = s->skew;
    /* exp */
    if (!j->has_exp) {
        if (!s->allow_non_expiring)
            return mk_error_set(err, MK_EPOLICY,
                                "token has no \"exp\" and non-expiring tokens are not allowed");
        if (s->max_lifetime)
            return mk_error_set(err, MK_EPOLICY,
                                "token has no \"exp\" but a maximum lifetime of %lld s applies",
                                (long long)s->max_lifetime);
    } else if (j->exp + skew <= now) {
        fmt_time(j->exp, t1);
        fmt_time(now, t2);
        return mk_error_set(err, MK_EEXPIRED, "token expired at %s (now %s, skew %lld s)", t1, t2,
                            (long long)skew);
    }
    /* nbf */
    if (j->has_nbf && j->nbf - skew > now) {
        fmt_time(j->nbf, t1);
        fmt_time(now, t2);
        return mk_error_set(err, MK_ENOTYET, "token not valid before %s (now %s, skew %lld s)", t1,
                            t2, (long long)skew);
    }
    /* iat */
    if (j->has_iat && j->iat - skew > now) {
        fmt_time(j->iat, t1);
        fmt_time(now, t2);
        return mk_error_set(err, MK_ENOTYET,
                            "token issued in the future: iat %s (now %s, skew %lld s)", t1, t2,
                            (long long)skew);
    }
    /* max_age */
    if (s->max_age) {
        if (!j->has_iat)
            return mk_error_set(err, MK_EPOLICY,
                                "token has no \"iat\" but a maximum age of %lld s applies",
                                (long long)s->max_age);
        if (now > j->iat + s->max_age + skew) {
            fmt_time(j->iat, t1);
            return mk_error_set(err, MK_EEXPIRED,
                                "token too old: issued at %s, maximum age %lld s (skew %lld s)", t1,
                                (long long)s->max_age, (long long)skew);
        }
    }
    /* max_lifetime (exp is present here when a limit applies) */
    if (s->max_lifetime && j->has_exp) {
        if (j->has_iat) {
            if (j->exp - j->iat > s->max_lifetime)
                return mk_error_set(err, MK_EPOLICY,
                                    "token lifetime exp - iat = %lld s exceeds the maximum %lld s",
                                    (long long)(j->exp - j->iat), (long long)s->max_lifetime);
        } else if (j->exp - s->max_lifetime > now) {
            return mk_error_set(err, MK_EPOLICY,
                                "token lifetime exp - now exceeds the maximum %lld s (no iat)",
                                (long long)s->max_lifetime);
        }
    }
    /* iss */
    if (s->n_issuers) {
        join_list(s->issuers, s->n_issuers, list, sizeof list);
        if (!j->iss)
            return mk_error_set(err, MK_EMISMATCH, "token has no \"iss\"; expected one of %s",
                                list);
        if (!in_list(s->issuers, s->n_issuers, j->iss))
            return mk_error_set(err, MK_EMISMATCH,
                                "issuer \"%.64s\" not accepted (expected one of %s)", j->iss, list);
    }
    /* aud */
    size_t naud = mk_jwt_audience_count(j);
    if (s->n_audiences) {
        join_list(s->audiences, s->n_audiences, list, sizeof list);
        if (!naud)
            return mk_error_set(err, MK_EMISMATCH, "token has no \"aud\"; expected one of %s",
                                list);
        bool ok = false;
        for (size_t i = 0; i < naud && !ok; i++)
            ok = in_list(s->audiences, s->n_audiences, mk_jwt_audience(j, i));
        if (!ok)
            return mk_error_set(err, MK_EMISMATCH,
                                "audience \"%.64s\"%s not accepted (expected one of %s)",
                                mk_jwt_audience(j, 0), naud > 1 ? " (and others)" : "", list);
    } else if (naud) {
        return mk_error_set(err, MK_EMISMATCH,
                            "token is meant for audience \"%.64s\" but this validator accepts no "
                            "audience",
                            mk_jwt_audience(j, 0));
    }
    /* sub */
    if (s->subject_mode == MK_JWT_SUB_PEER) {
        if (!peer) return mk_error_set(err, MK_EINVAL, "no peer to bind the subject to");
        char hex[MK_ID_HEX_LEN];
        mk_id_to_hex(&peer->peer_id, hex);
        if (!j->sub)
            return mk_error_set(err, MK_EMISMATCH, "token has no \"sub\"; expected the peer id %s",
                                hex);
        if (strcmp(j->sub, hex))
            return mk_error_set(err, MK_EMISMATCH,
                                "token subject \"%.64s\" is not this peer (%.8s...): another "
                                "peer's token",
                                j->sub, hex);
    } else if (s->subject_mode == MK_JWT_SUB_FIXED) {
        if (!j->sub)
            return mk_error_set(err, MK_EMISMATCH, "token has no \"sub\"; expected \"%.64s\"",
                                s->subject);
        if (strcmp(j->sub, s->subject))
            return mk_error_set(err, MK_EMISMATCH,
                                "subject \"%.64s\" is not the required \"%.64s\"", j->sub,
                                s->subject);
    }
    /* required claims */
    for (size_t i = 0; i < s->n_claims; i++) {
        const req_claim *rq = &s->claims[i];
        json_t *v = json_object_get(j->claims, rq->name);
        if (!v)
            return mk_error_set(err, MK_EMISMATCH, "required claim \"%.64s\" is missing", rq->name);
        if (!json_equal(v, rq->value)) {
            char *got = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
            int rc = mk_error_set(err, MK_EMISMATCH, "claim \"%.64s\" is %.80s, required %.80s",
                                  rq->name, got ? got : "?", rq->canon);
            free(got);
            return rc;
        }
    }
    mk_expiration e = j->has_exp ? j->exp : MK_EXPIRES_NEVER;
    if (s->max_age && j->iat + s->max_age < e) e = j->iat + s->max_age;
    *expires = e;
    return 0;
}

static int v_validate(const mk_validator *v, const uint8_t *data, size_t len,
                      const mk_peer_view *peer, int64_t now, mk_expiration *expires,
                      mk_error *err) {
    const jwt_validator *s = v->state;
    mk_jwt j;
    MK_TRY(mk_jwt_decode((const char *)data, len, (const mk_jwt_key *const *)s->keys, s->nkeys, &j,
                         err));
    int rc = check_policy(s, &j, peer, now, expires, err);
    mk_jwt_free(&j);
    return rc;
}

static const mk_validator_ops jwt_ops = {
    .name = "jwt",
    .class_id = v_class,
    .signature = v_signature,
    .validate = v_validate,
    .destroy = v_destroy,
};

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Copy, sort and de-duplicate a string list. */
static int copy_list(const char *what, const char *const *in, size_t n, char ***out, size_t *nout,
                     mk_error *err) {
    *out = NULL;
    *nout = 0;
    if (!n) return 0;
    if (!in) return mk_error_set(err, MK_EINVAL, "JWT validator: %s list is NULL", what);
    char **l = calloc(n, sizeof *l);
    if (!l) return mk_error_set(err, MK_ENOMEM, "out of memory");
    *out = l;
    for (size_t i = 0; i < n; i++) {
        if (!in[i]) return mk_error_set(err, MK_EINVAL, "JWT validator: %s %zu is NULL", what, i);
        if (!(l[i] = strdup(in[i]))) return mk_error_set(err, MK_ENOMEM, "out of memory");
        *nout = i + 1;
    }
    qsort(l, n, sizeof *l, cmp_str);
    size_t w = 1;
    for (size_t i = 1; i < n; i++) {
        if (!strcmp(l[i], l[w - 1])) {
            free(l[i]);
            continue;
        }
        l[w++] = l[i];
    }
    *nout = w;
    return 0;
}

static int cmp_claim(const void *a, const void *b) {
    return strcmp(((const req_claim *)a)->name, ((const req_claim *)b)->name);
}

static bool registered(const char *n) {
    static const char *const reg[] = {"iss", "sub", "aud", "exp", "nbf", "iat"};
    for (size_t i = 0; i < sizeof reg / sizeof reg[0]; i++)
        if (!strcmp(n, reg[i])) return true;
    return false;
}

/* Length-prefixed (u64 big-endian) field. */
static int put_lp(mk_buf *b, const void *d, size_t n) {
    MK_TRY(mk_buf_append_u64be(b, n));
    return mk_buf_append(b, d, n);
}

static int put_str(mk_buf *b, const char *s) {
    return put_lp(b, s, strlen(s));
}

/* id = derive(id, lp(label) || content) */
static void chain(mk_id *id, const char *label, const mk_buf *content) {
    mk_buf t;
    mk_buf_init(&t, 0);
    if (put_str(&t, label) == 0 && mk_buf_append(&t, content->data, content->len) == 0) {
        mk_id prev = *id;
        mk_id_derive(id, &prev, t.data, t.len);
    } else {
        memset(id, 0, sizeof *id);
    }
    mk_buf_free(&t);
}

typedef struct key_entry {
    uint8_t b[8 + 8 + 8 + 96];
    size_t len;
} key_entry;

static int cmp_entry(const void *a, const void *b) {
    const key_entry *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->b, y->b, n);
    if (c) return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

static int key_entry_of(const mk_jwt_key *k, key_entry *e) {
    mk_buf b;
    mk_buf_init(&b, sizeof e->b);
    uint8_t mat[96];
    size_t n = 0;
    if (is_hs(k->alg)) {
        static const char label[] = MK_JWT_CLASS_NAME "/hs-key-fingerprint";
        MK_TRY(mk_hmac(MK_SHA256, k->secret, k->secret_len, label, sizeof label - 1, mat));
        n = 32;
    } else {
        MK_TRY(mk_jwt_key_public_bytes(k, mat, sizeof mat, &n));
    }
    int rc = put_str(&b, alg_names[k->alg]);
    if (rc == 0) rc = put_lp(&b, mat, n);
    if (rc == 0) {
        memcpy(e->b, b.data, b.len);
        e->len = b.len;
    }
    mk_buf_free(&b);
    return rc;
}

static int compute_signature(jwt_validator *s) {
    mk_id id;
    mk_jwt_class(&id);
    mk_buf b;
    mk_buf_init(&b, 0);
    int rc = 0;
    mk_buf_append_str(&b, "v1");
    chain(&id, "mosaik.jwt.validator", &b);

    key_entry *ents = calloc(s->nkeys, sizeof *ents);
    if (!ents) return MK_ENOMEM;
    for (size_t i = 0; i < s->nkeys && rc == 0; i++)
        rc = key_entry_of(s->keys[i], &ents[i]);
    if (rc == 0) {
        qsort(ents, s->nkeys, sizeof *ents, cmp_entry);
        mk_buf_reset(&b);
        for (size_t i = 0; i < s->nkeys && rc == 0; i++) {
            if (i && !cmp_entry(&ents[i], &ents[i - 1])) continue;
            rc = put_lp(&b, ents[i].b, ents[i].len);
        }
        chain(&id, "keys", &b);
    }
    mk_wipe(ents, s->nkeys * sizeof *ents);
    free(ents);

    mk_buf_reset(&b);
    for (size_t i = 0; i < s->n_issuers && rc == 0; i++)
        rc = put_str(&b, s->issuers[i]);
    chain(&id, "issuers", &b);
    mk_buf_reset(&b);
    for (size_t i = 0; i < s->n_audiences && rc == 0; i++)
        rc = put_str(&b, s->audiences[i]);
    chain(&id, "audiences", &b);
    mk_buf_reset(&b);
    if (rc == 0) rc = mk_buf_append_u64be(&b, (uint64_t)s->subject_mode);
    if (rc == 0 && s->subject_mode == MK_JWT_SUB_FIXED) rc = put_str(&b, s->subject);
    chain(&id, "subject", &b);
    mk_buf_reset(&b);
    for (size_t i = 0; i < s->n_claims && rc == 0; i++) {
        rc = put_str(&b, s->claims[i].name);
        if (rc == 0) rc = put_str(&b, s->claims[i].canon);
    }
    chain(&id, "claims", &b);
    mk_buf_reset(&b);
    if (rc == 0) rc = mk_buf_append_u64be(&b, s->allow_non_expiring ? 1 : 0);
    if (rc == 0) rc = mk_buf_append_u64be(&b, (uint64_t)s->max_lifetime);
    if (rc == 0) rc = mk_buf_append_u64be(&b, (uint64_t)s->max_age);
    if (rc == 0) rc = mk_buf_append_u64be(&b, (uint64_t)s->skew);
    chain(&id, "limits", &b);
    mk_buf_free(&b);
    s->signature = id;
    return rc;
}

static int build_state(jwt_validator *s, const mk_jwt_validator_opts *o,
                       const mk_jwt_key *const *keys, size_t nkeys, mk_error *err) {
    if (!keys || !nkeys) return mk_error_set(err, MK_EINVAL, "JWT validator: no key configured");
    if (o->clock_skew < 0 || o->clock_skew > MAX_SKEW)
        return mk_error_set(err, MK_EINVAL, "JWT validator: clock skew must be 0..%d s", MAX_SKEW);
    if (o->max_lifetime < 0 || o->max_lifetime > MAX_LIMIT || o->max_age < 0 ||
        o->max_age > MAX_LIMIT)
        return mk_error_set(err, MK_EINVAL, "JWT validator: lifetime/age limit out of range");
    s->keys = calloc(nkeys, sizeof *s->keys);
    if (!s->keys) return mk_error_set(err, MK_ENOMEM, "out of memory");
    for (size_t i = 0; i < nkeys; i++) {
        if (!keys[i]) return mk_error_set(err, MK_EINVAL, "JWT validator: key %zu is NULL", i);
        MK_TRY(mk_jwt_key_public(keys[i], &s->keys[i], err));
        s->nkeys = i + 1;
    }
    MK_TRY(copy_list("issuer", o->issuers, o->n_issuers, &s->issuers, &s->n_issuers, err));
    MK_TRY(
        copy_list("audience", o->audiences, o->n_audiences, &s->audiences, &s->n_audiences, err));
    switch (o->subject_mode) {
    case MK_JWT_SUB_PEER:
    case MK_JWT_SUB_ANY:
        break;
    case MK_JWT_SUB_FIXED:
        if (!o->subject)
            return mk_error_set(err, MK_EINVAL,
                                "JWT validator: fixed subject mode needs a subject");
        if (!(s->subject = strdup(o->subject)))
            return mk_error_set(err, MK_ENOMEM, "out of memory");
        break;
    default:
        return mk_error_set(err, MK_EINVAL, "JWT validator: unknown subject mode");
    }
    s->subject_mode = o->subject_mode;
    if (o->n_claims) {
        if (!o->claims) return mk_error_set(err, MK_EINVAL, "JWT validator: claims list is NULL");
        s->claims = calloc(o->n_claims, sizeof *s->claims);
        if (!s->claims) return mk_error_set(err, MK_ENOMEM, "out of memory");
        for (size_t i = 0; i < o->n_claims; i++) {
            const mk_jwt_claim *c = &o->claims[i];
            if (!c->name || !c->json)
                return mk_error_set(err, MK_EINVAL, "JWT validator: claim %zu incomplete", i);
            if (registered(c->name))
                return mk_error_set(err, MK_EINVAL,
                                    "JWT validator: \"%s\" is a registered claim; use its option",
                                    c->name);
            req_claim *r = &s->claims[i];
            s->n_claims = i + 1;
            json_error_t je;
            r->value = json_loads(c->json, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
            if (!r->value)
                return mk_error_set(err, MK_EINVAL,
                                    "JWT validator: required claim \"%s\": invalid JSON: %s",
                                    c->name, je.text);
            r->name = strdup(c->name);
            r->canon = json_dumps(r->value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
            if (!r->name || !r->canon) return mk_error_set(err, MK_ENOMEM, "out of memory");
        }
        qsort(s->claims, s->n_claims, sizeof *s->claims, cmp_claim);
        for (size_t i = 1; i < s->n_claims; i++)
            if (!strcmp(s->claims[i].name, s->claims[i - 1].name))
                return mk_error_set(err, MK_EINVAL, "JWT validator: claim \"%s\" required twice",
                                    s->claims[i].name);
    }
    s->allow_non_expiring = o->allow_non_expiring;
    s->max_lifetime = o->max_lifetime;
    s->max_age = o->max_age;
    s->skew = o->clock_skew;
    int rc = compute_signature(s);
    if (rc < 0) return mk_error_set(err, rc, "JWT validator: cannot compute signature");
    return 0;
}

mk_validator *mk_jwt_validator_new(const mk_jwt_validator_opts *opts, const mk_jwt_key *const *keys,
                                   size_t nkeys, mk_error *err) {
    mk_jwt_validator_opts defaults;
    if (!opts) {
        mk_jwt_validator_opts_init(&defaults);
        opts = &defaults;
    }
    jwt_validator *s = calloc(1, sizeof *s);
    if (!s) {
        mk_error_set(err, MK_ENOMEM, "out of memory");
        return NULL;
    }
    if (build_state(s, opts, keys, nkeys, err) < 0) {
        state_free(s);
        return NULL;
    }
    mk_validator *v = mk_validator_new(&jwt_ops, s);
    if (!v) {
        state_free(s);
        mk_error_set(err, MK_ENOMEM, "out of memory");
    }
    return v;
}

mk_validator *mk_validator_factory_jwt(const void *arg, mk_error *err) {
    const mk_jwt_factory_arg *a = arg;
    if (!a || !a->keys || a->n_keys == 0) {
        mk_error_set(err, MK_EINVAL, "jwt factory: no keys");
        return NULL;
    }
    return mk_jwt_validator_new(a->opts, a->keys, a->n_keys, err);
}
