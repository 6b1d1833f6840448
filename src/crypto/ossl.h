/*
 * src/crypto/ossl.h — the OpenSSL-typed side of the crypto layer.
 *
 * include/mosaik/crypto.h keeps OpenSSL out of the public API: its key types
 * are opaque and its formats are bytes. The layers above that hold OpenSSL
 * objects of their own — tee/tdx (X509 chains, the keys in PCK and
 * simulator certificates) and net (TLS contexts, peer certificates) — need
 * the EVP_PKEY inside a key, verification with a borrowed EVP_PKEY, and
 * OpenSSL's error queue as a reason. Those helpers are declared here.
 *
 * A shared internal header (so no `_internal` suffix: that suffix marks a
 * header private to its own layer, see scripts/check_structure.py). Not
 * installed; not part of the public API. Implemented in crypto/crypto.c.
 */
#ifndef MOSAIK_CRYPTO_OSSL_H
#define MOSAIK_CRYPTO_OSSL_H

#include <openssl/evp.h>

#include "mosaik/crypto.h"
#include "mosaik/error.h"

/* Wrap an EVP_PKEY as a public key (a reference is taken). */
int mk_pubkey_from_evp(EVP_PKEY *pkey, mk_pubkey **out);
/* The EVP_PKEY inside a key (borrowed: valid as long as the key). */
EVP_PKEY *mk_pubkey_evp(const mk_pubkey *k);
EVP_PKEY *mk_privkey_evp(const mk_privkey *k);

/* mk_ecdsa_verify_digest_raw with a borrowed EVP_PKEY (an EC key; not
 * freed, no reference taken). */
int mk_ecdsa_verify_digest_evp(EVP_PKEY *pkey, const uint8_t *digest, size_t dlen,
                               const uint8_t *sig, size_t siglen, mk_error *err);

/* Format OpenSSL's error queue into err with a prefix ("what: <first
 * queued error>", or just "what"); clears the queue. Returns code. */
int mk_error_openssl(mk_error *err, int code, const char *what);

#endif
