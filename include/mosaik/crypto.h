/*
 * mosaik/crypto.h — thin wrappers over OpenSSL 3.
 *
 * Nothing here implements a primitive: hashing, HMAC, ECDSA, Ed25519 and
 * randomness are OpenSSL's. The wrappers fix the formats this project uses
 * (raw r||s ECDSA signatures, raw 32-byte Ed25519 keys) and turn OpenSSL's
 * failures into mk_error reasons.
 *
 * The key types are opaque here. The OpenSSL-typed side (the EVP_PKEY
 * inside a key, verification with a borrowed EVP_PKEY, OpenSSL's error
 * queue as a reason) is internal to the library: src/crypto/ossl.h.
 */
#ifndef MOSAIK_CRYPTO_H
#define MOSAIK_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mosaik/error.h"
#include "mosaik/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MK_SHA256_LEN 32
#define MK_SHA384_LEN 48
#define MK_SHA512_LEN 64

typedef enum mk_hash_alg { MK_SHA256 = 1, MK_SHA384 = 2, MK_SHA512 = 3 } mk_hash_alg;

MK_EXTERN size_t mk_hash_len(mk_hash_alg alg);
MK_EXTERN int mk_hash(mk_hash_alg alg, const void *data, size_t len, uint8_t *out);
MK_EXTERN void mk_sha256(const void *data, size_t len, uint8_t out[MK_SHA256_LEN]);
MK_EXTERN void mk_sha384(const void *data, size_t len, uint8_t out[MK_SHA384_LEN]);
MK_EXTERN void mk_sha512(const void *data, size_t len, uint8_t out[MK_SHA512_LEN]);

/* Incremental hashing. */
typedef struct mk_hash_ctx mk_hash_ctx;
/* 0, or MK_EINVAL (unknown alg), MK_ENOMEM, MK_ECRYPTO; *out is NULL on failure. */
MK_EXTERN int mk_hash_new(mk_hash_alg alg, mk_hash_ctx **out);
MK_EXTERN int mk_hash_update(mk_hash_ctx *c, const void *data, size_t len);
/* Finish into out (mk_hash_len bytes); the context may be reused after. */
MK_EXTERN int mk_hash_final(mk_hash_ctx *c, uint8_t *out);
MK_EXTERN void mk_hash_free(mk_hash_ctx *c);

/* HMAC; out must hold mk_hash_len(alg) bytes. */
MK_EXTERN int mk_hmac(mk_hash_alg alg, const void *key, size_t klen, const void *data, size_t len,
                      uint8_t *out);

/* ECDSA public keys (P-256, P-384). */
typedef enum mk_curve { MK_P256 = 1, MK_P384 = 2 } mk_curve;
typedef struct mk_pubkey mk_pubkey; /* opaque, wraps EVP_PKEY */

/* From SEC1 (0x04||X||Y uncompressed, or 0x02/0x03||X compressed) or the raw
 * X||Y form (64 bytes for P-256, 96 for P-384) quotes use. */
MK_EXTERN int mk_pubkey_from_ec(mk_curve curve, const uint8_t *point, size_t len, mk_pubkey **out,
                                mk_error *err);
/* Raw 32-byte Ed25519 public key. */
MK_EXTERN int mk_pubkey_from_ed25519(const uint8_t pk[32], mk_pubkey **out, mk_error *err);
MK_EXTERN void mk_pubkey_free(mk_pubkey *k);

/* Verify an ECDSA signature in raw r||s form (64 bytes P-256, 96 P-384)
 * over msg hashed with alg. MK_EBADSIG if it does not verify. */
MK_EXTERN int mk_ecdsa_verify_raw(const mk_pubkey *key, mk_hash_alg alg, const void *msg,
                                  size_t len, const uint8_t *sig, size_t siglen, mk_error *err);
/* Same over a precomputed digest, whose length must be the curve's
 * coordinate size (32 bytes for P-256, 48 for P-384). */
MK_EXTERN int mk_ecdsa_verify_digest_raw(const mk_pubkey *key, const uint8_t *digest, size_t dlen,
                                         const uint8_t *sig, size_t siglen, mk_error *err);
/* Convert between DER ECDSA-Sig-Value and raw r||s (each half n bytes). */
MK_EXTERN int mk_ecdsa_sig_der_to_raw(const uint8_t *der, size_t dlen, size_t n, uint8_t *raw);
MK_EXTERN int mk_ecdsa_sig_raw_to_der(const uint8_t *raw, size_t n, uint8_t **der, size_t *dlen);

/* ECDSA private keys (for issuing JWTs, and the TDX simulator). */
typedef struct mk_privkey mk_privkey;
MK_EXTERN int mk_ec_generate(mk_curve curve, mk_privkey **out);
/* Raw big-endian scalar (32 or 48 bytes). */
MK_EXTERN int mk_ec_from_scalar(mk_curve curve, const uint8_t *d, size_t len, mk_privkey **out,
                                mk_error *err);
MK_EXTERN int mk_ecdsa_sign_raw(const mk_privkey *key, mk_hash_alg alg, const void *msg, size_t len,
                                uint8_t *sig, size_t *siglen);
/* Public point as raw X||Y (no 0x04 prefix); out must hold 2*coord bytes. */
MK_EXTERN int mk_privkey_public_raw(const mk_privkey *key, uint8_t *out, size_t *len);
MK_EXTERN int mk_privkey_public(const mk_privkey *key, mk_pubkey **out);
MK_EXTERN void mk_privkey_free(mk_privkey *k);

/* Ed25519 with raw 32-byte keys. The secret is the 32-byte seed. */
typedef struct mk_ed25519_key {
    uint8_t secret[32];
    uint8_t public_key[32];
} mk_ed25519_key;

MK_EXTERN int mk_ed25519_generate(mk_ed25519_key *out);
MK_EXTERN int mk_ed25519_from_secret(const uint8_t secret[32], mk_ed25519_key *out);
MK_EXTERN int mk_ed25519_sign(const mk_ed25519_key *key, const void *msg, size_t len,
                              uint8_t sig[64]);
MK_EXTERN int mk_ed25519_verify(const uint8_t pk[32], const void *msg, size_t len,
                                const uint8_t sig[64]);
MK_EXTERN void mk_ed25519_wipe(mk_ed25519_key *key);

MK_EXTERN int mk_random_bytes(void *out, size_t n);
/* Uniform in [0, bound). */
MK_EXTERN uint64_t mk_random_below(uint64_t bound);
MK_EXTERN bool mk_ct_equal(const void *a, const void *b, size_t n);
MK_EXTERN void mk_wipe(void *p, size_t n);

#ifdef __cplusplus
}
#endif
#endif
